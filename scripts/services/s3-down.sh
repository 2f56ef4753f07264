#!/usr/bin/env bash
# Project copy of shared/services (adapted): not used by the tests yet; kept
# here so a clone has it without ../shared. Loopback (127.0.0.1) only.
# s3-down.sh - stop the server started by s3-up.sh (same S3PORT / S3_STATE).
#   S3_WIPE=1 also deletes the state dir, data included.
set -euo pipefail

S3PORT="${S3PORT:-9000}"
S3_STATE="${S3_STATE:-${TMPDIR:-/tmp}/streamhouse-s3-${S3PORT}}"
PIDFILE="$S3_STATE/pid"

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  pid="$(cat "$PIDFILE")"
  kill -INT "$pid" 2>/dev/null || true          # s3s-fs shuts down on SIGINT
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  echo "s3-down: stopped pid $pid" >&2
else
  echo "s3-down: nothing running from $S3_STATE" >&2
fi
rm -f "$PIDFILE"

if [ "${S3_WIPE:-0}" = 1 ]; then
  rm -rf "$S3_STATE"
  echo "s3-down: removed $S3_STATE" >&2
fi
