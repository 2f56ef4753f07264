"""43. Retention: retention.ms and retention.bytes delete from the front of
the log like Kafka's, with real clients.

Every broker here runs a retention pass every 200 ms
(`--log-retention-check-interval-ms 200`). Records are produced one batch
per record (confluent-kafka, linger.ms=0, a flush after each produce), so
each batch is one "segment" in Kafka's terms and the new log start can be
predicted exactly:

- retention.ms: the log start moves past the longest prefix of batches whose
  records are all older than now - retention.ms (record CreateTime); an old
  batch after a current one stays, as an old segment after a current one
  does in Kafka.
- retention.bytes: the oldest batches go while the batches that remain still
  hold at least retention.bytes (Kafka: a segment is deleted if the log
  minus it is still >= retention.bytes).
- cleanup.policy=compact alone: nothing is deleted.

After retention: ListOffsets earliest is the new log start, the high
watermark is unchanged, a fetch below the log start gets
OFFSET_OUT_OF_RANGE (with the new log start in Fetch v5+), consumers with
auto.offset.reset=earliest restart at the log start, producing continues at
the next offset, and the objects nobody references any more are garbage
collected.

The raw Fetch v5 (kafka_raw.py) is written from the protocol spec.
"""

from __future__ import annotations

import re
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

import kafka_raw as kr
from clients import end_offset
from helpers import uid

# A retention pass every 200 ms; groups form without the 3 s initial delay.
CHECK = ("--log-retention-check-interval-ms", "200", "--group-initial-rebalance-delay-ms", "300")
MIN = 60 * 1000
OFFSET_OUT_OF_RANGE = 1


def _name(prefix):
    return uid("ret-" + prefix)


def _now_ms():
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# raw Fetch v5 (kafka_raw.py)


def fetch_v5(bootstrap, topic, offset, partition=0, max_bytes=4 * 1024 * 1024):
    """One Fetch v5 with max_wait_ms=0. Returns a dict with error_code,
    high_watermark, log_start_offset and batches [(base_offset,
    last_offset, size_in_bytes, max_timestamp)]."""
    resp, _ = kr.fetch_once(bootstrap, 5, topic, partition, offset, max_bytes=max_bytes,
                            partition_max_bytes=max_bytes)
    assert resp["leftover"] == 0
    out = resp["partitions"].get((topic, partition))
    assert out is not None, "no partition %s-%d in the fetch response" % (topic, partition)
    out["batches"] = [(bt["base_offset"], bt["last_offset"], bt["size"], bt["max_timestamp"])
                      for bt in kr.parse_record_batches(out["records"])]
    return out


# --------------------------------------------------------------------------
# clients and helpers


def create_topics(b, topics: dict, partitions=1):
    """topics: {name: {config}}."""
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    fs = a.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1, config=cfg)
                          for n, cfg in topics.items()], operation_timeout=30)
    for f in fs.values():
        f.result(30)


def produce_batches(b, topic, recs, first_offset=0, partition=0):
    """recs: [(key, value, timestamp_ms)]; every record is its own batch (a
    flush after each produce). Asserts the offsets are first_offset, +1, ..."""
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 0,
                  "enable.idempotence": False, "compression.type": "none",
                  "message.timeout.ms": 30000})
    got = []
    for key, value, ts in recs:
        kw = {} if ts is None else {"timestamp": ts}
        p.produce(topic, key=key, value=value, partition=partition,
                  on_delivery=lambda err, msg: got.append((err, msg.offset())), **kw)
        assert p.flush(30) == 0
    assert got == [(None, first_offset + i) for i in range(len(recs))], got
    return [o for _, o in got]


def watermarks(b, topic, partition=0):
    """(earliest, latest) from ListOffsets via confluent-kafka."""
    return end_offset(b.bootstrap, topic, partition)


def admin_list_offsets(b, topic):
    """(earliest, latest) from the confluent-kafka AdminClient's ListOffsets."""
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    tp = TopicPartition(topic, 0)
    out = []
    for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
        out.append(a.list_offsets({tp: spec}, request_timeout=30)[tp].result(30).offset)
    return tuple(out)


