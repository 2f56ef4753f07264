#!/usr/bin/env bash
# scripts/test.sh - the one command that installs every test dependency and
# runs ALL tests:
#
#   0. cargo fmt --check and cargo clippy --all-targets -- -D warnings
#      (either failing fails the run; the tests still run, for the report)
#   1. kcat (Debian's package; apt-get only when it is missing)
#   2. Python venv at .venv with compat/requirements.txt (skipped when the
#      requirements hash matches the stamp .venv/.requirements.sha256);
#      then compat/js/install.sh (Node.js clients), when that script exists
#   3. cargo build --release
#   4. cargo test --release            (Rust unit + integration tests)
#   5. python -m pytest compat -v      (real-client compatibility suite)
#
# A throwaway PostgreSQL (127.0.0.1:55432) and S3-compatible server (moto,
# 127.0.0.1:59000) are started for the store tests (STREAMHOUSE_TEST_POSTGRES_URL,
# STREAMHOUSE_TEST_S3_BUCKET and AWS_*) and stopped at the end.
#
# Runs from any cwd; idempotent; exits non-zero if any step fails.
# Environment knobs:
#   PYTHON                interpreter used to create the venv (default python3)
#   PYTEST_ARGS           extra pytest arguments, shell-quoted
#                         (e.g. PYTEST_ARGS="-x -k 'roundtrip or kcat'")
#   STREAMHOUSE_BIN       broker binary for the compat suite
#                         (default target/release/streamhouse)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT="$(pwd)"
export ROOT  # stage functions run in child shells
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONDONTWRITEBYTECODE=1

# Stage timeouts (seconds): generous caps, a normal run is far below them.
T_LINT=900
T_APT=600
T_PIP=900
T_BUILD=1800
T_CARGO_TEST=1200
T_PYTEST=1500

START_ALL=$(date +%s)
declare -a SUMMARY=()
FAILED=0

log() { printf '\n[test.sh] %s\n' "$*"; }

# run_stage NAME TIMEOUT CMD... : run, time and record one stage
run_stage() {
  local name="$1" limit="$2"; shift 2
  local t0 rc
  t0=$(date +%s)
  log "=== $name: $*"
  if declare -F "$1" >/dev/null; then
    # a function of this script: run it in a child bash so timeout can bound it
    timeout --kill-after=30 "$limit" bash -c "$1"
  else
    timeout --kill-after=30 "$limit" "$@"
  fi
  rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("$(printf '%-22s %-6s %5ss' "$name" ok "$dt")")
  else
    [ "$rc" -eq 124 ] && log "$name timed out after ${limit}s"
    SUMMARY+=("$(printf '%-22s %-6s %5ss  (exit %s)' "$name" FAILED "$dt" "$rc")")
    FAILED=1
  fi
  return "$rc"
}

skip_stage() {
  SUMMARY+=("$(printf '%-22s %-6s         (%s)' "$1" skipped "$2")")
}

print_summary() {
  local total=$(( $(date +%s) - START_ALL ))
  echo
  echo "==================== scripts/test.sh summary ===================="
  printf '%s\n' "${SUMMARY[@]}"
  printf '%-22s %-6s %5ss\n' "total" "$([ "$FAILED" -eq 0 ] && echo ok || echo FAILED)" "$total"
  echo "================================================================="
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "need root for: $*" >&2; return 1; fi
}

APT_UPDATED=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  as_root apt-get install -y -qq --no-install-recommends "$@"
}

export -f as_root apt_install
export APT_UPDATED

# ---------------------------------------------------------------- 0. lint
# Formatting and lints first: the cheapest failures to find.
run_stage "cargo fmt --check" "$T_LINT" cargo fmt --all -- --check
run_stage "cargo clippy" "$T_LINT" cargo clippy --all-targets -- -D warnings

# ---------------------------------------------------------------- 1. kcat
# Debian's kcat specifically: test_21 reads its rebalance output as that
# build prints it, so a kcat from elsewhere on PATH would make the result
# depend on the machine.
install_kcat() {
  if ! dpkg -s kcat >/dev/null 2>&1; then
    apt_install kcat || return 1
  fi
  echo "kcat: $(dpkg-query -W -f='${Version}' kcat), $(kcat -V 2>&1 | grep -m1 -o 'librdkafka [0-9.]*')"
  [ "$(command -v kcat)" = /usr/bin/kcat ] || { echo "kcat on PATH is $(command -v kcat), not Debian's /usr/bin/kcat" >&2; return 1; }
}
export -f install_kcat
run_stage "kcat" "$T_APT" install_kcat

# ---------------------------------------------------------------- 2. venv
export PYTHON="${PYTHON:-python3}"
export VENV="$ROOT/.venv"
export REQ="$ROOT/compat/requirements.txt"
export STAMP="$VENV/.requirements.sha256"

