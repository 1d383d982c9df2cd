#!/usr/bin/env bash
# Installs what building gpubill needs on a Debian machine: a C toolchain for librdkafka,
# libpq for diesel. The Rust toolchain itself (cargo, stable) must already be on PATH.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

command -v cargo >/dev/null || die "cargo not found: install the stable Rust toolchain (rustup) first"
apt_install build-essential pkg-config libpq-dev libssl-dev python3