def kp_offsets(b, topic):
    """(beginning, end) from kafka-python's ListOffsets."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    tp = KTP(topic, 0)
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        return c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp]
    finally:
        c.close(autocommit=False)


def log_start(b, topic, partition=0):
    """The log start offset as a Fetch v5 at offset 0 reports it (in range
    or not)."""
    return fetch_v5(b.bootstrap, topic, 0, partition)["log_start_offset"]


def wait_log_start(b, topic, expected, timeout=20.0, partition=0):
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = log_start(b, topic, partition)
        if seen == expected:
            return
        assert seen < expected, "log start of %s went past %d: %d" % (topic, expected, seen)
        time.sleep(0.1)
    raise AssertionError("log start of %s is %r, not %d, after %.0fs" % (topic, seen, expected, timeout))


def metric(b, name, **labels):
    """Sum of the samples of a Prometheus metric whose labels include labels."""
    with urllib.request.urlopen(b.metrics_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^%s(?:\{(.*)\})?\s+(\S+)$" % re.escape(name), line)
        if not m:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


def passes(b):
    return metric(b, "streamhouse_retention_passes_total", outcome="ok")


def wait_passes(b, n, timeout=20.0):
    """Wait until at least n more successful retention passes have run."""
    start = passes(b)
    deadline = time.monotonic() + timeout
    while passes(b) < start + n:
        assert time.monotonic() < deadline, "fewer than %d retention passes in %.0fs" % (n, timeout)
        time.sleep(0.1)
    assert metric(b, "streamhouse_retention_passes_total", outcome="failed") == 0


def consume_group(b, topic, count, timeout=30.0):
    """A new group subscribing with auto.offset.reset=earliest; returns
    [(offset, key, value, timestamp)] of the first count records (and
    checks nothing more arrives for a moment)."""
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": uid("ret-g"),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "session.timeout.ms": 6000})
    c.subscribe([topic])
    return _drain(c, count, timeout)


def consume_assigned(b, topic, offset, count, timeout=30.0):
    """confluent-kafka assign() at an explicit offset with auto.offset.reset=earliest."""
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": uid("ret-a"),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, offset)])
    return _drain(c, count, timeout)


def _drain(c, count, timeout):
    got = []
    try:
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append((m.offset(), m.key(), m.value(), m.timestamp()[1]))
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append((m.offset(), m.key(), m.value(), m.timestamp()[1]))
    finally:
        c.close()
    return got


def kp_consume_from(b, topic, offset, count, timeout=30.0):
    """kafka-python assign + seek(offset) with auto_offset_reset=earliest."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    tp = KTP(topic, 0)
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest")
    got = []
    try:
        c.assign([tp])
        c.seek(tp, offset)
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=200).values():
                got.extend((r.offset, r.key, r.value, r.timestamp) for r in recs)
    finally:
        c.close(autocommit=False)
    return got


def batch_size(key, value):
    """Bytes of a one-record, uncompressed RecordBatch v2 the way a client
    encodes it (timestamp and offset deltas 0, no headers), with the 12-byte
    offset + length prefix: what a log segment holds for it."""
    return len(kr.record_batch([kr.RawRecord(key=key, value=value)], base_timestamp=0))


# --------------------------------------------------------------------------
# tests


