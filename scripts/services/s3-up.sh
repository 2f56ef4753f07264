#!/usr/bin/env bash
# Project copy of shared/services (adapted): not used by the tests yet; kept
# here so a clone has it without ../shared. Loopback (127.0.0.1) only.
# s3-up.sh - start a local S3-compatible server on 127.0.0.1 and create the
# bucket. Prints the endpoint URL on the last line; env lines for clients
# are in $S3_STATE/env (source it).
#
#   S3PORT        port (default 9000); the address is always 127.0.0.1
#   S3_IMPL       s3s-fs (default when the binary is on PATH), moto, or rustfs (untested)
#   S3_STATE      state dir: pid, log, env, data (default $TMPDIR/streamhouse-s3-$S3PORT)
#   S3_BUCKET     bucket to create (default streamhouse)
#   S3_ACCESS_KEY access key  (default streamhouse)
#   S3_SECRET_KEY secret key  (default streamhouse-secret)
#   S3_REGION     region clients should sign for (default us-east-1)
#   S3_PYTHON     python with boto3 used to create the bucket (default: the
#                 repo's .venv python if it has boto3, else python3)
#
# s3s-fs enforces SigV4 with the key pair above and keeps data as files
# under $S3_STATE/data (survives restarts). moto accepts any credentials
# and keeps everything in memory (lost on stop). Idempotent: if the server
# recorded in $S3_STATE is alive it only (re)creates the bucket.
# Install: cargo install s3s-fs --version 0.17.0 --features binary --locked --ignore-rust-version
#      or: pip install 'moto[server]'
set -euo pipefail

S3PORT="${S3PORT:-9000}"
S3_STATE="${S3_STATE:-${TMPDIR:-/tmp}/streamhouse-s3-${S3PORT}}"
S3_BUCKET="${S3_BUCKET:-streamhouse}"
S3_ACCESS_KEY="${S3_ACCESS_KEY:-streamhouse}"
S3_SECRET_KEY="${S3_SECRET_KEY:-streamhouse-secret}"
S3_REGION="${S3_REGION:-us-east-1}"
ENDPOINT="http://127.0.0.1:${S3PORT}"

if [ -z "${S3_IMPL:-}" ]; then
  if command -v s3s-fs >/dev/null 2>&1; then S3_IMPL=s3s-fs
  elif command -v moto_server >/dev/null 2>&1; then S3_IMPL=moto
  else
    echo "s3-up: neither s3s-fs nor moto_server found; see the install lines at the top of this script" >&2
    exit 1
  fi
fi

mkdir -p "$S3_STATE"
PIDFILE="$S3_STATE/pid"
LOG="$S3_STATE/server.log"

alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null; }

if alive; then
  echo "s3-up: already running, pid $(cat "$PIDFILE") ($(cat "$S3_STATE/impl" 2>/dev/null))" >&2
  S3_IMPL="$(cat "$S3_STATE/impl" 2>/dev/null || echo "$S3_IMPL")"
else
  if port_open; then
    echo "s3-up: 127.0.0.1:$S3PORT is taken by a process not started from $S3_STATE" >&2
    exit 1
  fi
  case "$S3_IMPL" in
    s3s-fs)
      mkdir -p "$S3_STATE/data"
      RUST_LOG="${RUST_LOG:-s3s_fs=info,s3s=warn}" nohup s3s-fs --host 127.0.0.1 --port "$S3PORT" \
        --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" \
        "$S3_STATE/data" >"$LOG" 2>&1 </dev/null &
      ;;
    moto)
      nohup moto_server -H 127.0.0.1 -p "$S3PORT" >"$LOG" 2>&1 </dev/null &
      ;;
    rustfs)
      # console off, update check off (it would call out), no OTLP export
      mkdir -p "$S3_STATE/data"
      RUSTFS_CHECK_UPDATE=false RUSTFS_CONSOLE_ENABLE=false RUSTFS_OBS_ENDPOINT= \
      RUSTFS_ACCESS_KEY="$S3_ACCESS_KEY" RUSTFS_SECRET_KEY="$S3_SECRET_KEY" \
      RUSTFS_REGION="$S3_REGION" RUST_LOG="${RUST_LOG:-warn}" \
        nohup rustfs server --address "127.0.0.1:$S3PORT" "$S3_STATE/data" \
        >"$LOG" 2>&1 </dev/null &
      ;;
    *) echo "s3-up: unknown S3_IMPL=$S3_IMPL (s3s-fs|moto|rustfs)" >&2; exit 1 ;;
  esac
  echo $! >"$PIDFILE"
  echo "$S3_IMPL" >"$S3_STATE/impl"
  for _ in $(seq 1 300); do port_open && break; alive || break; sleep 0.1; done
  if ! port_open || ! alive; then
    echo "s3-up: server did not come up; log:" >&2; tail -20 "$LOG" >&2; exit 1
  fi
  echo "s3-up: started $S3_IMPL pid $(cat "$PIDFILE"), log $LOG" >&2
fi

cat >"$S3_STATE/env" <<EOF
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_DEFAULT_REGION=$S3_REGION
export AWS_REGION=$S3_REGION
export AWS_ENDPOINT=$ENDPOINT
export AWS_ENDPOINT_URL=$ENDPOINT
export AWS_ALLOW_HTTP=true
export S3_ENDPOINT=$ENDPOINT
export S3_BUCKET=$S3_BUCKET
EOF

# Create the bucket (SigV4-signed, path-style) unless it exists.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -z "${S3_PYTHON:-}" ]; then
  if [ -x "$REPO_ROOT/.venv/bin/python" ] && "$REPO_ROOT/.venv/bin/python" -c 'import boto3' 2>/dev/null; then
    S3_PYTHON="$REPO_ROOT/.venv/bin/python"
  else
    S3_PYTHON=python3
  fi
fi
if ! "$S3_PYTHON" -c 'import boto3' 2>/dev/null; then
  echo "s3-up: $S3_PYTHON has no boto3 (pip install boto3, or set S3_PYTHON)" >&2
  exit 1
fi
"$S3_PYTHON" - "$ENDPOINT" "$S3_BUCKET" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" "$S3_REGION" <<'PY' >&2
import sys, boto3
from botocore.config import Config
from botocore.exceptions import ClientError
ep, bucket, ak, sk, region = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=ep, region_name=region, aws_access_key_id=ak,
                  aws_secret_access_key=sk,
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
try:
    s3.head_bucket(Bucket=bucket)
    print("s3-up: bucket %s exists" % bucket)
except ClientError:
    s3.create_bucket(Bucket=bucket)
    print("s3-up: created bucket %s" % bucket)
PY

echo "$ENDPOINT"
