#!/usr/bin/env bash
# The main job: brings up Postgres and the broker if needed, builds gpubill, and runs the demo
# (scheduler, agents following it, aggregator and API on the demo cluster), which prints every
# tenant's draft invoice and the reconciliation. Extra arguments go to `gpubill demo` (e.g. --exit,
# --seconds 120).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

eval "$("$ROOT/scripts/up.sh")"
log "building gpubill (first build takes a few minutes)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin gpubill
cd "$ROOT"
exec "$ROOT/target/release/gpubill" demo "$@"