def test_retention_ms_by_record_timestamp(broker_factory):
    b = broker_factory(*CHECK)
    topic = _name("ms")
    create_topics(b, {topic: {"retention.ms": str(MIN)}})

    now = _now_ms()
    old = now - 10 * MIN
    plan = [
        (b"k0", b"old-0", old),
        (b"k1", b"old-1", old + 1),
        (b"k2", b"old-2", old + 2),
        (b"k3", b"new-3", now),
        (b"k4", b"new-4", now + 1),
        (b"k5", b"old-5", old + 5),  # old, but after a current batch: stays
        (b"k6", b"new-6", now + 2),
    ]
    produce_batches(b, topic, plan)
    kept = [(o, k, v, ts) for o, (k, v, ts) in enumerate(plan) if o >= 3]

    wait_log_start(b, topic, 3)
    # Several more passes change nothing: the old batch at offset 5 follows a
    # current one, and the current ones are within retention.ms.
    wait_passes(b, 5)

    assert watermarks(b, topic) == (3, 7)
    assert admin_list_offsets(b, topic) == (3, 7)
    assert kp_offsets(b, topic) == (3, 7)

    # Below the log start: OFFSET_OUT_OF_RANGE, with the log start and the
    # unchanged high watermark.
    for off in (0, 2):
        r = fetch_v5(b.bootstrap, topic, off)
        assert (r["error_code"], r["log_start_offset"], r["high_watermark"], r["batches"]) == \
            (OFFSET_OUT_OF_RANGE, 3, 7, []), (off, r)
    r = fetch_v5(b.bootstrap, topic, 3)
    assert (r["error_code"], r["log_start_offset"], r["high_watermark"]) == (0, 3, 7)
    assert [(base, last) for base, last, _, _ in r["batches"]] == [(3, 3), (4, 4), (5, 5), (6, 6)]
    assert [ts for *_, ts in r["batches"]] == [now, now + 1, old + 5, now + 2]

    # Consumers: a new group from the beginning, an assign() at offset 0
    # (out of range, reset to earliest), kafka-python seek(0): all get
    # exactly the kept records at their original offsets.
    assert consume_group(b, topic, 4) == kept
    assert consume_assigned(b, topic, 0, 4) == kept
    assert kp_consume_from(b, topic, 0, 4) == kept

    # Producing continues at the high watermark.
    produce_batches(b, topic, [(b"k7", b"new-7", _now_ms())], first_offset=7)
    assert watermarks(b, topic) == (3, 8)
    assert log_start(b, topic) == 3


def test_retention_ms_expires_everything_then_producing_continues(broker_factory):
    """All batches old: the log start reaches the high watermark (an empty
    log); the next record gets the next offset, consumers from offset 0 or
    a new group get just that record, and the log start survives a restart."""
    b = broker_factory(*CHECK)
    topic = _name("all")
    create_topics(b, {topic: {"retention.ms": str(MIN)}})
    old = _now_ms() - 10 * MIN
    produce_batches(b, topic, [(None, b"old-%d" % i, old + i) for i in range(4)])
    wait_log_start(b, topic, 4)
    assert watermarks(b, topic) == (4, 4)
    r = fetch_v5(b.bootstrap, topic, 0)
    assert (r["error_code"], r["log_start_offset"], r["high_watermark"]) == (OFFSET_OUT_OF_RANGE, 4, 4)
    r = fetch_v5(b.bootstrap, topic, 4)
    assert (r["error_code"], r["log_start_offset"], r["high_watermark"], r["batches"]) == (0, 4, 4, [])

    ts = _now_ms()
    produce_batches(b, topic, [(None, b"new-4", ts)], first_offset=4)
    wait_passes(b, 3)
    assert watermarks(b, topic) == (4, 5)
    assert consume_assigned(b, topic, 0, 1) == [(4, None, b"new-4", ts)]
    assert consume_group(b, topic, 1) == [(4, None, b"new-4", ts)]

    # The log start is durable: after a restart it is where it was.
    b.restart()
    assert watermarks(b, topic) == (4, 5)
    r = fetch_v5(b.bootstrap, topic, 3)
    assert (r["error_code"], r["log_start_offset"], r["high_watermark"]) == (OFFSET_OUT_OF_RANGE, 4, 5)
    produce_batches(b, topic, [(None, b"new-5", _now_ms())], first_offset=5)
    wait_passes(b, 3)
    assert watermarks(b, topic) == (4, 6)


def raw_produce(b, topic, records, base_timestamp):
    """One RecordBatch (several records) with Produce v3, acks=all; returns
    the base offset."""
    with kr.Conn(b.bootstrap) as c:
        corr = c.corr()
        batch = kr.record_batch(records, base_timestamp=base_timestamp)
        res, _, _ = kr.parse_produce_v3(c.request(kr.produce_request_v3(topic, 0, batch, corr), corr))
    err, base, _ = res[(topic, 0)]
    assert err == 0, res
    return base


