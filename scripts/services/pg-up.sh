#!/usr/bin/env bash
# Project copy of shared/services (adapted): not used by the tests yet; kept
# here so a clone has it without ../shared. Loopback (127.0.0.1) only.
# pg-up.sh [DATADIR] - start a throwaway PostgreSQL cluster on loopback.
#
#   PGPORT   port to listen on (default 5432), address is always 127.0.0.1
#   PGDATA   data directory (default: $TMPDIR/streamhouse-pg-$PGPORT); an
#            argument overrides it. initdb runs only if the dir is empty.
#   PGUSER   superuser name created by initdb (default postgres)
#   PGDB     extra database created on first start (default streamhouse)
#   PG_OPTS  extra "-c name=value" server options, e.g. "-c fsync=off"
#   PG_BINDIR server binaries to use (default: the newest Debian one under
#            /usr/lib/postgresql).
#            A cluster is always restarted with the binaries that created it.
#
# Auth is "trust" for local and 127.0.0.1 connections: any password works.
# Idempotent: if the cluster in DATADIR (or anything on PGPORT) is already
# up, it just prints the URL. Prints the connection URL on the last line.
# Running as root, the server runs as the Debian "postgres" OS user.
set -euo pipefail

PGPORT="${PGPORT:-5432}"
PGDATA="${1:-${PGDATA:-${TMPDIR:-/tmp}/streamhouse-pg-${PGPORT}}}"
PGUSER="${PGUSER:-postgres}"
PGDB="${PGDB:-streamhouse}"
PG_OPTS="${PG_OPTS:-}"
URL="postgres://${PGUSER}:postgres@127.0.0.1:${PGPORT}/${PGDB}"

# Locate the server binaries (Debian keeps them out of PATH).
find_bindir() {
  local d
  if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
  # An existing cluster restarts with the binaries that created it.
  if [ -s "$PGDATA/streamhouse.bindir" ]; then cat "$PGDATA/streamhouse.bindir"; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return
  return 1
}
if ! BIN="$(find_bindir)"; then
  if [ "$(id -u)" = 0 ]; then
    echo "pg-up: installing postgresql from Debian" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    BIN="$(find_bindir)"
  else
    echo "pg-up: no PostgreSQL server binaries; run: apt-get install -y postgresql" >&2
    exit 1
  fi
fi

# Run as the postgres OS user when we are root (postgres refuses root).
if [ "$(id -u)" = 0 ]; then
  RUNAS=(runuser -u postgres --)
  OSUSER=postgres
else
  RUNAS=()
  OSUSER="$(id -un)"
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; then
  echo "pg-up: already accepting connections on 127.0.0.1:$PGPORT" >&2
  echo "$URL"
  exit 0
fi

mkdir -p "$PGDATA"
chmod 700 "$PGDATA"
if [ "$OSUSER" != "$(id -un)" ]; then chown "$OSUSER": "$PGDATA"; fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "pg-up: initdb into $PGDATA" >&2
  "${RUNAS[@]}" "$BIN/initdb" -D "$PGDATA" -U "$PGUSER" --auth=trust \
    --encoding=UTF8 --locale=C >"$PGDATA.initdb.log" 2>&1 \
    || { cat "$PGDATA.initdb.log" >&2; exit 1; }
  echo "$BIN" >"$PGDATA/streamhouse.bindir"
  FRESH=1
else
  FRESH=0
fi

# Stale pid file from a killed server: pg_ctl handles it, but only when the
# pid is not reused; remove it if that process is gone.
if [ -f "$PGDATA/postmaster.pid" ]; then
  oldpid="$(head -1 "$PGDATA/postmaster.pid")"
  kill -0 "$oldpid" 2>/dev/null || rm -f "$PGDATA/postmaster.pid"
fi

"${RUNAS[@]}" "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start \
  -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDATA -c max_connections=200 $PG_OPTS" >&2

if [ "$FRESH" = 1 ] && [ -n "$PGDB" ] && [ "$PGDB" != postgres ]; then
  "$BIN/psql" -q -h 127.0.0.1 -p "$PGPORT" -U "$PGUSER" -d postgres \
    -c "CREATE DATABASE \"$PGDB\"" >&2 || true
fi

echo "pg-up: pid $(head -1 "$PGDATA/postmaster.pid"), data $PGDATA, log $PGDATA/server.log" >&2
echo "$URL"
