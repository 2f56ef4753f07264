"""42. Backend faults: one broker on PostgreSQL (+ S3) while a backing
service goes away and comes back, without restarting the broker.

Every service here is private to the test (faults_helpers.py): a throwaway
PostgreSQL cluster on a free port (scripts/services/pg-up.sh), a moto S3
server on a free port (scripts/services/s3-up.sh), and a TCP proxy in
front of a service to cut or stall it. The suite's shared PostgreSQL and S3
are never touched.

Scenarios:

  * PostgreSQL restart (fast and immediate shutdown) while the broker runs;
  * S3 cut off for ~10 s (connections reset, new ones refused) while a
    producer keeps sending ~4 MiB of 1 KiB records;
  * PostgreSQL or S3 stalled for ~20 s (connections accepted, nothing
    answered: a network black hole), then back with the stalled connections
    reset;
  * S3 cut off while small flushes go inline to PostgreSQL: acknowledged
    from PostgreSQL, spilled into objects once S3 is back.

The S3 cut and stall scenarios run with inline flushes off, so every flush
needs S3; the assertions below are theirs.

What each asserts while the service is unavailable:

  * every Produce is answered within a bounded time (no hang) with a
    retriable error code (KAFKA_STORAGE_ERROR 56, or another retriable
    code; the codes seen are printed), and nothing is acknowledged;
  * Metadata for an existing topic is still answered;
  * the broker process stays alive and its RSS stays under 400 MiB;

and once the service is back, without touching the broker:

  * a Produce succeeds within 30 s;
  * the librdkafka producer, which retried through the outage, gets every
    record acknowledged;
  * reading every partition from offset 0 to its high watermark returns
    exactly the acknowledged records at their acknowledged offsets
    (contiguous offsets, exact values, no loss, nothing else). A record
    refused with KAFKA_STORAGE_ERROR must not be in the log; one whose
    request went unanswered or timed out (REQUEST_TIMED_OUT) may appear
    once; in the stall tests a client retry may add a second copy of an
    acknowledged record (at-least-once);
  * the broker log has no panic.

Each test takes 15-40 s; the broker runs with --gc-interval-ms 1000 so
garbage collection also meets the outage.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import faults_helpers as fh
from backends import s3_args
from helpers import uid

PARTITIONS = 2
BEFORE = 100            # records per partition acknowledged before the fault
OUTAGE_S = 10.0         # how long PostgreSQL / S3 stays away
STALL_S = 20.0          # how long a stalled service stays silent
ANSWER_WITHIN_S = 10.0  # a Produce during an outage must be answered within this
STALL_REQUEST_TIMEOUT_MS = 5000
STALL_ANSWER_WITHIN_S = 15.0  # request timeout + margin, well under STALL_S
RECOVER_WITHIN_S = 30.0
RSS_MAX_MIB = 400.0


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture
def private_pg():
    pg = fh.PrivatePostgres()
    try:
        pg.start()
    except BaseException:
        pg.destroy()
        raise
    yield pg
    pg.destroy()


@pytest.fixture(scope="module")
def private_s3():
    s3 = fh.PrivateS3()
    try:
        s3.start()
    except BaseException:
        s3.destroy()
        raise
    yield s3
    s3.destroy()


@pytest.fixture
def proxies():
    made = []

    def make(upstream_port):
        p = fh.TcpProxy(upstream_port)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


# --------------------------------------------------------------------------
# helpers


class Checks:
    """Collects failed expectations so one run reports the outage, the
    recovery and the data check together."""

    def __init__(self):
        self.problems: list[str] = []

    def check(self, ok: bool, msg: str):
        if not ok:
            self.problems.append(msg)

    def assert_ok(self):
        assert not self.problems, "\n".join(["%d problem(s):" % len(self.problems)] + self.problems)


class Deliveries:
    """Delivery reports of a librdkafka producer."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked: dict[tuple[int, int], bytes] = {}
        self.failed: list[tuple[bytes, str, bool]] = []  # (value, error, retriable)
        self.duplicates: list[tuple[int, int]] = []

    def cb(self, err, msg):
        with self.lock:
            if err is None:
                key = (msg.partition(), msg.offset())
                if key in self.acked:
                    self.duplicates.append(key)
                self.acked[key] = msg.value()
            else:
                self.failed.append((msg.value(), str(err), err.retriable()))

    def count(self):
        with self.lock:
            return len(self.acked)


def producer(bootstrap):
    return Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": False,
        "linger.ms": 5,
        "message.timeout.ms": 100000,
        "retries": 2147483647,
        "retry.backoff.ms": 200,
        "retry.backoff.max.ms": 1000,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
    })