def test_retention_ms_keeps_a_batch_with_any_current_record(broker_factory):
    """Whole batches go: a batch with old records and one current record
    stays, old records included (Kafka: a segment goes when its largest
    timestamp is older than retention.ms)."""
    b = broker_factory(*CHECK)
    topic = _name("straddle")
    create_topics(b, {topic: {"retention.ms": str(MIN)}})
    now = _now_ms()
    old = now - 10 * MIN
    assert raw_produce(b, topic, [kr.RawRecord(b"a", b"old-0")], old) == 0
    straddle = [kr.RawRecord(b"b", b"old-1"), kr.RawRecord(b"c", b"old-2", timestamp_delta=1),
                kr.RawRecord(b"d", b"new-3", timestamp_delta=now - old - 1)]
    assert raw_produce(b, topic, straddle, old + 1) == 1
    wait_log_start(b, topic, 1)
    wait_passes(b, 5)
    assert watermarks(b, topic) == (1, 4)
    r = fetch_v5(b.bootstrap, topic, 1)
    assert (r["error_code"], r["log_start_offset"], r["high_watermark"]) == (0, 1, 4)
    assert [(base, last, ts) for base, last, _, ts in r["batches"]] == [(1, 3, now)]
    assert consume_assigned(b, topic, 0, 3) == [
        (1, b"b", b"old-1", old + 1), (2, b"c", b"old-2", old + 2), (3, b"d", b"new-3", now)]


def test_retention_bytes(broker_factory):
    """retention.bytes = 3 batches exactly keeps 3 batches; one byte more
    keeps 4 (a batch goes only if what remains still holds retention.bytes)."""
    b = broker_factory(*CHECK)
    n = 10
    recs = [(None, (b"%04d" % i) + b"." * 996, None) for i in range(n)]
    size = batch_size(None, recs[0][1])
    assert size == 1070  # 61-byte batch header + a 1009-byte record
    exact, plus_one = _name("bytes-exact"), _name("bytes-plus1")
    create_topics(b, {exact: {"retention.bytes": str(3 * size)},
                      plus_one: {"retention.bytes": str(3 * size + 1)}})

    for topic, keep in ((exact, 3), (plus_one, 4)):
        produce_batches(b, topic, recs)
        wait_log_start(b, topic, n - keep)
        wait_passes(b, 3)
        assert watermarks(b, topic) == (n - keep, n)
        assert admin_list_offsets(b, topic) == (n - keep, n)

        r = fetch_v5(b.bootstrap, topic, n - keep)
        assert (r["error_code"], r["log_start_offset"], r["high_watermark"]) == (0, n - keep, n)
        batches = r["batches"]
        # The batches are stored as the client sent them, each `size` bytes:
        # what remains holds at least retention.bytes, and would not
        # without its oldest batch.
        assert [(base, last, sz) for base, last, sz, _ in batches] == \
            [(o, o, size) for o in range(n - keep, n)]
        limit = {exact: 3 * size, plus_one: 3 * size + 1}[topic]
        total = sum(sz for _, _, sz, _ in batches)
        assert total >= limit > total - batches[0][2]

        r = fetch_v5(b.bootstrap, topic, n - keep - 1)
        assert (r["error_code"], r["log_start_offset"], r["high_watermark"]) == \
            (OFFSET_OUT_OF_RANGE, n - keep, n)
        # Contents at the original offsets (the timestamps are the
        # producer's clock, so offsets and values).
        got = [(o, v) for o, _, v, _ in consume_group(b, topic, keep)]
        assert got == [(o, recs[o][1]) for o in range(n - keep, n)]

    # One more batch: exactly one more old batch goes.
    produce_batches(b, exact, [(None, b"%04d" % n + b"." * 996, None)], first_offset=n)
    wait_log_start(b, exact, n - 2)
    wait_passes(b, 3)
    assert watermarks(b, exact) == (n - 2, n + 1)


