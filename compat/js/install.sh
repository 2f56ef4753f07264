#!/usr/bin/env bash
# compat/js/install.sh - install the Node.js clients of the compat suite
# (kafkajs 2.2.4 and @confluentinc/kafka-javascript 1.10.1, exact pins in
# package.json / package-lock.json) into compat/js/node_modules.
#
# Idempotent: `npm ci` (which wipes node_modules) only runs when the stamp
# node_modules/.compat-install.sha256 does not match package-lock.json + the
# node version, or when a client no longer loads.
#
# @confluentinc/kafka-javascript has no usable prebuilt binary offline: its
# install script (node-pre-gyp) builds the bundled librdkafka 2.15.1 from
# source. Its default ("static") mode runs librdkafka's
# `./configure --install-deps --source-deps-only`, which DOWNLOADS zlib,
# OpenSSL, zstd, curl, ... and fails without internet. With
# CKJS_LINKING=dynamic its util/configure.js runs a plain `./configure`
# instead, which links the system libssl/libcrypto/zlib (Debian: libssl-dev,
# zlib1g-dev; zstd, SASL/GSSAPI, curl/OIDC are optional and disabled when
# their -dev packages are missing) and the addon loads librdkafka.so from
# build/deps via rpath. npm_config_build_from_source=true skips node-pre-gyp's
# attempt to download a prebuilt binary from GitHub. Build time: ~2 minutes
# on 2 cores, once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

STAMP=node_modules/.compat-install.sha256
want="$( (cat package-lock.json; node --version) | sha256sum | cut -d' ' -f1)"

loads() {
  node -e "require('kafkajs'); const k = require('@confluentinc/kafka-javascript'); \
    if (!k.librdkafkaVersion) process.exit(1)" >/dev/null 2>&1
}

if [ "$(cat "$STAMP" 2>/dev/null || true)" = "$want" ] && loads; then
  echo "compat/js: node clients already installed (stamp matches)"
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "compat/js: need root for: $*" >&2; return 1; fi
}

# build prerequisites of the librdkafka source build
missing=()
for c in make g++ python3 pkg-config; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
pkg-config --exists libssl libcrypto 2>/dev/null || missing+=(libssl-dev)
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  declare -A deb=([make]=make [g++]=g++ [python3]=python3 [pkg-config]=pkg-config
                  [libssl-dev]=libssl-dev [zlib1g-dev]=zlib1g-dev)
  pkgs=()
  for m in "${missing[@]}"; do pkgs+=("${deb[$m]}"); done
  echo "compat/js: installing build prerequisites: ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi

export CKJS_LINKING=dynamic
export npm_config_build_from_source=true
npm ci --no-audit --no-fund --loglevel=error

if ! loads; then
  echo "compat/js: clients installed but do not load:" >&2
  node -e "require('kafkajs'); console.log(require('@confluentinc/kafka-javascript').librdkafkaVersion)" >&2 || true
  exit 1
fi
echo "$want" > "$STAMP"
echo "compat/js: installed kafkajs $(node -p "require('kafkajs/package.json').version"), \
@confluentinc/kafka-javascript $(node -p "require('@confluentinc/kafka-javascript/package.json').version") \
(librdkafka $(node -p "require('@confluentinc/kafka-javascript').librdkafkaVersion"))"