def value(phase, i, size=0):
    v = b"%s-%06d|" % (phase.encode(), i)
    return v + b"x" * max(0, size - len(v))


def create_topic(bootstrap):
    topic = uid("faults")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)]).values():
        f.result(20)
    return topic


def produce_before(bootstrap, topic, acked):
    """BEFORE records per partition, all acknowledged at offsets 0..BEFORE-1."""
    d = Deliveries()
    p = producer(bootstrap)
    for i in range(BEFORE * PARTITIONS):
        p.produce(topic, value=value("before", i), partition=i % PARTITIONS, on_delivery=d.cb)
    assert p.flush(30) == 0, "records before the fault not delivered"
    assert not d.failed, d.failed[:5]
    for part in range(PARTITIONS):
        assert sorted(o for (pp, o) in d.acked if pp == part) == list(range(BEFORE))
    acked.update(d.acked)


def produce_during_outage(b, topic, checks, until, label, acked_raw, maybe, wait_s=ANSWER_WITHIN_S + 5,
                          answer_within=ANSWER_WITHIN_S, timeout_ms=5000):
    """Raw Produce requests, one after the other, until `until` (monotonic):
    each must be answered within `answer_within` with a retriable error.
    A request left unanswered has an unknown outcome: its value goes into
    `maybe` (it may legitimately show up in the log later).
    Returns [(code, seconds)]."""
    seen = []
    i = 0
    while time.monotonic() < until:
        part = i % PARTITIONS
        vals = [value("raw-outage", i)]
        try:
            err, base, dt = fh.raw_produce(b.bootstrap, topic, part, vals, wait_s=wait_s, timeout_ms=timeout_ms)
        except fh.NoResponse as e:
            checks.check(False, "%s: Produce #%d: %s" % (label, i, e))
            seen.append(("no response", wait_s))
            maybe.add(vals[0])
            break
        except (ConnectionError, OSError) as e:
            checks.check(False, "%s: Produce #%d: connection failed: %r" % (label, i, e))
            seen.append(("connection error", 0))
            maybe.add(vals[0])
            break
        seen.append((err, round(dt, 2)))
        if err == 0:
            # Acknowledged without the service: must still be readable later.
            checks.check(False, "%s: Produce #%d acknowledged (offset %d) while the service was down"
                         % (label, i, base))
            acked_raw[(part, base)] = vals[0]
        else:
            if err in fh.OUTCOME_UNKNOWN_ERRORS:
                maybe.add(vals[0])  # a timeout: the write may still land
            checks.check(err in fh.RETRIABLE_PRODUCE_ERRORS,
                         "%s: Produce #%d answered with non-retriable error %d" % (label, i, err))
            checks.check(dt <= answer_within, "%s: Produce #%d answered after %.1fs (> %.0fs)"
                         % (label, i, dt, answer_within))
        i += 1
        time.sleep(0.5)
    print("%s: Produce answers during the outage (code, seconds): %s" % (label, seen))
    return seen


def check_metadata(b, topic, checks, label, wait_s=ANSWER_WITHIN_S):
    try:
        terr, perrs, dt = fh.raw_metadata(b.bootstrap, topic, wait_s=wait_s)
    except fh.NoResponse as e:
        checks.check(False, "%s: Metadata: %s" % (label, e))
        return
    print("%s: Metadata during the outage: topic error %d, partition errors %s, %.2fs" % (label, terr, perrs, dt))
    checks.check(terr == 0 and perrs == [0] * PARTITIONS,
                 "%s: Metadata of an existing topic answered with errors %d / %s" % (label, terr, perrs))


def wait_for_recovery(b, topic, checks, label, acked_raw, maybe):
    """Raw Produce until one succeeds; returns seconds it took (or None)."""
    started = time.monotonic()
    deadline = started + RECOVER_WITHIN_S
    codes = []
    i = 0
    while time.monotonic() < deadline:
        part = i % PARTITIONS
        vals = [value("raw-recovery", i)]
        try:
            err, base, _ = fh.raw_produce(b.bootstrap, topic, part, vals,
                                          wait_s=max(1.0, deadline - time.monotonic()))
        except (fh.NoResponse, ConnectionError, OSError) as e:
            codes.append(repr(e))
            maybe.add(vals[0])
            break
        if err == 0:
            acked_raw[(part, base)] = vals[0]
            took = time.monotonic() - started
            print("%s: recovered: first Produce acknowledged %.2fs after the service came back "
                  "(errors before that: %s)" % (label, took, codes))
            return took
        codes.append(err)
        i += 1
        time.sleep(0.25)
    checks.check(False, "%s: no Produce acknowledged within %.0fs after the service came back; answers: %s"
                 % (label, RECOVER_WITHIN_S, codes))
    return None