setup_venv() {
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    if ! "$PYTHON" -m venv "$VENV"; then
      # Debian's python3 needs python3-venv for ensurepip
      rm -rf "$VENV"
      apt_install python3-venv && "$PYTHON" -m venv "$VENV" || return 1
    fi
  fi
  local want have
  want="$( (cat "$REQ"; "$VENV/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
  have="$(cat "$STAMP" 2>/dev/null || true)"
  if [ "$want" = "$have" ]; then
    echo "python requirements already installed (stamp matches)"
    return 0
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip || return 1
  "$VENV/bin/python" -m pip install -q -r "$REQ" || return 1
  echo "$want" > "$STAMP"
}
export -f setup_venv
run_stage "python venv" "$T_PIP" setup_venv
VENV_OK=$?

# ---------------------------------------------------------------- 2b. node
# Node.js clients used by compat tests, if the suite has any (compat/js)
if [ -f "$ROOT/compat/js/install.sh" ]; then
  run_stage "node clients" "$T_PIP" bash "$ROOT/compat/js/install.sh"
fi

# ---------------------------------------------------------------- 2b2. java
# The official Java client (kafka-clients) driver of compat/test_46
# (compat/java; Maven where Maven Central is reachable, else PyPI's jars).
# If this fails, test_46's fixture runs it again and its tests FAIL.
if [ -f "$ROOT/compat/java/install.sh" ]; then
  run_stage "java client" "$T_PIP" bash "$ROOT/compat/java/install.sh"
fi

# ---------------------------------------------------------------- 2c. postgres
# A throwaway PostgreSQL on 127.0.0.1:$PGPORT (Debian's package, installed
# by pg-up.sh when missing) for the PostgreSQL store conformance suite and
# the compat tests that run brokers on it. Stopped again at the end.
export PGPORT="${STREAMHOUSE_TEST_PGPORT:-55432}"
export PGDATA="${TMPDIR:-/tmp}/streamhouse-test-pg-$PGPORT"
start_postgres() {
  set -o pipefail
  local url
  url="$(bash "$ROOT/scripts/services/pg-up.sh" | tail -n 1)" || return 1
  case "$url" in postgres://*) ;; *) echo "pg-up.sh printed no URL" >&2; return 1 ;; esac
  echo "$url" > "$ROOT/target/.test-postgres-url"
  echo "PostgreSQL ready: $url"
}
export -f start_postgres
mkdir -p "$ROOT/target"
if run_stage "postgresql" "$T_APT" start_postgres; then
  export STREAMHOUSE_TEST_POSTGRES_URL="$(cat "$ROOT/target/.test-postgres-url")"
  trap 'bash "$ROOT/scripts/services/pg-down.sh" >/dev/null 2>&1 || true' EXIT
fi

# ---------------------------------------------------------------- 2d. S3
# A local S3-compatible server (moto's server mode, from the venv) on
# 127.0.0.1:$S3PORT with the bucket "streamhouse", for the S3 store tests.
export S3PORT="${STREAMHOUSE_TEST_S3PORT:-59000}"
export S3_STATE="${TMPDIR:-/tmp}/streamhouse-test-s3-$S3PORT"
export S3_IMPL=moto
start_s3() {
  set -o pipefail
  PATH="$VENV/bin:$PATH" bash "$ROOT/scripts/services/s3-up.sh" | tail -n 1 && [ -s "$S3_STATE/env" ]
}
export -f start_s3
if [ "$VENV_OK" -eq 0 ] && run_stage "s3 server" "$T_APT" start_s3; then
  # shellcheck disable=SC1091
  . "$S3_STATE/env"
  export STREAMHOUSE_TEST_S3_BUCKET="$S3_BUCKET"
  trap 'bash "$ROOT/scripts/services/pg-down.sh" >/dev/null 2>&1 || true; bash "$ROOT/scripts/services/s3-down.sh" >/dev/null 2>&1 || true' EXIT
fi

# ---------------------------------------------------------------- 3. build
run_stage "cargo build --release" "$T_BUILD" cargo build --release
BUILD_OK=$?

# ---------------------------------------------------------------- 4. cargo test
if [ "$BUILD_OK" -ne 0 ]; then
  skip_stage "cargo test --release" "build failed"
  FAILED=1
else
  run_stage "cargo test --release" "$T_CARGO_TEST" cargo test --release
fi

# ---------------------------------------------------------------- 5. compat
if [ "$BUILD_OK" -ne 0 ] && [ -z "${STREAMHOUSE_BIN:-}" ]; then
  skip_stage "pytest compat" "no broker binary"
  FAILED=1
elif [ "$VENV_OK" -ne 0 ]; then
  skip_stage "pytest compat" "venv setup failed"
  FAILED=1
else
  export STREAMHOUSE_BIN="${STREAMHOUSE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/streamhouse}"
  eval "EXTRA_PYTEST_ARGS=(${PYTEST_ARGS:-})"  # shell-style quoting allowed
  run_stage "pytest compat" "$T_PYTEST" "$VENV/bin/python" -m pytest compat -v -rfE \
    --timeout=300 --durations=15 "${EXTRA_PYTEST_ARGS[@]}"
fi

print_summary
exit "$FAILED"
