#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit, property and integration tests against a
# real Postgres and a real Kafka-protocol broker, both brought up if needed. A broker this script
# started is stopped at the end, so no process is left behind.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

started_broker=""
cleanup() { [ -n "$started_broker" ] && "$ROOT/scripts/broker.sh" down; }
trap cleanup EXIT

[ -f "$RUN_DIR/tansu.pid" ] || started_broker=yes
eval "$("$ROOT/scripts/up.sh")"
[ -n "${started_broker}" ] && [ ! -f "$RUN_DIR/tansu.pid" ] && started_broker=""

cd "$ROOT"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo test (DATABASE_URL=${DATABASE_URL%%@*}@..., KAFKA_BROKERS=$KAFKA_BROKERS)"
cargo test --workspace --no-fail-fast
