#!/usr/bin/env bash
# Deletes the demo's data, both halves together: the broker's stored topics (.run/tansu.db) and the
# ledger database. Offsets stored in the ledger refer to the broker's logs, so one never goes
# without the other. The agent's spool (.run/agent-spool, events not yet acknowledged by that
# broker) goes with them. Refuses to touch a DATABASE_URL or KAFKA_BROKERS given from outside.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ -z "${DATABASE_URL:-}" ] || die "DATABASE_URL is set: reset only deletes the local demo data"
[ -z "${KAFKA_BROKERS:-}" ] || die "KAFKA_BROKERS is set: reset only deletes the local demo data"

"$ROOT/scripts/broker.sh" down
rm -f "$RUN_DIR"/tansu.db "$RUN_DIR"/tansu.db-shm "$RUN_DIR"/tansu.db-wal
rm -rf "$RUN_DIR/agent-spool"
"$ROOT/scripts/postgres.sh" up >/dev/null
if [ "$(id -u)" -eq 0 ]; then
  su postgres -c "dropdb --if-exists --force gpubill"
else
  sudo -u postgres dropdb --if-exists --force gpubill
fi
log "deleted the broker's topics, the agent's spool and the gpubill database; the next \`make demo\` starts from nothing"
