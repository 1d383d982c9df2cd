#!/usr/bin/env bash
# Brings up what gpubill needs (Postgres, the broker) and prints the environment to use:
#   eval "$(scripts/up.sh)"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$ROOT/scripts/deps.sh"
database_url="$("$ROOT/scripts/postgres.sh" up)"
brokers="$("$ROOT/scripts/broker.sh" up)"
case "$database_url" in
  postgres://* | postgresql://*) ;;
  *) die "scripts/postgres.sh printed '$database_url' where a postgres:// URL was expected" ;;
esac
printf 'export DATABASE_URL=%q\nexport KAFKA_BROKERS=%q\n' "$database_url" "$brokers"
