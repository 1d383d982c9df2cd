#!/usr/bin/env bash
# Stops what the gpubill scripts started: the broker, and Postgres if a script started it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$ROOT/scripts/broker.sh" down
"$ROOT/scripts/postgres.sh" down
