#!/usr/bin/env bash
# Produce throughput side by side with Tansu (an open-source diskless Kafka
# broker), both on the same local S3 server, alternating runs.
#
#   . /tmp/svc.sh     # or any environment with the bench's pg-s3 variables and AWS_* for the S3 server
#   bench/vs-tansu.sh [records=500000] [rounds=3]
#
# Tansu is built once into $TANSU_ROOT (default /tmp/tansu-install; about
# 10 minutes on 2 cores) with its S3 storage feature. StreamHouse runs on
# PostgreSQL + S3 (bench.py --backend pg-s3); Tansu on S3 alone, a fresh
# bucket per run. Each run prints bench.py's report; the JSON results go to
# $OUT (default /tmp/vs-tansu). Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-500000}
ROUNDS=${2:-3}
TANSU_ROOT=${TANSU_ROOT:-/tmp/tansu-install}
OUT=${OUT:-/tmp/vs-tansu}
: "${STREAMHOUSE_BIN:=$PWD/target/release/streamhouse}"
: "${AWS_ENDPOINT_URL:?AWS_ENDPOINT_URL must name the S3 server}"
export STREAMHOUSE_BIN AWS_ALLOW_HTTP=true AWS_ENDPOINT=$AWS_ENDPOINT_URL
mkdir -p "$OUT"
[ -x "$STREAMHOUSE_BIN" ] || cargo build --release
[ -x "$TANSU_ROOT/bin/tansu" ] || cargo install tansu@0.6.0 --features dynostore --root "$TANSU_ROOT"

for i in $(seq 1 "$ROUNDS"); do
  .venv/bin/python bench/bench.py --start-broker --backend pg-s3 --records "$RECORDS" \
    --json "$OUT/streamhouse-$i.json" | tee "$OUT/streamhouse-$i.log"
  port=$((39100 + i))   # a fresh port per run: the last run's may still be closing
  bucket="tansu-$i-$RANDOM"
  curl -sf -X PUT "$AWS_ENDPOINT_URL/$bucket" >/dev/null
  "$TANSU_ROOT/bin/tansu" broker --storage-engine "s3://$bucket/" \
    --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    >"$OUT/tansu-$i.broker.log" 2>&1 &
  tansu=$!
  for _ in $(seq 1 60); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.5; done
  .venv/bin/python bench/bench.py --bootstrap "127.0.0.1:$port" --records "$RECORDS" \
    --json "$OUT/tansu-$i.json" | tee "$OUT/tansu-$i.log" || true
  kill "$tansu"; wait "$tansu" 2>/dev/null || true
done
.venv/bin/python - "$OUT" <<'EOF'
import glob, json, statistics, sys
for name in ("streamhouse", "tansu"):
    runs = [json.load(open(f)) for f in sorted(glob.glob("%s/%s-*.json" % (sys.argv[1], name)))]
    if not runs:
        continue
    mbs = [r["produce"]["mb_per_s"] for r in runs]
    # Server side: the host's busy cores less the bench client's, per GB produced.
    cpu = [(r["cpu"]["host_busy_pct"] / 100 * r["cpu"]["cores"] - r["cpu"]["client_cores"])
           * r["produce"]["seconds"] / (r["produce"]["records"] * r["args"]["size"] / 1e9) for r in runs]
    print("%-12s produce MB/s %s, median %.1f; server-side CPU-s per GB, median %.2f"
          % (name, ", ".join("%.1f" % m for m in mbs), statistics.median(mbs), statistics.median(cpu)))
EOF