def verify_log(b, topic, expected, checks, label, maybe=frozenset(), retry_duplicates=False):
    """The topic holds exactly `expected` ({(partition, offset): value}),
    plus at most one copy of each value in `maybe` (requests whose outcome
    the client never learnt), plus, with retry_duplicates, extra copies of
    acknowledged values (a client retrying a request that timed out but
    was written after all: at-least-once, not loss)."""
    got, highs = fh.read_partitions(b.bootstrap, topic, PARTITIONS)
    missing = sorted(k for k in expected if k not in got)
    wrong = sorted(k for k in expected if k in got and got[k] != expected[k])
    extra = sorted(k for k in got if k not in expected)
    unknown = [k for k in extra if got[k] in maybe]
    if unknown:
        print("%s: %d records of unanswered requests are in the log: %s" % (label, len(unknown), unknown))
        checks.check(len({got[k] for k in unknown}) == len(unknown),
                     "%s: an unanswered request's record is in the log twice: %s" % (label, unknown))
    extra = [k for k in extra if got[k] not in maybe]
    if retry_duplicates:
        acked_values = set(expected.values())
        dups = [k for k in extra if got[k] in acked_values]
        if dups:
            print("%s: %d extra copies of acknowledged records (client retries): %s" % (label, len(dups), dups[:10]))
        extra = [k for k in extra if got[k] not in acked_values]
    checks.check(not missing, "%s: %d acknowledged records missing, e.g. %s" % (label, len(missing), missing[:5]))
    checks.check(not wrong, "%s: %d records differ from what was acknowledged, e.g. %s"
                 % (label, len(wrong), [(k, expected[k][:24], got[k][:24]) for k in wrong[:3]]))
    checks.check(not extra, "%s: %d records in the log that were never acknowledged, e.g. %s"
                 % (label, len(extra), [(k, got[k][:24]) for k in extra[:5]]))
    print("%s: read back %d records, high watermarks %s" % (label, len(got), highs))


def check_alive_and_clean(b, pid, checks, label):
    checks.check(b.alive(), "%s: broker process exited (rc=%s)" % (label, b.proc.returncode))
    checks.check(b.proc.pid == pid and b.starts == 1, "%s: broker was restarted" % label)
    log = b.log_path.read_text(errors="replace")
    checks.check("panicked" not in log, "%s: panic in the broker log" % label)


def outage_round(b, topic, checks, label, restore, acked, maybe, outage_s=OUTAGE_S, background=None,
                 **produce_kw):
    """While the service is away: raw Produce / Metadata checks (and the
    optional background producer); then `restore()` and recovery checks.
    `acked` collects every acknowledged record, `maybe` the values of
    requests whose outcome is unknown."""
    pid = b.proc.pid
    d = Deliveries()
    p = producer(b.bootstrap)
    t0 = time.monotonic()
    acked_before = len(acked)
    # librdkafka keeps retrying these until the service is back.
    for i in range(50 * PARTITIONS):
        p.produce(topic, value=value("client-outage", i), partition=i % PARTITIONS, on_delivery=d.cb)
    p.poll(0)
    bg = None
    if background is not None:
        bg = threading.Thread(target=background, args=(p, d, t0 + outage_s - 1), daemon=True)
        bg.start()
    check_metadata(b, topic, checks, label)
    produce_during_outage(b, topic, checks, t0 + outage_s * 0.6, label, acked, maybe, **produce_kw)
    while time.monotonic() < t0 + outage_s:
        p.poll(0.2)
    if bg is not None:
        bg.join(10)
    checks.check(d.count() == 0, "%s: %d client records acknowledged while the service was down"
                 % (label, d.count()))
    checks.check(b.alive(), "%s: broker died during the outage" % label)
    restore()
    print("%s: service back after %.1fs" % (label, time.monotonic() - t0))
    wait_for_recovery(b, topic, checks, label, acked, maybe)
    left = p.flush(60)
    checks.check(left == 0, "%s: %d client records neither acknowledged nor failed 60s after recovery"
                 % (label, left))
    checks.check(not d.failed, "%s: %d client records failed: %s" % (label, len(d.failed), d.failed[:3]))
    checks.check(not d.duplicates, "%s: offsets acknowledged twice: %s" % (label, d.duplicates[:5]))
    print("%s: client records acknowledged after recovery: %d" % (label, d.count()))
    # every acked (partition, offset) is new
    clash = sorted(set(d.acked) & set(acked))
    checks.check(not clash, "%s: offsets acknowledged to two records: %s" % (label, clash[:5]))
    acked.update(d.acked)
    # after the fault: plain produce works
    d2 = Deliveries()
    for i in range(50 * PARTITIONS):
        p.produce(topic, value=value("after", i), partition=i % PARTITIONS, on_delivery=d2.cb)
    checks.check(p.flush(30) == 0 and len(d2.acked) == 50 * PARTITIONS and not d2.failed,
                 "%s: produce after recovery: %d acked, %d failed" % (label, len(d2.acked), len(d2.failed)))
    acked.update(d2.acked)
    check_alive_and_clean(b, pid, checks, label)
    print("%s: %d records acknowledged in this round" % (label, len(acked) - acked_before))


