#!/usr/bin/env bash
# The quota-check benchmark: brings up Postgres and the broker if needed, builds gpubill
# (release), starts `gpubill api` on its own port on a scratch database (dropped at the end), loads
# `POST /v1/quota/check` with wrk (installed from Debian if missing) for DURATION seconds with
# CONNECTIONS connections. Quota checks are answered from memory, so Postgres is idle meanwhile.
#   scripts/bench-quota.sh [DURATION=20] [CONNECTIONS=64]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

duration="${1:-20}"
connections="${2:-64}"
port="${GPUBILL_BENCH_QUOTA_PORT:-18080}"
apt_install wrk curl
eval "$("$ROOT/scripts/up.sh")"
log "building gpubill (release; the first build takes a few minutes)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin gpubill
cd "$ROOT"

scratch="gpubill_bench_quota_$$"
script="$RUN_DIR/quota-check-$$.lua"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $scratch" >/dev/null
export GPUBILL_DATABASE_URL="${DATABASE_URL%/*}/$scratch"
trap 'kill "${api_pid:-}" 2>/dev/null; wait "${api_pid:-}" 2>/dev/null || true; rm -f "$script";
      psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" >/dev/null' EXIT
# The key exists only in the scratch database and this run's wrk script, both removed at the end.
key="$("$ROOT/target/release/gpubill" keys create --role tenant --tenant mistral-lab --label bench-quota --quiet 2>/dev/null)"
GPUBILL_HTTP_BIND="127.0.0.1:$port" "$ROOT/target/release/gpubill" api >"$RUN_DIR/bench-quota-api.log" 2>&1 &
api_pid=$!
wait_for_port 127.0.0.1 "$port" 60 "gpubill api"

body='{"tenant": "mistral-lab", "sku": "H100-SXM5-80GB", "gpus": 8, "class": "on_demand", "max_duration_seconds": 86400}'
(umask 077 && cat >"$script" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
wrk.body = '$body'
LUA
)
log "sample answer: $(curl -s -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $key" \
  --data "$body" "http://127.0.0.1:$port/v1/quota/check" || true)"
log "wrk: ${duration}s, ${connections} connections, 2 threads, on this machine's $(nproc) cores"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$script" \
  "http://127.0.0.1:$port/v1/quota/check"
