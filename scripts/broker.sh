#!/usr/bin/env bash
# Makes a Kafka-protocol broker available and prints the bootstrap address to use.
#   scripts/broker.sh up     start Tansu on 127.0.0.1:9092 (install it if needed)
#   scripts/broker.sh down   stop the broker this script started
#   scripts/broker.sh bin    print the path of the Tansu binary (install it if needed); the broker
#                            outage test starts a broker of its own from it (TANSU_BIN)
# With KAFKA_BROKERS set, that cluster is used as it is and nothing is started.
# TANSU_STORAGE picks the storage engine. The default, sqlite://tansu.db (a path relative to .run/),
# keeps topics across broker restarts, as the offsets stored in the ledger expect; the tests use
# memory://tansu/, faster, with topics of their own that need not outlive the run.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TANSU_VERSION=0.6.0
PID_FILE="$RUN_DIR/tansu.pid"
HOST=127.0.0.1
PORT="${TANSU_PORT:-9092}"

find_tansu() {
  if [ -n "${TANSU_BIN:-}" ]; then
    [ -x "$TANSU_BIN" ] || die "TANSU_BIN=$TANSU_BIN is not executable"
    echo "$TANSU_BIN"; return
  fi
  local shared="$ROOT/../shared/tools/tansu-$TANSU_VERSION/tansu"
  if command -v tansu >/dev/null; then command -v tansu; return; fi
  if [ -x "$TOOLS_DIR/bin/tansu" ]; then echo "$TOOLS_DIR/bin/tansu"; return; fi
  if [ -x "$shared" ]; then echo "$shared"; return; fi
  log "building Tansu $TANSU_VERSION from crates.io (about 20 minutes the first time)"
  cargo install tansu --version "$TANSU_VERSION" --locked --no-default-features \
    --features dynostore,libsql --root "$TOOLS_DIR" >&2
  echo "$TOOLS_DIR/bin/tansu"
}

up() {
  if [ -n "${KAFKA_BROKERS:-}" ]; then
    echo "$KAFKA_BROKERS"
    return
  fi
  if port_open "$HOST" "$PORT"; then
    echo "$HOST:$PORT"
    return
  fi
  local bin
  bin="$(tansu_path)"
  log "starting Tansu broker on $HOST:$PORT ($bin)"
  # setsid: the broker outlives this script and is stopped by `down`, not by the shell's job control.
  # Tansu resolves sqlite paths against its working directory.
  (cd "$RUN_DIR" && exec setsid "$bin" broker \
    --listener-url "tcp://$HOST:$PORT" \
    --advertised-listener-url "tcp://$HOST:$PORT" \
    --storage-engine "${TANSU_STORAGE:-sqlite://tansu.db}" \
    >"$RUN_DIR/tansu.log" 2>&1 < /dev/null) &
  echo $! >"$PID_FILE"
  wait_for_port "$HOST" "$PORT" 30 "Tansu"
  echo "$HOST:$PORT"
}

down() {
  [ -f "$PID_FILE" ] || return 0
  # The recorded pid is the broker's, unless setsid had to fork (when started as a process group
  # leader, e.g. under `timeout`): then find the broker by its command line.
  local pids
  pids="$(cat "$PID_FILE") $(pgrep -f "broker --listener-url tcp://$HOST:$PORT" || true)"
  local stopped=no
  for pid in $pids; do
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      stopped=yes
    fi
  done
  [ "$stopped" = yes ] && log "stopped Tansu broker"
  rm -f "$PID_FILE"
}

tansu_path() {
  local bin
  bin="$(find_tansu)"
  echo "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  bin) tansu_path ;;
  *) die "usage: $0 up|down|bin" ;;
esac
