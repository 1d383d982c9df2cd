#!/usr/bin/env bash
# The throughput benchmark: brings up Postgres and the broker if needed, builds gpubill (release),
# and runs `gpubill bench`: fills fresh topics with 1,000,000 usage events, then measures (a) a bare
# consumer reading them and (b) the aggregator writing them to an empty ledger, and prints both
# rates and the ratio b/a (target >= 0.8), with a JSON summary as the last line.
# Extra arguments go to `gpubill bench` (e.g. --events 200000, --keep). The broker's storage engine
# is the one scripts/broker.sh starts (TANSU_STORAGE; sqlite by default, memory://tansu/ for
# in-memory topics on a broker of its own, e.g. with TANSU_PORT=9094).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_BROKERS_GIVEN="${KAFKA_BROKERS:-}"
broker_was_running=no
port_open 127.0.0.1 "${TANSU_PORT:-9092}" && broker_was_running=yes
eval "$("$ROOT/scripts/up.sh")"
log "building gpubill (release; the first build takes a few minutes)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin gpubill
cd "$ROOT"
# Record the broker's storage engine in the summary, unless the caller labels the run.
label=()
case " $* " in
  *" --label"*) ;;
  *) if [ -n "${KAFKA_BROKERS_GIVEN:-}" ]; then label=(--label "KAFKA_BROKERS=$KAFKA_BROKERS")
     elif [ "$broker_was_running" = yes ]; then label=(--label "running broker on $KAFKA_BROKERS")
     else label=(--label "tansu ${TANSU_STORAGE:-sqlite://tansu.db}"); fi ;;
esac
exec "$ROOT/target/release/gpubill" bench "${label[@]}" "$@"
