#!/usr/bin/env bash
# compat/js/install.sh - install the Node.js clients of the compat suite
# (kafkajs 2.2.4 and @confluentinc/kafka-javascript 1.10.1, exact pins in
# package.json / package-lock.json) into compat/js/node_modules.
#
# Idempotent: `npm ci` (which wipes node_modules) only runs when the stamp
# node_modules/.compat-install.sha256 does not match package-lock.json + this
# script + the node version, or when a client no longer loads or lacks a
# codec (see `loads` below: a build made before libzstd-dev was installed
# has no zstd, and is rebuilt).
#
# @confluentinc/kafka-javascript has no usable prebuilt binary offline: its
# install script (node-pre-gyp) builds the bundled librdkafka 2.15.1 from
# source. Its default ("static") mode runs librdkafka's
# `./configure --install-deps --source-deps-only`, which DOWNLOADS zlib,
# OpenSSL, zstd, curl, ... and fails without internet. With
# CKJS_LINKING=dynamic its util/configure.js runs a plain `./configure`
# instead (no options can be passed), which links whatever system libraries
# it finds, and the addon loads librdkafka.so from build/deps via rpath.
# npm_config_build_from_source=true skips node-pre-gyp's attempt to download
# a prebuilt binary from GitHub. Build time: ~3 minutes on 2 cores, once.
#
# So that the build is the same on every machine of this kind, whatever was
# installed before, the libraries that decide its codecs are installed
# first (Debian packages):
#   libssl-dev, zlib1g-dev   ssl, gzip
#   libzstd-dev              zstd (without it librdkafka has no zstd at all)
#   liblz4-dev               lz4 (librdkafka has a bundled lz4 that it uses
#                            when liblz4 is missing: installing it takes
#                            that choice away)
# snappy is always librdkafka's own bundled copy. SASL/GSSAPI (libsasl2-dev)
# and curl/OIDC (libcurl*-dev) stay optional: no compat test uses them.
# After the build, `loads` checks that librdkafka's builtin features hold
# every codec (REQUIRED_FEATURES) and that kafkajs's snappy/lz4 codec
# packages (kafkajs-snappy; kafkajs-lz4 over the native `lz4` addon) load.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

STAMP=node_modules/.compat-install.sha256
want="$( (cat package-lock.json install.sh; node --version) | sha256sum | cut -d' ' -f1)"

# librdkafka builtin features every compat test may rely on (the codecs)
REQUIRED_FEATURES="gzip snappy lz4 zstd ssl"

# missing_features: prints the REQUIRED_FEATURES that the built
# @confluentinc/kafka-javascript lacks ("unloadable" when it does not load)
missing_features() {
  REQUIRED_FEATURES="$REQUIRED_FEATURES" node -e "
    let k;
    try {
      require('kafkajs'); require('kafkajs-snappy'); require('kafkajs-lz4');
      k = require('@confluentinc/kafka-javascript');
    } catch (e) { console.log('unloadable'); process.exit(0); }
    if (!k.librdkafkaVersion || !Array.isArray(k.features)) { console.log('unloadable'); process.exit(0); }
    console.log(process.env.REQUIRED_FEATURES.split(' ').filter((f) => !k.features.includes(f)).join(' '));
  " 2>/dev/null || echo unloadable
}

loads() {
  [ -z "$(missing_features)" ]
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
pkg-config --exists libzstd 2>/dev/null || missing+=(libzstd-dev)
pkg-config --exists liblz4 2>/dev/null || missing+=(liblz4-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  # each missing command or library is named by its Debian package
  pkgs=("${missing[@]}")
  echo "compat/js: installing build prerequisites: ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi

export CKJS_LINKING=dynamic
export npm_config_build_from_source=true
npm ci --no-audit --no-fund --loglevel=error

gaps="$(missing_features)"
if [ -n "$gaps" ]; then
  echo "compat/js: clients installed but unusable (missing: $gaps):" >&2
  node -e "require('kafkajs'); const k = require('@confluentinc/kafka-javascript'); \
    console.log(k.librdkafkaVersion, JSON.stringify(k.features))" >&2 || true
  exit 1
fi
echo "$want" > "$STAMP"
echo "compat/js: installed kafkajs $(node -p "require('kafkajs/package.json').version"), \
@confluentinc/kafka-javascript $(node -p "require('@confluentinc/kafka-javascript/package.json').version") \
(librdkafka $(node -p "require('@confluentinc/kafka-javascript').librdkafkaVersion"), \
features $(node -p "require('@confluentinc/kafka-javascript').features.join(',')"))"