# --------------------------------------------------------------------------
# tests
#
# The service fixtures come before broker_factory in each signature, so the
# broker is stopped before its services are torn down.


@pytest.mark.parametrize("shutdown", ["fast", "immediate"])
def test_postgres_restart_produce_fails_retriably_and_recovers(private_pg, broker_factory, shutdown):
    checks = Checks()
    b = broker_factory("--metadata", private_pg.url, "--gc-interval-ms", "1000")
    topic = create_topic(b.bootstrap)
    acked: dict = {}
    maybe: set = set()
    produce_before(b.bootstrap, topic, acked)
    rss0 = fh.rss_mib(b.proc.pid)

    label = "postgres %s restart" % shutdown
    with fh.RssSampler(b.proc.pid) as rss:
        private_pg.stop(shutdown)
        outage_round(b, topic, checks, label, private_pg.start, acked, maybe)
    print("%s: broker RSS %.0f MiB before, peak %.0f MiB" % (label, rss0, rss.peak))
    checks.check(rss.peak < RSS_MAX_MIB, "%s: broker RSS peaked at %.0f MiB" % (label, rss.peak))

    verify_log(b, topic, acked, checks, label, maybe)
    # The offsets in PostgreSQL agree with what was acknowledged.
    total = private_pg.sql("SELECT sum(next_offset) FROM partitions")
    checks.check(total == str(len(acked)), "%s: PostgreSQL has next_offset sum %s, %d acknowledged"
                 % (label, total, len(acked)))
    checks.assert_ok()


def test_s3_outage_produce_fails_retriably_memory_bounded_and_recovers(
        private_pg, private_s3, proxies, monkeypatch, broker_factory):
    checks = Checks()
    proxy = proxies(private_s3.port)
    for k, v in private_s3.client_env(proxy.url).items():
        monkeypatch.setenv(k, v)
    # Every flush an object (no inline flushes): nothing can be stored, so
    # nothing may be acknowledged, while S3 is away. The inline path has its
    # own test below.
    b = broker_factory("--metadata", private_pg.url,
                       *s3_args("faults", private_s3.bucket), "--gc-interval-ms", "1000",
                       "--writer-buffered-bytes-max", str(16 << 20), "--inline-bytes-max", "0")
    topic = create_topic(b.bootstrap)
    acked: dict = {}
    maybe: set = set()
    produce_before(b.bootstrap, topic, acked)
    rss0 = fh.rss_mib(b.proc.pid)

    def keep_producing(p, d, until):
        # ~4 MiB of 1 KiB records while S3 is away; librdkafka retries them.
        n = 0
        while n < 4000 and time.monotonic() < until:
            for _ in range(200):
                p.produce(topic, value=value("bulk-outage", n, 1024), partition=n % PARTITIONS, on_delivery=d.cb)
                n += 1
            time.sleep(0.05)
        print("s3 outage: %d 1 KiB records handed to the producer during the outage" % n)
        checks.check(n == 4000, "s3 outage: only %d of 4000 bulk records were sent" % n)

    label = "s3 outage"
    with fh.RssSampler(b.proc.pid) as rss:
        proxy.cut()
        outage_round(b, topic, checks, label, proxy.restore, acked, maybe, background=keep_producing)
    print("%s: broker RSS %.0f MiB before, peak %.0f MiB" % (label, rss0, rss.peak))
    checks.check(rss.peak < RSS_MAX_MIB, "%s: broker RSS peaked at %.0f MiB (bound %.0f)"
                 % (label, rss.peak, RSS_MAX_MIB))
    verify_log(b, topic, acked, checks, label, maybe)
    checks.assert_ok()


