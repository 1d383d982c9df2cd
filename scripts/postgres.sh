#!/usr/bin/env bash
# Makes a Postgres server available and prints the DATABASE_URL to use.
#   scripts/postgres.sh up     start (install if absent) the local server, create role and database
#   scripts/postgres.sh down   stop the local server if this script started it
# With DATABASE_URL set, that server is used as it is and nothing is started.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_ROLE=gpubill
PG_PASSWORD=gpubill
PG_DB=gpubill
MARKER="$RUN_DIR/postgres.started"

as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$*"; else sudo -u postgres sh -c "$*"; fi; }

cluster_version() { pg_lsclusters --no-header 2>/dev/null | awk '$2=="main"{print $1; exit}'; }

up() {
  if [ -n "${DATABASE_URL:-}" ]; then
    echo "$DATABASE_URL"
    return
  fi
  # Only the URL goes to stdout, which callers capture: what the tools print (apt, and
  # pg_ctlcluster's "Removed stale pid file." after an unclean stop) goes to stderr.
  command -v pg_ctlcluster >/dev/null || apt_install postgresql >&2
  local version
  version="$(cluster_version)"
  if [ -z "$version" ]; then
    version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
    log "creating Postgres $version cluster 'main'"
    as_postgres "pg_createcluster $version main" >/dev/null
  fi
  if ! pg_lsclusters --no-header | awk -v v="$version" '$1==v && $2=="main"{print $4}' | grep -q online; then
    log "starting Postgres $version"
    pg_ctlcluster "$version" main start >&2
    touch "$MARKER"
  fi
  wait_for_port 127.0.0.1 5432 30 "Postgres"
  as_postgres "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='$PG_ROLE'\"" | grep -q 1 \
    || as_postgres "psql -qc \"CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD'\""
  as_postgres "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='$PG_DB'\"" | grep -q 1 \
    || as_postgres "createdb -O $PG_ROLE $PG_DB"
  echo "postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:5432/$PG_DB"
}

down() {
  [ -f "$MARKER" ] || return 0
  local version
  version="$(cluster_version)"
  [ -n "$version" ] && pg_ctlcluster "$version" main stop || true
  rm -f "$MARKER"
  log "stopped Postgres"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
