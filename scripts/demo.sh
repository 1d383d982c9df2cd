#!/usr/bin/env bash
# The main job: brings up Postgres and the broker if needed, builds gpubill, and runs the demo
# (agent + aggregator + API on the demo cluster), which prints every tenant's draft invoice.
# Extra arguments go to `gpubill demo` (e.g. --exit, --hours 48, --speed 3600).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

eval "$("$ROOT/scripts/up.sh")"
log "building gpubill (first build takes a few minutes)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin gpubill
cd "$ROOT"
exec "$ROOT/target/release/gpubill" demo "$@"