@pytest.mark.parametrize("service", ["postgres", "s3"])
def test_stalled_service_produce_answered_in_bounded_time_and_recovers(
        private_pg, private_s3, proxies, monkeypatch, broker_factory, service):
    """A black hole rather than a refusal: the connection is accepted and the
    request never answered. The broker must not wait for it indefinitely: a
    Produce with timeout_ms=5000 is answered within 15 s with a retriable
    error while the stall lasts (20 s)."""
    checks = Checks()
    if service == "postgres":
        proxy = proxies(private_pg.port)
        url = private_pg.url.replace(":%d/" % private_pg.port, ":%d/" % proxy.port)
        b = broker_factory("--metadata", url, "--gc-interval-ms", "1000")
    else:
        proxy = proxies(private_s3.port)
        for k, v in private_s3.client_env(proxy.url).items():
            monkeypatch.setenv(k, v)
        b = broker_factory("--metadata", private_pg.url,
                           *s3_args("stall", private_s3.bucket), "--gc-interval-ms", "1000", "--inline-bytes-max", "0")
    topic = create_topic(b.bootstrap)
    acked: dict = {}
    maybe: set = set()
    produce_before(b.bootstrap, topic, acked)

    label = "%s stall" % service
    with fh.RssSampler(b.proc.pid) as rss:
        proxy.stall()
        outage_round(b, topic, checks, label, proxy.restore, acked, maybe, outage_s=STALL_S,
                     wait_s=STALL_ANSWER_WITHIN_S + 3, answer_within=STALL_ANSWER_WITHIN_S,
                     timeout_ms=STALL_REQUEST_TIMEOUT_MS)
    checks.check(rss.peak < RSS_MAX_MIB, "%s: broker RSS peaked at %.0f MiB" % (label, rss.peak))
    verify_log(b, topic, acked, checks, label, maybe, retry_duplicates=True)
    checks.assert_ok()


def test_s3_outage_with_inline_flushes_acknowledges_from_postgres_and_spills_after(
        private_pg, private_s3, proxies, monkeypatch, broker_factory):
    """With small flushes committed inline in PostgreSQL (the default), an S3
    outage does not stop a modest producer: its records are acknowledged
    from PostgreSQL while spills fail, and once S3 is back the broker spills
    them into objects. Nothing acknowledged is lost or changed, and
    PostgreSQL holds no inline flush afterwards."""
    checks = Checks()
    proxy = proxies(private_s3.port)
    for k, v in private_s3.client_env(proxy.url).items():
        monkeypatch.setenv(k, v)
    b = broker_factory("--metadata", private_pg.url, *s3_args("inline", private_s3.bucket),
                       "--spill-interval-ms", "200", "--spill-bytes-max", str(4 << 20), "--gc-interval-ms", "1000")
    topic = create_topic(b.bootstrap)
    acked: dict = {}
    produce_before(b.bootstrap, topic, acked)
    label = "s3 outage, inline"
    proxy.cut()
    t0 = time.monotonic()
    d = Deliveries()
    p = producer(b.bootstrap)
    # About 400 KiB: well inside the 4 MiB inline backlog.
    for i in range(400):
        p.produce(topic, value=value("inline-outage", i, 1024), partition=i % PARTITIONS, on_delivery=d.cb)
    left = p.flush(20)
    took = time.monotonic() - t0
    print("%s: %d of 400 records acknowledged %.2fs into the outage" % (label, d.count(), took))
    checks.check(left == 0 and d.count() == 400 and not d.failed,
                 "%s: %d acknowledged, %d left, %d failed while S3 was away"
                 % (label, d.count(), left, len(d.failed)))
    time.sleep(1.0)  # a few spill intervals, all failing
    pending = int(private_pg.sql("SELECT count(*) FROM inline_objects"))
    checks.check(pending > 0, "%s: no inline flush waiting while S3 is away" % label)
    proxy.restore()
    deadline = time.monotonic() + 30
    while int(private_pg.sql("SELECT count(*) FROM inline_objects")) > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    left_inline = int(private_pg.sql("SELECT count(*) FROM inline_objects"))
    print("%s: %d inline flushes while S3 was away, %d left 30 s after it came back" % (label, pending, left_inline))
    checks.check(left_inline == 0, "%s: %d inline flushes not spilled after S3 came back" % (label, left_inline))
    acked.update(d.acked)
    verify_log(b, topic, acked, checks, label)
    check_alive_and_clean(b, b.proc.pid, checks, label)
    checks.assert_ok()