def test_retention_bytes_is_per_partition(broker_factory):
    """retention.bytes limits each partition on its own."""
    value = b"p" * 300
    size = batch_size(None, value)
    b = broker_factory(*CHECK)
    topic = _name("bytes-parts")
    create_topics(b, {topic: {"retention.bytes": str(2 * size)}}, partitions=2)
    produce_batches(b, topic, [(None, value, None)] * 6, partition=0)
    produce_batches(b, topic, [(None, value, None)] * 2, partition=1)
    wait_log_start(b, topic, 4, partition=0)
    wait_passes(b, 5)
    assert watermarks(b, topic, 0) == (4, 6)
    assert watermarks(b, topic, 1) == (0, 2)


def test_log_append_time_topic_uses_the_append_time(broker_factory):
    """On a LogAppendTime topic the broker's timestamps count: records the
    producer stamped 10 minutes ago were appended now and stay."""
    b = broker_factory(*CHECK)
    append, create = _name("append"), _name("create")
    create_topics(b, {append: {"message.timestamp.type": "LogAppendTime", "retention.ms": str(MIN)},
                      create: {"retention.ms": str(MIN)}})
    old = _now_ms() - 10 * MIN
    plan = [(None, b"old-%d" % i, old + i) for i in range(3)]
    produce_batches(b, append, plan)
    produce_batches(b, create, plan)
    wait_log_start(b, create, 3)
    wait_passes(b, 5)
    assert watermarks(b, create) == (3, 3)
    assert watermarks(b, append) == (0, 3)
    got = consume_assigned(b, append, 0, 3)
    assert [(o, v) for o, _, v, _ in got] == [(0, b"old-0"), (1, b"old-1"), (2, b"old-2")]
    assert all(ts > old + 5 * MIN for *_, ts in got), got


def test_compact_only_topic_keeps_everything(broker_factory):
    """cleanup.policy=compact: retention does not delete; with
    compact,delete it does (the control that shows the passes ran)."""
    b = broker_factory(*CHECK)
    compact, both = _name("compact"), _name("compact-delete")
    create_topics(b, {compact: {"cleanup.policy": "compact", "retention.ms": str(MIN)},
                      both: {"cleanup.policy": "compact,delete", "retention.ms": str(MIN)}})
    now = _now_ms()
    old = now - 10 * MIN
    plan = [(b"k%d" % i, b"old-%d" % i, old + i) for i in range(3)] + [(b"k3", b"new-3", now)]
    produce_batches(b, compact, plan)
    produce_batches(b, both, plan)

    wait_log_start(b, both, 3)
    wait_passes(b, 5)
    assert watermarks(b, both) == (3, 4)
    assert watermarks(b, compact) == (0, 4)
    assert admin_list_offsets(b, compact) == (0, 4)
    r = fetch_v5(b.bootstrap, compact, 0)
    assert (r["error_code"], r["log_start_offset"], r["high_watermark"]) == (0, 0, 4)
    assert [(base, last) for base, last, _, _ in r["batches"]] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert consume_group(b, compact, 4) == [(o, k, v, ts) for o, (k, v, ts) in enumerate(plan)]


def test_broker_default_retention_ms(broker_factory):
    """--log-retention-ms applies to topics without retention.ms; a topic's
    own retention.ms=-1 keeps everything."""
    b = broker_factory(*CHECK, "--log-retention-ms", str(MIN))
    default, forever, own = _name("default"), _name("forever"), _name("own")
    create_topics(b, {default: {}, forever: {"retention.ms": "-1"},
                      own: {"retention.ms": str(60 * MIN)}})  # 1 h: the old records are 10 min old
    now = _now_ms()
    old = now - 10 * MIN
    plan = [(None, b"old-0", old), (None, b"old-1", old + 1), (None, b"new-2", now)]
    for t in (default, forever, own):
        produce_batches(b, t, plan)

    wait_log_start(b, default, 2)
    wait_passes(b, 5)
    assert watermarks(b, default) == (2, 3)
    assert watermarks(b, forever) == (0, 3)
    assert watermarks(b, own) == (0, 3)
    assert [(o, v) for o, _, v, _ in consume_group(b, default, 1)] == [(2, b"new-2")]
    assert [(o, v) for o, _, v, _ in consume_group(b, forever, 3)] == [(0, b"old-0"), (1, b"old-1"), (2, b"new-2")]


