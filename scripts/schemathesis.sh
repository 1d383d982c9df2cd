#!/usr/bin/env bash
# Fuzzes the API with schemathesis (installed from PyPI into .tools/, once) against its own
# OpenAPI document, served by a `gpubill api` started on a scratch database (dropped at the end):
# every operation, once with an admin key and once with a tenant key (key revocation apart, last,
# so the fuzzer cannot revoke the keys it runs with). Fails on any 5xx, on any answer the document
# does not describe, and on a 401 (a key that stopped working leaves operations untested).
#   scripts/schemathesis.sh [MAX_EXAMPLES=40]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

max_examples="${1:-40}"
venv="$TOOLS_DIR/schemathesis"
version="4.32.5"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  log "installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version" >&2
fi

eval "$("$ROOT/scripts/up.sh")"
cd "$ROOT"
cargo build --quiet --bin gpubill
bin="$ROOT/target/debug/gpubill"
port="${GPUBILL_SCHEMATHESIS_PORT:-18095}"
scratch="gpubill_schemathesis_$$"
reports="$RUN_DIR/schemathesis"
mkdir -p "$reports"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $scratch" >/dev/null
export GPUBILL_DATABASE_URL="${DATABASE_URL%/*}/$scratch"
trap 'kill "${api_pid:-}" 2>/dev/null; wait "${api_pid:-}" 2>/dev/null || true;
      psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" >/dev/null' EXIT
admin="$("$bin" keys create --role admin --label schemathesis --quiet 2>/dev/null)"
tenant="$("$bin" keys create --role tenant --tenant mistral-lab --label schemathesis --quiet 2>/dev/null)"
GPUBILL_HTTP_BIND="127.0.0.1:$port" GPUBILL_LOG=warn "$bin" api >"$RUN_DIR/schemathesis-api.log" 2>&1 &
api_pid=$!
wait_for_port 127.0.0.1 "$port" 60 "gpubill api"

# Revoking a key is fuzzed apart, last: in a run with the other operations the fuzzer finds the
# ids of its own keys (GET /v1/api-keys) and revokes them, and every later case answers 401.
status=0
fuzz() {
  local who="$1" name="$2"; shift 2
  local key="${!who}"
  log "schemathesis as $who ($name): up to $max_examples cases per operation"
  local started=$SECONDS
  "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$max_examples" --seed 20261204 --workers 2 \
    --report junit --report-junit-path "$reports/$name.xml" "$@" \
    >"$reports/$name.log" 2>&1 || status=1
  tail -n 25 "$reports/$name.log" >&2
  # A key that stopped working (revoked) would leave operations untested: 401 is a failure
  # here (403 is the tenant's expected answer on finance and admin routes).
  if grep -q "401 Unauthorized (" "$reports/$name.log"; then
    log "schemathesis as $who ($name): some operations answered only 401"
    status=1
  fi
  log "schemathesis as $who ($name): $((SECONDS - started)) s"
}
fuzz admin admin --exclude-operation-id key_revoke
fuzz tenant tenant --exclude-operation-id key_revoke
fuzz admin admin-revoke --include-operation-id key_revoke
if grep -q " 5[0-9][0-9] " "$RUN_DIR/schemathesis-api.log" 2>/dev/null; then
  log "the API logged a 5xx"
fi
exit "$status"
