#!/usr/bin/env bash
# protocol-tests/capture.sh - recapture the golden request frames.
#
# Starts a fresh broker (temp data dir, advertised listener = the proxy),
# then for each client starts capture_proxy.py on the advertised port and
# drives the client through it:
#
#   kcat            -L, -P (plain and zstd), -C -e, -G group -e  (librdkafka 2.0.2)
#   confluent-kafka admin create/describe_cluster/list_offsets/delete,
#                   produce with every codec (+ idempotent), consume with
#                   assign, offsets_for_times, group consumer (subscribe,
#                   commit, committed), admin list/describe/offsets/alter/
#                   delete consumer groups
#   kafka-python    same set via KafkaAdminClient/KafkaProducer/KafkaConsumer,
#                   plus delete_group_offsets (OffsetDelete)
#   aiokafka        admin create/describe_cluster/delete, produce with every
#                   codec (+ idempotent), consume, offsets_for_times, group
#                   consumer, admin find_coordinator/list/describe groups/offsets
#   transactions    confluent-kafka, kafka-python and aiokafka each commit one
#                   transaction (records + group offsets) and abort another;
#                   kafka-python also lists and describes transactions and
#                   producers (drive_clients.py)
#
# Frames land in protocol-tests/golden/requests/<client>/<Api>-v<ver>-<n>.bin
# (previous captures are removed first, except the KIP-848 ConsumerGroup*
# frames, which come from compat/test_25). Every process started here is
# stopped by its pid at the end; every step has a timeout.
#
# Environment:
#   STREAMHOUSE_BIN  broker binary (default target/release/streamhouse)
#   PYTHON           interpreter with the three client libraries
#                    (default .venv/bin/python when present, else python3)
#   KEEP_TMP=1       keep the temp dir (broker data and logs)
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT="$(pwd)"
HERE="$ROOT/protocol-tests"
OUT="$HERE/golden/requests"
BIN="${STREAMHOUSE_BIN:-$ROOT/target/release/streamhouse}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
CLIENT_TIMEOUT=240   # seconds per client
PROXY_MAX=300        # the proxy exits by itself after this long

[ -x "$BIN" ] || { echo "broker binary $BIN missing: cargo build --release" >&2; exit 2; }
command -v kcat >/dev/null || { echo "kcat missing (apt-get install kcat)" >&2; exit 2; }

TMP="$(mktemp -d /tmp/streamhouse-capture.XXXXXX)"
BROKER_LOG="$TMP/broker.log"
PROXY_LOG="$TMP/proxy.log"
BROKER_PID=""
PROXY_PID=""

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port seconds
  "$PYTHON" - "$1" "$2" <<'EOF'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.25).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

stop_pid() { # pid: SIGTERM, wait up to 10 s, then SIGKILL
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}

cleanup() {
  stop_pid "$PROXY_PID"; PROXY_PID=""
  stop_pid "$BROKER_PID"; BROKER_PID=""
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BROKER_PORT="$(free_port)"
PROXY_PORT="$(free_port)"
while [ "$PROXY_PORT" = "$BROKER_PORT" ]; do PROXY_PORT="$(free_port)"; done
BOOT="127.0.0.1:$PROXY_PORT"

# KIP-848 frames (ConsumerGroup*) come from compat/test_25, not from the
# clients driven here: keep them across a recapture.
KEEP="$TMP/kept-frames"
mkdir -p "$KEEP"
(cd "$OUT" 2>/dev/null && find . -name 'ConsumerGroup*.bin' -exec cp --parents {} "$KEEP" \;)
rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$KEEP"/. "$OUT"/

echo "== broker on 127.0.0.1:$BROKER_PORT, advertised (proxy) $BOOT, data $TMP/data"
"$BIN" --data-dir "$TMP/data" --listen "127.0.0.1:$BROKER_PORT" \
  --advertised-listener "$BOOT" --node-id 1 >"$BROKER_LOG" 2>&1 </dev/null &
BROKER_PID=$!
wait_port "$BROKER_PORT" 30 || { echo "broker did not start:"; cat "$BROKER_LOG"; exit 1; }

FAILURES=0
run_client() { # name cmd...
  local name="$1"; shift
  echo
  echo "== $name"
  "$PYTHON" "$HERE/capture_proxy.py" --listen-port "$PROXY_PORT" --broker-port "$BROKER_PORT" \
    --client "$name" --out "$OUT" --max-seconds "$PROXY_MAX" --log "$PROXY_LOG" </dev/null &
  PROXY_PID=$!
  wait_port "$PROXY_PORT" 10 || { echo "proxy did not start"; FAILURES=$((FAILURES + 1)); stop_pid "$PROXY_PID"; return; }
  timeout --kill-after=10 "$CLIENT_TIMEOUT" "$@"
  local rc=$?
  [ "$rc" -eq 0 ] || { echo "!! $name exited $rc"; FAILURES=$((FAILURES + 1)); }
  sleep 0.5
  stop_pid "$PROXY_PID"; PROXY_PID=""
}

drive_kcat() {
  local t=golden-kcat rc=0
  kcat -b "$BOOT" -L -m 10 || rc=1
  printf 'k1:v1\nk2:v2\nk3:v3\n' | kcat -b "$BOOT" -P -t "$t" -p 0 -K: -m 10 || rc=1
  printf 'z1:v1\nz2:v2\n' | kcat -b "$BOOT" -P -t "$t" -p 0 -K: -z zstd -m 10 || rc=1
  local out n
  out=$(kcat -b "$BOOT" -C -t "$t" -p 0 -o beginning -e -f '%k=%s@%o\n' -m 10)
  printf '%s\n' "$out"
  n=$(printf '%s\n' "$out" | grep -c '@')
  [ "$n" -eq 5 ] || { echo "kcat consumed $n of 5 records"; rc=1; }
  # balanced consumer (JoinGroup/SyncGroup/Heartbeat/OffsetCommit/LeaveGroup)
  out=$(kcat -b "$BOOT" -G golden-kcat-group -o beginning -e -f '%k=%s@%o\n' -m 20 \
        -X heartbeat.interval.ms=300 -X session.timeout.ms=10000 -X auto.commit.interval.ms=200 "$t")
  printf '%s\n' "$out"
  n=$(printf '%s\n' "$out" | grep -c '@')
  [ "$n" -eq 5 ] || { echo "kcat -G consumed $n of 5 records"; rc=1; }
  return "$rc"
}

export BOOT
export -f drive_kcat
run_client kcat bash -c drive_kcat
run_client confluent-kafka "$PYTHON" "$HERE/drive_clients.py" confluent-kafka "$BOOT"
run_client kafka-python "$PYTHON" "$HERE/drive_clients.py" kafka-python "$BOOT"
run_client aiokafka "$PYTHON" "$HERE/drive_clients.py" aiokafka "$BOOT"

stop_pid "$BROKER_PID"; BROKER_PID=""

echo
echo "== proxy log"
cat "$PROXY_LOG"
echo
echo "== broker log: warnings and errors"
grep -E ' (WARN|ERROR) ' "$BROKER_LOG" || echo "(none)"
echo
echo "== captured"
for d in "$OUT"/*/; do printf '%-16s %3d files\n' "$(basename "$d")" "$(find "$d" -name '*.bin' | wc -l)"; done
du -sh "$OUT" | awk '{print "total size " $1}'
[ "$FAILURES" -eq 0 ] || { echo "$FAILURES client run(s) failed"; exit 1; }
