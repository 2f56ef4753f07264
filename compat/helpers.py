"""Small helpers that several compat test modules use, each written once.

uid(tag)                      a fresh name "<tag>-<12 hex digits>" (topics,
                              groups, transactional ids, ...)
put_numbered(bootstrap, topic, start, n)
                              confluent-kafka writes records k<i>/v<i> for
                              i in start..start+n-1 to partition 0, asserting
                              they land at offsets start.. in order

kcat (Debian's package, installed by scripts/test.sh):
KCAT                          the kcat (or older kafkacat) binary, None if absent
run_kcat(bootstrap, *args, input=None, timeout=60)
                              `kcat -b BOOTSTRAP ARGS...`, asserting exit 0:
                              (stdout, stderr), decoded

Node.js drivers (compat/js; clients installed by compat/js/install.sh):
JS_DIR, NODE                  the folder and the node binary (None if absent)
install_js_clients()          runs install.sh (idempotent: a stamp skips the
                              build) and asserts it succeeded; conftest.py's
                              `js_clients` fixture calls it once a session
run_node(script, cfg, timeout, label)
                              `node <script> <file holding cfg as JSON>` (a
                              file: a 1 MB value does not fit in one argv
                              string) -> (returncode, events, info): the
                              events are the driver's "EV {json}" stdout
                              lines, info is for assertion messages
ckjs_features()               the builtin features of the librdkafka inside
                              the installed @confluentinc/kafka-javascript

Java driver (compat/java; built by compat/java/install.sh):
JAVA_DIR                      the folder
install_java_client()         runs install.sh (idempotent; it installs a JDK
                              when there is none) and asserts it succeeded;
                              conftest.py's `java_client` fixture calls it
                              once a session
java()                        the java binary, looked up when called (so
                              after install.sh)

Group offsets read over the wire (offset_fetch, committed,
committed_entries) live in groups_helpers.py, with the raw group client
they use.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from clients import Rec, produce

HERE = Path(__file__).resolve().parent
KCAT = shutil.which("kcat") or shutil.which("kafkacat")
JS_DIR = HERE / "js"
NODE = shutil.which("node")
JAVA_DIR = HERE / "java"

INSTALL_TIMEOUT_S = 1200


def uid(tag):
    return "%s-%s" % (tag, uuid.uuid4().hex[:12])


def put_numbered(bootstrap, topic, start, n):
    recs = [Rec(key=b"k%d" % i, value=b"v%d" % i, partition=0) for i in range(start, start + n)]
    dels = produce("confluent-kafka", bootstrap, topic, recs)
    assert [(d.error, d.offset) for d in dels] == [(None, i) for i in range(start, start + n)]


def run_kcat(bootstrap, *args, input=None, timeout=60):
    assert KCAT, "kcat is not installed (scripts/test.sh installs it)"
    proc = subprocess.run([KCAT, "-b", bootstrap, *args], input=input, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, "kcat %s failed rc=%d\nstdout:%s\nstderr:%s" % (
        " ".join(args), proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
    return proc.stdout.decode("utf-8"), proc.stderr.decode(errors="replace")


def _run_install(script: Path):
    """bash SCRIPT; asserts exit 0 (with the output's tails); returns
    (stdout, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(script)], capture_output=True, timeout=INSTALL_TIMEOUT_S)
    rel = script.relative_to(HERE.parent)
    assert proc.returncode == 0, "%s failed rc=%d\n%s\n%s" % (
        rel, proc.returncode, proc.stdout.decode(errors="replace")[-4000:],
        proc.stderr.decode(errors="replace")[-4000:])
    return proc.stdout.decode(errors="replace").strip(), time.monotonic() - t0


# --------------------------------------------------------------------------
# Node.js


def install_js_clients():
    assert NODE, "node is not installed"
    out, _ = _run_install(JS_DIR / "install.sh")
    return out


def run_node(script, cfg, timeout, label):
    """Runs compat/js/SCRIPT on CFG: (returncode, events, info)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cfg, f)
        path = f.name
    try:
        proc = subprocess.run([NODE, str(JS_DIR / script), path], cwd=str(JS_DIR), capture_output=True,
                              timeout=timeout)
    finally:
        Path(path).unlink()
    out = proc.stdout.decode(errors="replace")
    evs = [json.loads(line[3:]) for line in out.splitlines() if line.startswith("EV ")]
    info = "%s %s rc=%d\nstdout(tail): %s\nstderr(tail): %s" % (
        script, label, proc.returncode, out[-3000:], proc.stderr.decode(errors="replace")[-3000:])
    return proc.returncode, evs, info


def ckjs_features():
    """librdkafka's builtin.features in @confluentinc/kafka-javascript, as
    the client itself reports them (e.g. ["gzip", "snappy", ...])."""
    proc = subprocess.run([NODE, "-p", "JSON.stringify(require('@confluentinc/kafka-javascript').features)"],
                          cwd=str(JS_DIR), capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------
# Java


def java():
    return shutil.which("java")


def install_java_client():
    out, secs = _run_install(JAVA_DIR / "install.sh")
    print("compat/java/install.sh (%.1fs): %s" % (secs, out))
    assert java(), "java is not installed (a JDK 17+ is needed)"
    return out
