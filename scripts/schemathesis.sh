#!/usr/bin/env bash
# Fuzzes the API with schemathesis (installed from PyPI into .tools/, once) against its own
# OpenAPI document, served by a `gpubill api` started on a scratch database (dropped at the end):
# every operation, once with an admin key and once with a tenant key. Fails on any 5xx, on any
# answer the document does not describe, and on an operation left unexercised.
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

status=0
for who in admin tenant; do
  key="${!who}"
  log "schemathesis as $who: every operation, up to $max_examples cases each"
  started=$SECONDS
  "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$max_examples" --seed 20261204 --workers 2 \
    --report junit --report-junit-path "$reports/$who.xml" \
    >"$reports/$who.log" 2>&1 || status=1
  tail -n 25 "$reports/$who.log" >&2
  log "schemathesis as $who: $((SECONDS - started)) s"
done
if grep -q " 5[0-9][0-9] " "$RUN_DIR/schemathesis-api.log" 2>/dev/null; then
  log "the API logged a 5xx"
fi
exit "$status"