def test_broker_default_retention_bytes(broker_factory):
    """--log-retention-bytes applies to topics without retention.bytes; a
    topic's own retention.bytes=-1 keeps everything."""
    value = b"v" * 200
    size = batch_size(None, value)
    b = broker_factory(*CHECK, "--log-retention-bytes", str(2 * size))
    default, unlimited = _name("bdefault"), _name("bunlimited")
    create_topics(b, {default: {}, unlimited: {"retention.bytes": "-1"}})
    for t in (default, unlimited):
        produce_batches(b, t, [(None, value, None)] * 5)
    wait_log_start(b, default, 3)
    wait_passes(b, 5)
    assert watermarks(b, default) == (3, 5)
    assert watermarks(b, unlimited) == (0, 5)


def test_expired_objects_are_garbage_collected(broker_factory):
    """Once every batch in an object is gone from the index, GC deletes the
    object (after --orphan-grace-ms); objects of other topics stay, and the
    retention metrics count the deleted offsets."""
    # Every flush an object (no inline flushes), so objects can be counted
    # per batch.
    b = broker_factory(*CHECK, "--orphan-grace-ms", "500", "--gc-interval-ms", "200", "--inline-bytes-max", "0")
    keep, expire = _name("keep"), _name("expire")
    retention_ms = 8000
    create_topics(b, {keep: {}, expire: {"retention.ms": str(retention_ms)}})

    def objects():
        # Committed objects are <2 hex>/<2 hex>/<node>-<uuid>.sho; puts go
        # through objects/.tmp first.
        return {p.relative_to(b.data_dir) for p in b.object_files()
                if p.suffix == ".sho" and ".tmp" not in p.parts}

    assert objects() == set()
    produce_batches(b, keep, [(None, b"keep-%d" % i, None) for i in range(3)])
    keep_objects = objects()
    assert len(keep_objects) == 3, keep_objects  # one flush, one object, per batch

    produced_at = _now_ms()
    produce_batches(b, expire, [(None, b"expire-%d" % i, produced_at + i) for i in range(4)])
    all_objects = objects()
    assert all_objects > keep_objects and len(all_objects) == 7, all_objects
    assert _now_ms() < produced_at + retention_ms, "too slow: the records expired before the objects were counted"
    assert watermarks(b, expire) == (0, 4)
    assert metric(b, "streamhouse_retention_offsets_deleted_total") == 0

    # The records expire retention_ms after their timestamps.
    wait_log_start(b, expire, 4, timeout=retention_ms / 1000 + 20)
    assert _now_ms() >= produced_at + 3 + retention_ms
    assert watermarks(b, expire) == (4, 4)

    deadline = time.monotonic() + 20
    while objects() != keep_objects:
        assert time.monotonic() < deadline, "objects after retention: %r, expected %r" % (objects(), keep_objects)
        assert objects() >= keep_objects
        time.sleep(0.1)
    assert metric(b, "streamhouse_retention_offsets_deleted_total") == 4
    assert metric(b, "streamhouse_gc_objects_deleted_total", kind="unreferenced") == 4

    # The other topic reads in full; the expired one takes new records at
    # the next offset, in a new object.
    assert [(o, v) for o, _, v, _ in consume_group(b, keep, 3)] == [(i, b"keep-%d" % i) for i in range(3)]
    ts = _now_ms()
    produce_batches(b, expire, [(None, b"expire-4", ts)], first_offset=4)
    assert len(objects()) == 4
    assert consume_assigned(b, expire, 0, 1) == [(4, None, b"expire-4", ts)]
