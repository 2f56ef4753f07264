#!/usr/bin/env bash
# Project copy of shared/services (adapted): not used by the tests yet; kept
# here so a clone has it without ../shared. Loopback (127.0.0.1) only.
# pg-down.sh [DATADIR] - stop the cluster started by pg-up.sh.
#   Same PGPORT / PGDATA defaults as pg-up.sh. Sends the postmaster SIGINT
#   (PostgreSQL's "fast" shutdown), so it works for any server version.
#   PG_WIPE=1 also deletes the data directory (it is a throwaway cluster).
set -euo pipefail

PGPORT="${PGPORT:-5432}"
PGDATA="${1:-${PGDATA:-${TMPDIR:-/tmp}/streamhouse-pg-${PGPORT}}}"

if [ -f "$PGDATA/postmaster.pid" ]; then
  pid="$(head -1 "$PGDATA/postmaster.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "pg-down: postmaster $pid still running after 30s" >&2; exit 1
    fi
    echo "pg-down: stopped postmaster $pid ($PGDATA)" >&2
  else
    echo "pg-down: stale postmaster.pid in $PGDATA (pid $pid not running)" >&2
  fi
else
  echo "pg-down: no running cluster in $PGDATA" >&2
fi

if [ "${PG_WIPE:-0}" = 1 ]; then
  rm -rf "$PGDATA" "$PGDATA.initdb.log"
  echo "pg-down: removed $PGDATA" >&2
fi
