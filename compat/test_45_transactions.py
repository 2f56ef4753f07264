"""45. Transactions (exactly-once, KIP-98) with real clients and raw frames.

The broker is Kafka's transaction coordinator (FindCoordinator key_type 1,
InitProducerId with a transactional id, AddPartitionsToTxn,
AddOffsetsToTxn, TxnOffsetCommit, EndTxn), writes COMMIT / ABORT control
markers (one per partition of the transaction, each taking one offset),
serves read_committed fetches up to the last stable offset (LSO) with the
list of aborted transactions, fences zombies (an older epoch of a
transactional id), aborts transactions older than their
transaction.timeout.ms (checked every --transaction-abort-check-interval-ms,
200 here) and answers DescribeTransactions, ListTransactions and
DescribeProducers.

Every test asserts the exact log: for each partition, the offsets of the
data records and of the markers (read raw, READ_UNCOMMITTED), and what a
read_committed / read_uncommitted consumer gets (offsets and values).

1. confluent-kafka, 2 topics x 2 partitions: a committed transaction of
   100 records, an aborted one of 50, a committed one of 20.
   A read_committed fetch starting inside the aborted transaction.
2. read_committed stops at the LSO while a transaction is open (raw Fetch,
   ListOffsets, librdkafka's fetch position), and continues after commit.
   Two producers' transactions and a plain record interleaved on one
   partition: nothing past the oldest open transaction is readable until it
   ends; after its abort exactly the rest is.
3. consume-transform-produce with confluent-kafka (group consumer,
   read_committed, send_offsets_to_transaction, batches of 50), one batch
   aborted and re-processed, one "crash" mid-transaction (the producer and
   consumer vanish, a new producer with the same transactional.id takes
   over): every input exactly once in the output, the group's offsets at
   the input end, the zombie's commit fails.
4. zombie fencing: a second producer with the same transactional.id fences
   the first, whose open transaction is aborted and whose writes are refused.
5. the broker aborts a transaction older than transaction.timeout.ms: LSO
   advances, the producer's commit fails, the same id can go on.
6. offsets sent in an aborted transaction are not applied, in a committed
   one they are; pending ones are not visible before the commit, and an
   OffsetFetch with require_stable gets UNSTABLE_OFFSET_COMMIT (88).
7. kafkajs (compat/js/transactions.js): commit, abort, sendOffsets; its
   readUncommitted:false group consumer sees only committed records.
8. @confluentinc/kafka-javascript (ckjs): commit and abort.
9. kafka-python and aiokafka transactional producers (commit, abort,
   send_offsets_to_transaction) and their read_committed consumers.
10. two brokers on PostgreSQL + S3: the other broker answers
    NOT_COORDINATOR for the id; kill -9 of the transaction coordinator
    between transactions; the producer and then a new one with the same
    transactional.id go on; then (the dead broker restarted) kill -9 of the
    coordinator while a transaction is open: the commit completes through
    the new coordinator. Exactly the committed records are visible.
    Needs STREAMHOUSE_TEST_POSTGRES_URL / S3 (scripts/test.sh), like test_41.
11. raw frames: ApiVersions, FindCoordinator, InitProducerId (epoch bump,
    INVALID_TRANSACTION_TIMEOUT), AddPartitionsToTxn (unknown topic),
    transactional Produce to a partition not in the transaction
    (INVALID_TXN_STATE), ListTransactions, DescribeTransactions,
    DescribeProducers, EndTxn with a stale epoch per version (47 / 90),
    EndTxn retries.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

import kafka_raw as kr
from backends import s3_args
from clients import AIOConsumer, KPConsumer, create_topic
from cluster_helpers import create_topic_raw, wait_cluster, wait_until
from conftest import _new_broker, _teardown
from helpers import run_node, uid

OFFSET_FETCH = 9
FIND_COORDINATOR = 10
INIT_PRODUCER_ID = 22
ADD_PARTITIONS_TO_TXN = 24
ADD_OFFSETS_TO_TXN = 25
END_TXN = 26
TXN_OFFSET_COMMIT = 28
DESCRIBE_PRODUCERS = 61
DESCRIBE_TRANSACTIONS = 65
LIST_TRANSACTIONS = 66

UNKNOWN_TOPIC_OR_PARTITION = 3
NOT_COORDINATOR = 16
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_TRANSACTION_TIMEOUT = 50
OPERATION_NOT_ATTEMPTED = 55
UNSTABLE_OFFSET_COMMIT = 88
PRODUCER_FENCED = 90
TRANSACTIONAL_ID_NOT_FOUND = 105

READ_UNCOMMITTED = 0
READ_COMMITTED = 1

ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20

ABORT_CHECK_MS = 200
BROKER_FLAGS = ["--transaction-abort-check-interval-ms", str(ABORT_CHECK_MS),
                "--group-initial-rebalance-delay-ms", "300"]
PG_DATABASE_PREFIX = "compat_txn"

# librdkafka reports a fenced transactional producer as the fatal _FENCED
# (or the broker's own code).
FENCED_CODES = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


@pytest.fixture(scope="module")
def tbroker(tmp_path_factory):
    b = _new_broker(tmp_path_factory, BROKER_FLAGS)
    yield b
    _teardown(b)


# --------------------------------------------------------------------------
# raw frames


def call(bootstrap, api_key, version, body, flexible=False, timeout=15.0):
    """One request on a new connection: a Reader over the response body."""
    with kr.Conn(bootstrap, timeout=timeout) as c:
        corr = c.corr()
        data = c.request(kr.request_header(api_key, version, corr, flexible=flexible) + body, corr,
                         flexible_response_header=flexible)
    return kr.Reader(data)


def cstr_array(items):
    return kr.uvarint(len(items) + 1) + b"".join(kr.compact_string(s) for s in items)


def api_versions(bootstrap):
    with kr.Conn(bootstrap) as c:
        corr = c.corr()
        err, apis, _ = kr.parse_api_versions_v0(c.request(kr.api_versions_request(0, corr), corr))
    assert err == 0
    return apis


def find_coordinator(bootstrap, key, key_type=1):
    """FindCoordinator v1: (error_code, node_id, host, port)."""
    r = call(bootstrap, FIND_COORDINATOR, 1, kr.string(key) + kr.int8(key_type))
    r.int32()
    err = r.int16()
    r.string()  # error message
    out = (err, r.int32(), r.string(), r.int32())
    assert r.remaining() == 0
    return out


def init_pid(bootstrap, tid, timeout_ms=60000, version=1):
    """InitProducerId v0/v1: (error_code, producer_id, producer_epoch)."""
    r = call(bootstrap, INIT_PRODUCER_ID, version, kr.string(tid) + kr.int32(timeout_ms))
    r.int32()
    out = (r.int16(), r.int64(), r.int16())
    assert r.remaining() == 0
    return out


def add_partitions(bootstrap, tid, pid, epoch, topics, version=1):
    """AddPartitionsToTxn v0-v2: topics {name: [partition]} ->
    {(name, partition): error_code}."""
    body = kr.string(tid) + kr.int64(pid) + kr.int16(epoch) + kr.array(
        [kr.string(t) + kr.array([kr.int32(p) for p in ps]) for t, ps in topics.items()])
    r = call(bootstrap, ADD_PARTITIONS_TO_TXN, version, body)
    r.int32()
    out = {}
    for _ in range(r.int32()):
        name = r.string()
        for _ in range(r.int32()):
            p = r.int32()
            out[(name, p)] = r.int16()
    assert r.remaining() == 0
    return out


def end_txn(bootstrap, tid, pid, epoch, commit, version=1):
    """EndTxn v0-v3: error_code."""
    if version >= 3:
        body = kr.compact_string(tid) + kr.int64(pid) + kr.int16(epoch) + kr.int8(int(commit)) + kr.uvarint(0)
        r = call(bootstrap, END_TXN, version, body, flexible=True)
    else:
        r = call(bootstrap, END_TXN, version, kr.string(tid) + kr.int64(pid) + kr.int16(epoch) + kr.int8(int(commit)))
    r.int32()
    err = r.int16()
    if version >= 3:
        r.tagged_fields()
    assert r.remaining() == 0
    return err


def txn_batch(values, pid, epoch, seq, ts):
    return kr.record_batch([kr.RawRecord(key=None, value=v) for v in values], base_timestamp=ts,
                           attributes=ATTR_TRANSACTIONAL, producer_id=pid, producer_epoch=epoch, base_sequence=seq)


def txn_produce(bootstrap, tid, topic, partition, batch):
    """Produce v3 carrying transactional_id: (error_code, base_offset)."""
    body = (kr.string(tid) + kr.int16(-1) + kr.int32(30000)
            + kr.array([kr.string(topic) + kr.array([kr.int32(partition) + kr.bytes_(batch)])]))
    with kr.Conn(bootstrap, timeout=30) as c:
        corr = c.corr()
        res, _, left = kr.parse_produce_v3(c.request(kr.request_header(kr.PRODUCE, 3, corr) + body, corr))
    assert left == 0 and set(res) == {(topic, partition)}, res
    err, base, _ = res[(topic, partition)]
    return err, base


def list_transactions(bootstrap, states=(), pids=()):
    """ListTransactions v0: (error_code, unknown_state_filters,
    sorted [(transactional_id, producer_id, state)])."""
    body = cstr_array(list(states)) + kr.uvarint(len(pids) + 1) + b"".join(kr.int64(p) for p in pids) + kr.uvarint(0)
    r = call(bootstrap, LIST_TRANSACTIONS, 0, body, flexible=True)
    r.int32()
    err = r.int16()
    unknown = r.compact_array(r.compact_string)

    def state():
        s = (r.compact_string(), r.int64(), r.compact_string())
        r.tagged_fields()
        return s

    states_out = r.compact_array(state)
    r.tagged_fields()
    assert r.remaining() == 0
    return err, unknown, sorted(states_out or [])


def describe_transactions(bootstrap, tids):
    """DescribeTransactions v0: [dict] in answer order."""
    r = call(bootstrap, DESCRIBE_TRANSACTIONS, 0, cstr_array(tids) + kr.uvarint(0), flexible=True)
    r.int32()

    def topic():
        t = (r.compact_string(), r.compact_array(r.int32))
        r.tagged_fields()
        return t

    def state():
        s = {"error_code": r.int16(), "transactional_id": r.compact_string(), "state": r.compact_string(),
             "timeout_ms": r.int32(), "start_time_ms": r.int64(), "producer_id": r.int64(),
             "producer_epoch": r.int16()}
        s["topics"] = sorted((n, sorted(ps or [])) for n, ps in (r.compact_array(topic) or []))
        r.tagged_fields()
        return s

    out = r.compact_array(state)
    r.tagged_fields()
    assert r.remaining() == 0
    return out


def describe_producers(bootstrap, topic, partitions):
    """DescribeProducers v0: {partition: (error_code, [producer dict])}."""
    body = kr.uvarint(2) + kr.compact_string(topic) + kr.uvarint(len(partitions) + 1) + b"".join(
        kr.int32(p) for p in partitions) + kr.uvarint(0) + kr.uvarint(0)
    r = call(bootstrap, DESCRIBE_PRODUCERS, 0, body, flexible=True)
    r.int32()

    def producer():
        d = {"producer_id": r.int64(), "producer_epoch": r.int32(), "last_sequence": r.int32(),
             "last_timestamp": r.int64(), "coordinator_epoch": r.int32(), "current_txn_start_offset": r.int64()}
        r.tagged_fields()
        return d

    out = {}

    def partition():
        idx, err = r.int32(), r.int16()
        r.compact_string()  # error message
        out[idx] = (err, r.compact_array(producer) or [])
        r.tagged_fields()

    def topic_():
        name = r.compact_string()
        assert name == topic, name
        r.compact_array(partition)
        r.tagged_fields()

    r.compact_array(topic_)
    r.tagged_fields()
    assert r.remaining() == 0
    return out


def list_offset(bootstrap, topic, partition, isolation, timestamp=-1):
    """ListOffsets v2 (latest by default): (error_code, offset)."""
    body = kr.int32(-1) + kr.int8(isolation) + kr.array(
        [kr.string(topic) + kr.array([kr.int32(partition) + kr.int64(timestamp)])])
    r = call(bootstrap, kr.LIST_OFFSETS, 2, body)
    r.int32()
    res = {}
    for _ in range(r.int32()):
        name = r.string()
        for _ in range(r.int32()):
            p, err = r.int32(), r.int16()
            r.int64()  # timestamp
            off = r.int64()
            res[(name, p)] = (err, off)
    assert r.remaining() == 0 and set(res) == {(topic, partition)}, res
    return res[(topic, partition)]


def offset_fetch_v7(bootstrap, group, topic, partitions, require_stable):
    """OffsetFetch v7 (flexible, require_stable): (error_code, {partition:
    (error_code, committed_offset)})."""
    body = (kr.compact_string(group) + kr.uvarint(2) + kr.compact_string(topic)
            + kr.uvarint(len(partitions) + 1) + b"".join(kr.int32(p) for p in partitions) + kr.uvarint(0)
            + kr.int8(int(require_stable)) + kr.uvarint(0))
    r = call(bootstrap, OFFSET_FETCH, 7, body, flexible=True)
    r.int32()
    out = {}

    def partition():
        idx, off = r.int32(), r.int64()
        r.int32()  # leader epoch
        r.compact_string()  # metadata
        out[idx] = (r.int16(), off)
        r.tagged_fields()

    def topic_():
        assert r.compact_string() == topic
        r.compact_array(partition)
        r.tagged_fields()

    r.compact_array(topic_)
    err = r.int16()
    r.tagged_fields()
    assert r.remaining() == 0
    return err, out


def fetch(bootstrap, topic, partition, offset, isolation, max_bytes=1024 * 1024):
    """Fetch v4 of one partition with this isolation level: the partition's
    answer (error_code, high_watermark, last_stable_offset,
    aborted_transactions [(producer_id, first_offset)], records)."""
    body = (kr.int32(-1) + kr.int32(0) + kr.int32(0) + kr.int32(50 * 1024 * 1024) + kr.int8(isolation)
            + kr.array([kr.string(topic) + kr.array([kr.int32(partition) + kr.int64(offset) + kr.int32(max_bytes)])]))
    r = call(bootstrap, kr.FETCH, 4, body, timeout=20)
    resp = kr.parse_fetch(r.data[r.pos:], 4)
    assert resp["leftover"] == 0
    p = resp["partitions"][(topic, partition)]
    p["aborted_transactions"] = sorted(p["aborted_transactions"] or [])
    return p


def parse_batches(data):
    """The complete uncompressed RecordBatch v2 in data: [{base_offset,
    last_offset, attributes, producer_id, producer_epoch, base_sequence,
    max_timestamp, records: [(offset, key, value)]}]."""
    out = []
    for b in kr.parse_record_batches(data):
        assert b["crc_ok"], "bad CRC in the batch at offset %d" % b["base_offset"]
        assert b["records"] is not None, "compressed batch at offset %d" % b["base_offset"]
        out.append({k: b[k] for k in ("base_offset", "last_offset", "attributes", "producer_id", "producer_epoch",
                                      "base_sequence", "max_timestamp", "records")})
    return out


def read_log(bootstrap, topic, partition, timeout=30.0):
    """Every batch of the partition up to the high watermark (raw Fetch v4,
    READ_UNCOMMITTED): (high watermark, last stable offset, [batch])."""
    batches = []
    offset = 0
    end = time.monotonic() + timeout
    while True:
        p = fetch(bootstrap, topic, partition, offset, READ_UNCOMMITTED)
        assert p["error_code"] == 0, "Fetch %s/%d@%d: error %d" % (topic, partition, offset, p["error_code"])
        new = [b for b in parse_batches(p["records"]) if b["last_offset"] >= offset]
        batches += new
        if new:
            offset = new[-1]["last_offset"] + 1
        if offset >= p["high_watermark"]:
            return p["high_watermark"], p["last_stable_offset"], batches
        assert time.monotonic() < end, "read up to %d of %s/%d, high watermark %d" % (
            offset, topic, partition, p["high_watermark"])


def marker_kind(batch):
    """"COMMIT" / "ABORT" for a control batch (key: version int16, type int16)."""
    assert batch["attributes"] & (ATTR_CONTROL | ATTR_TRANSACTIONAL) == ATTR_CONTROL | ATTR_TRANSACTIONAL, batch
    assert len(batch["records"]) == 1, batch
    _, key, value = batch["records"][0]
    version, kind = struct.unpack(">hh", key)
    assert version == 0 and kind in (0, 1), (version, kind)
    assert value is not None and len(value) >= 6 and struct.unpack_from(">h", value)[0] == 0, value
    return "COMMIT" if kind == 1 else "ABORT"


def layout(batches):
    """The log as [(offset, value)] for data records and [(offset, "COMMIT" |
    "ABORT")] for markers, in offset order."""
    out = []
    for b in batches:
        if b["attributes"] & ATTR_CONTROL:
            out.append((b["base_offset"], marker_kind(b)))
        else:
            out.extend((o, v) for o, _k, v in b["records"])
    return out


def producers_in(batches):
    """{(producer_id, producer_epoch)} of the data batches."""
    return {(b["producer_id"], b["producer_epoch"]) for b in batches if not b["attributes"] & ATTR_CONTROL}


def markers(batches):
    return [(b["base_offset"], marker_kind(b), b["producer_id"], b["producer_epoch"])
            for b in batches if b["attributes"] & ATTR_CONTROL]


class Layout:
    """The expected log of one partition, built transaction by transaction."""

    def __init__(self):
        self.entries = []  # [(offset, value | "COMMIT" | "ABORT")]
        self.committed = []  # [(offset, value)] visible to read_committed
        self.all = []  # [(offset, value)] every data record

    @property
    def end(self):
        return len(self.entries)

    def txn(self, values, outcome):
        """Records of one transaction, then its marker ("COMMIT"/"ABORT"),
        or no marker (None: the transaction is still open)."""
        first = self.end
        recs = [(first + i, v) for i, v in enumerate(values)]
        self.entries += recs
        self.all += recs
        if outcome == "COMMIT":
            self.committed += recs
        if outcome is not None:
            self.entries.append((self.end, outcome))
        return first


def check_log(bootstrap, topic, partition, want: Layout, lso=None):
    """The partition holds exactly want.entries: returns the batches."""
    hw, got_lso, batches = read_log(bootstrap, topic, partition)
    got = layout(batches)
    assert got == want.entries, "%s/%d: log differs from the expected layout:\n got %r\nwant %r" % (
        topic, partition, got[:60], want.entries[:60])
    assert hw == want.end, (topic, partition, hw, want.end)
    assert got_lso == (want.end if lso is None else lso), "%s/%d: last stable offset %d, expected %d" % (
        topic, partition, got_lso, want.end if lso is None else lso)
    for b in batches:
        if not b["attributes"] & ATTR_CONTROL:
            assert b["attributes"] & ATTR_TRANSACTIONAL, "%s/%d: a data batch at %d is not transactional" % (
                topic, partition, b["base_offset"])
    return batches


# --------------------------------------------------------------------------
# confluent-kafka helpers


def ck_producer(bootstrap, tid, errors=None, **extra):
    """An initialised confluent-kafka transactional producer. Client errors
    (a fatal one included) go to the list `errors` instead of being raised
    by poll()/flush()."""
    errors = [] if errors is None else errors
    conf = {"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5, "acks": "all",
            "error_cb": errors.append}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(30)
    return p


class Deliveries:
    """Delivery reports of a confluent-kafka producer: .ok [(topic,
    partition, offset, value)] and .failed [(value, KafkaError)]."""

    def __init__(self):
        self.ok = []
        self.failed = []

    def __call__(self, err, msg):
        if err is not None:
            self.failed.append((msg.value(), err))
        else:
            self.ok.append((msg.topic(), msg.partition(), msg.offset(), msg.value()))

    def offsets(self, topic, partition):
        return [(o, v) for t, p, o, v in self.ok if (t, p) == (topic, partition)]


def ck_send(p, dr, topic, partition, values):
    for v in values:
        p.produce(topic, value=v, partition=partition, on_delivery=dr)
        p.poll(0)


class Reader:
    """A confluent-kafka consumer assigned to partitions from offset 0 with
    an isolation level; .until(ends) consumes until librdkafka's fetch
    position of every partition is exactly ends[(topic, partition)] and
    returns the records that arrived meanwhile."""

    def __init__(self, bootstrap, tps, isolation="read_committed", group=None, start=0):
        self.stats = {}
        self.c = Consumer({
            "bootstrap.servers": bootstrap, "group.id": group or uid("txn-reader"),
            "enable.auto.commit": False, "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
            "isolation.level": isolation, "fetch.wait.max.ms": 100, "statistics.interval.ms": 100,
            "stats_cb": self._on_stats, "topic.metadata.refresh.interval.ms": 1000,
        })
        self.tps = list(tps)
        self.c.assign([TopicPartition(t, p, start) for t, p in self.tps])

    def _on_stats(self, raw):
        try:
            self.stats = json.loads(raw)
        except ValueError:
            pass

    def fetch_position(self, topic, partition):
        part = self.stats.get("topics", {}).get(topic, {}).get("partitions", {}).get(str(partition), {})
        return part.get("fetch_state"), part.get("next_offset")

    def _consume(self, t):
        out = []
        for m in self.c.consume(num_messages=1000, timeout=t):
            if m.error():
                raise KafkaException(m.error())
            out.append(((m.topic(), m.partition()), m.offset(), m.value()))
        return out

    def until(self, ends, timeout=30.0, settle=0.3):
        got = {tp: [] for tp in self.tps}
        deadline = time.monotonic() + timeout
        reached_at = None
        while True:
            for tp, o, v in self._consume(0.1):
                got[tp].append((o, v))
            positions = {tp: self.fetch_position(*tp) for tp in ends}
            if all(st == "active" and nxt == ends[tp] for tp, (st, nxt) in positions.items()):
                if reached_at is None:
                    reached_at = time.monotonic()
                if time.monotonic() - reached_at >= settle:
                    return got
            else:
                reached_at = None
            if time.monotonic() > deadline:
                raise AssertionError("consumer never reached fetch positions %r (last %r); got %r" % (
                    ends, positions, {tp: recs[-3:] for tp, recs in got.items()}))

    def close(self):
        self.c.close()


def read_all(bootstrap, ends, isolation="read_committed", start=0):
    r = Reader(bootstrap, list(ends), isolation, start=start)
    try:
        return r.until(ends)
    finally:
        r.close()


def committed_offsets(bootstrap, group, topic, partitions, isolation="read_uncommitted"):
    """The group's committed offsets (OffsetFetch; read_committed asks with
    require_stable): {partition: offset}, -1001 = none."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "isolation.level": isolation})
    try:
        res = c.committed([TopicPartition(topic, p) for p in partitions], timeout=15)
    finally:
        c.close()
    for tp in res:
        assert tp.error is None, tp
    return {tp.partition: tp.offset for tp in res}


# --------------------------------------------------------------------------
# 1. confluent-kafka: commit, abort, commit over 2 topics x 2 partitions


def route(i):
    """Record i of a transaction: (topic index, partition)."""
    return i % 2, (i // 2) % 2


def test_commit_abort_commit_confluent(tbroker):
    b = tbroker.bootstrap
    topics = [uid("txn-a"), uid("txn-b")]
    for t in topics:
        create_topic(b, t, 2)
    tps = [(t, p) for t in topics for p in (0, 1)]
    want = {tp: Layout() for tp in tps}
    p = ck_producer(b, uid("tid-1"))
    dr = Deliveries()

    def txn(tag, n, outcome):
        per = {tp: [] for tp in tps}
        p.begin_transaction()
        for i in range(n):
            ti, part = route(i)
            v = b"%s-%03d" % (tag.encode(), i)
            per[(topics[ti], part)].append(v)
            p.produce(topics[ti], value=v, partition=part, on_delivery=dr)
            p.poll(0)
        assert p.flush(30) == 0
        if outcome == "COMMIT":
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
        for tp in tps:
            want[tp].txn(per[tp], outcome)
        return per

    per1 = txn("c1", 100, "COMMIT")
    assert sorted(len(v) for v in per1.values()) == [25, 25, 25, 25]
    assert all(want[tp].end == 26 for tp in tps)  # 25 records + 1 marker
    assert read_all(b, {tp: 26 for tp in tps}) == {tp: want[tp].committed for tp in tps}

    per2 = txn("a2", 50, "ABORT")
    assert {tp: len(v) for tp, v in per2.items()} == {
        (topics[0], 0): 13, (topics[1], 0): 13, (topics[0], 1): 12, (topics[1], 1): 12}
    ends = {tp: want[tp].end for tp in tps}
    assert read_all(b, ends) == {tp: want[tp].committed for tp in tps}  # none of the aborted 50
    unc = read_all(b, ends, "read_uncommitted")
    assert unc == {tp: want[tp].all for tp in tps}
    assert sum(len(v) for v in unc.values()) == 150

    txn("c3", 20, "COMMIT")
    ends = {tp: want[tp].end for tp in tps}
    got = read_all(b, ends)
    assert got == {tp: want[tp].committed for tp in tps}
    assert sum(len(v) for v in got.values()) == 120
    assert sum(len(v) for v in read_all(b, ends, "read_uncommitted").values()) == 170

    assert not dr.failed, dr.failed[:5]
    for tp in tps:
        assert dr.offsets(*tp) == want[tp].all, tp

    # The raw log: records and markers at the expected offsets, one producer;
    # read_committed answers list the aborted transaction.
    pids = set()
    for tp in tps:
        batches = check_log(b, tp[0], tp[1], want[tp])
        pids |= producers_in(batches)
        (pid, epoch), = producers_in(batches)
        abort_at = 26 + len(per2[tp])
        assert markers(batches) == [(25, "COMMIT", pid, epoch), (abort_at, "ABORT", pid, epoch),
                                    (want[tp].end - 1, "COMMIT", pid, epoch)]
        rc = fetch(b, tp[0], tp[1], 0, READ_COMMITTED)
        assert (rc["error_code"], rc["high_watermark"], rc["last_stable_offset"]) == (0, want[tp].end, want[tp].end)
        assert rc["aborted_transactions"] == [(pid, 26)], (tp, rc["aborted_transactions"])
    assert len(pids) == 1, pids

    # A read_committed fetch starting inside the aborted transaction still
    # lists it (it began before the fetch offset), and a consumer starting
    # there sees only the third transaction.
    tp = (topics[0], 0)
    rc = fetch(b, tp[0], tp[1], 28, READ_COMMITTED)
    assert rc["aborted_transactions"] == [(pid, 26)], rc["aborted_transactions"]
    c3 = [(o, v) for o, v in want[tp].committed if o > 28]
    assert len(c3) == 5
    assert read_all(b, {tp: want[tp].end}, start=28) == {tp: c3}


# --------------------------------------------------------------------------
# 2. read_committed stops at the last stable offset of an open transaction


def test_read_committed_stops_at_lso(tbroker):
    b = tbroker.bootstrap
    topic = uid("txn-lso")
    create_topic(b, topic, 1)
    tp = (topic, 0)
    want = Layout()
    p = ck_producer(b, uid("tid-2"))
    dr = Deliveries()
    first = [b"first-%d" % i for i in range(5)]
    p.begin_transaction()
    ck_send(p, dr, topic, 0, first)
    p.commit_transaction(30)
    want.txn(first, "COMMIT")  # 0..4, marker 5

    reader = Reader(b, [tp])
    try:
        assert reader.until({tp: 6}) == {tp: want.committed}
        open_vals = [b"open-%d" % i for i in range(7)]
        p.begin_transaction()
        ck_send(p, dr, topic, 0, open_vals)
        assert p.flush(30) == 0
        assert dr.offsets(topic, 0) == list(enumerate(first)) + [(6 + i, v) for i, v in enumerate(open_vals)]
        want.txn(open_vals, None)  # 6..12, no marker yet
        # The log holds them, but the LSO stays at 6 (the open transaction's first offset).
        check_log(b, topic, 0, want, lso=6)
        rc = fetch(b, topic, 0, 6, READ_COMMITTED)
        assert (rc["error_code"], rc["high_watermark"], rc["last_stable_offset"], parse_batches(rc["records"])) == (
            0, 13, 6, []), rc
        assert list_offset(b, topic, 0, READ_COMMITTED) == (0, 6)
        assert list_offset(b, topic, 0, READ_UNCOMMITTED) == (0, 13)
        # librdkafka's read_committed consumer: its fetch position stays at
        # the LSO, nothing more arrives; its ListOffsets (read_committed) says 6.
        assert reader.until({tp: 6}, settle=1.5) == {tp: []}
        assert reader.c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 6)
        unc = Reader(b, [tp], "read_uncommitted")
        try:
            assert unc.until({tp: 13}) == {tp: want.all}
            assert unc.c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 13)
        finally:
            unc.close()

        p.commit_transaction(30)
        want.entries.append((13, "COMMIT"))
        want.committed += want.all[5:]
        assert reader.until({tp: 14}) == {tp: [(6 + i, v) for i, v in enumerate(open_vals)]}
        assert list_offset(b, topic, 0, READ_COMMITTED) == (0, 14)
        assert reader.c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 14)
    finally:
        reader.close()
    check_log(b, topic, 0, want)


def test_interleaved_transactions_and_plain_records(tbroker):
    """Two producers' transactions and a plain record interleaved on one
    partition: the LSO is the first offset of the oldest open transaction,
    so nothing after it (not even a committed transaction or a plain
    record) is readable until that one ends; after it aborts, exactly the
    other producer's records and the plain one are visible."""
    b = tbroker.bootstrap
    topic = uid("txn-interleaved")
    create_topic(b, topic, 1)
    tp = (topic, 0)
    p1, p2 = ck_producer(b, uid("tid-i1")), ck_producer(b, uid("tid-i2"))
    plain = Producer({"bootstrap.servers": b, "linger.ms": 0, "acks": "all"})
    dr = Deliveries()
    v1 = [b"p1-%d" % i for i in range(3)]
    v2 = [b"p2-%d" % i for i in range(2)]
    p1.begin_transaction()
    ck_send(p1, dr, topic, 0, v1)
    assert p1.flush(30) == 0  # 0..2, open
    plain.produce(topic, value=b"plain-0", partition=0, on_delivery=dr)
    assert plain.flush(30) == 0  # 3
    p2.begin_transaction()
    ck_send(p2, dr, topic, 0, v2)
    p2.commit_transaction(30)  # 4..5, marker 6
    assert not dr.failed and dr.offsets(topic, 0) == list(enumerate(v1 + [b"plain-0"] + v2))

    hw, lso, batches = read_log(b, topic, 0)
    assert (hw, lso) == (7, 0)
    assert layout(batches) == list(enumerate(v1 + [b"plain-0"] + v2)) + [(6, "COMMIT")]
    assert list_offset(b, topic, 0, READ_COMMITTED) == (0, 0)
    reader = Reader(b, [tp])
    try:
        assert reader.until({tp: 0}, settle=1.0) == {tp: []}
        p1.abort_transaction(30)  # marker 7
        assert reader.until({tp: 8}) == {tp: [(3, b"plain-0"), (4, v2[0]), (5, v2[1])]}
    finally:
        reader.close()
    hw, lso, batches = read_log(b, topic, 0)
    assert (hw, lso) == (8, 8)
    assert layout(batches) == list(enumerate(v1 + [b"plain-0"] + v2)) + [(6, "COMMIT"), (7, "ABORT")]
    (pid1, _), = producers_in([x for x in batches if x["base_offset"] == 0])
    (pid2, _), = producers_in([x for x in batches if x["base_offset"] == 4])
    assert pid1 != pid2
    assert [(o, k, pi) for o, k, pi, _ in markers(batches)] == [(6, "COMMIT", pid2), (7, "ABORT", pid1)]
    rc = fetch(b, topic, 0, 0, READ_COMMITTED)
    assert (rc["high_watermark"], rc["last_stable_offset"], rc["aborted_transactions"]) == (8, 8, [(pid1, 0)])
    assert read_all(b, {tp: 8}, "read_uncommitted") == {tp: list(enumerate(v1 + [b"plain-0"] + v2))}


# --------------------------------------------------------------------------
# 3. consume-transform-produce, exactly once


EOS_PER_PARTITION = 100
EOS_BATCH = 50


def test_consume_transform_produce_exactly_once(tbroker):
    b = tbroker.bootstrap
    src, dst = uid("eos-in"), uid("eos-out")
    create_topic(b, src, 2)
    create_topic(b, dst, 1)
    inputs = {part: [b"in-%d-%03d" % (part, i) for i in range(EOS_PER_PARTITION)] for part in (0, 1)}
    plain = Producer({"bootstrap.servers": b, "linger.ms": 5, "enable.idempotence": True})
    for i in range(EOS_PER_PARTITION):
        for part in (0, 1):
            plain.produce(src, value=inputs[part][i], partition=part)
    assert plain.flush(30) == 0
    group, tid = uid("eos-group"), uid("eos-tid")
    total = 2 * EOS_PER_PARTITION

    def new_consumer():
        c = Consumer({"bootstrap.servers": b, "group.id": group, "isolation.level": "read_committed",
                      "enable.auto.commit": False, "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                      "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 100})
        c.subscribe([src])
        return c

    consumer = new_consumer()
    producer = ck_producer(b, tid)
    zombie = None
    txns = []  # [(outcome, [input values])] in order
    done = 0
    deadline = time.monotonic() + 120
    try:
        while done < total:
            batch = []
            while len(batch) < EOS_BATCH:
                assert time.monotonic() < deadline, "consume-transform-produce did not finish (%d done)" % done
                for m in consumer.consume(num_messages=EOS_BATCH - len(batch), timeout=0.5):
                    if m.error():
                        raise KafkaException(m.error())
                    batch.append(m)
            producer.begin_transaction()
            nxt = {}
            for m in batch:
                producer.produce(dst, value=b"out-" + m.value(), partition=0)
                nxt[m.partition()] = m.offset() + 1
            producer.send_offsets_to_transaction([TopicPartition(src, part, o) for part, o in sorted(nxt.items())],
                                                 consumer.consumer_group_metadata(), 30)
            values = [m.value() for m in batch]
            n = len(txns) + 1
            if n == 2:
                # Abort this batch and re-process it from the committed offsets.
                assert producer.flush(30) == 0
                producer.abort_transaction(30)
                txns.append(("ABORT", values))
                committed = consumer.committed(consumer.assignment(), timeout=15)
                for tp in committed:
                    consumer.seek(TopicPartition(src, tp.partition, tp.offset if tp.offset >= 0 else 0))
                continue
            if n == 4:
                # A crash mid-transaction: records and offsets sent, no commit;
                # the consumer goes away, a new producer with the same
                # transactional.id takes over (aborting this transaction) and a
                # new consumer resumes from the committed offsets.
                assert producer.flush(30) == 0
                txns.append(("ABORT", values))
                zombie = producer
                consumer.close()
                producer = ck_producer(b, tid)
                consumer = new_consumer()
                continue
            producer.commit_transaction(30)
            txns.append(("COMMIT", values))
            done += len(batch)
    finally:
        consumer.close()

    # The zombie (the crashed producer) cannot commit any more.
    with pytest.raises(KafkaException) as ei:
        zombie.commit_transaction(15)
    err = ei.value.args[0]
    assert err.fatal() and err.code() in FENCED_CODES, err
    del zombie

    assert [o for o, _ in txns] == ["COMMIT", "ABORT", "COMMIT", "ABORT", "COMMIT", "COMMIT"]
    assert all(len(v) == EOS_BATCH for _, v in txns)
    # the aborted batches were re-processed as the next transaction
    assert sorted(txns[1][1]) == sorted(txns[2][1]) and sorted(txns[3][1]) == sorted(txns[4][1])

    want = Layout()
    for outcome, values in txns:
        want.txn([b"out-" + v for v in values], outcome)
    assert want.end == 6 * EOS_BATCH + 6
    check_log(b, dst, 0, want)
    got = read_all(b, {(dst, 0): want.end})[(dst, 0)]
    assert got == want.committed
    assert [o for o, _ in got] == (list(range(0, 50)) + list(range(102, 152)) + list(range(204, 254))
                                   + list(range(255, 305)))
    out_vals = [v for _, v in got]
    assert sorted(out_vals) == sorted(b"out-" + v for part in (0, 1) for v in inputs[part])  # each exactly once
    for part in (0, 1):
        assert [v for v in out_vals if v.startswith(b"out-in-%d-" % part)] == [b"out-" + v for v in inputs[part]]
    assert len(read_all(b, {(dst, 0): want.end}, "read_uncommitted")[(dst, 0)]) == 300
    assert committed_offsets(b, group, src, [0, 1], "read_committed") == {0: EOS_PER_PARTITION, 1: EOS_PER_PARTITION}


# --------------------------------------------------------------------------
# 4. zombie fencing


def test_zombie_fencing(tbroker):
    b = tbroker.bootstrap
    topic = uid("txn-zombie")
    create_topic(b, topic, 1)
    tid = uid("tid-zombie")
    a_vals = [b"a-%d" % i for i in range(10)]
    b_vals = [b"b-%d" % i for i in range(10)]
    dra, drb = Deliveries(), Deliveries()

    a_errors = []
    a = ck_producer(b, tid, a_errors)
    a.begin_transaction()
    ck_send(a, dra, topic, 0, a_vals)
    assert a.flush(30) == 0
    assert dra.offsets(topic, 0) == list(enumerate(a_vals))

    bp = ck_producer(b, tid)  # fences A and aborts its open transaction
    late = [b"a-late-%d" % i for i in range(5)]
    for v in late:  # no delivery callback: confluent-kafka raises the fatal error from flush()
        a.produce(topic, value=v, partition=0)
    with pytest.raises(KafkaException) as ei:
        a.flush(30)
    err = ei.value.args[0]
    assert err.fatal() and err.code() in FENCED_CODES, err
    with pytest.raises(KafkaException) as ei:
        a.commit_transaction(15)
    err2 = ei.value.args[0]
    assert err2.fatal() and err2.code() in FENCED_CODES, err2
    print("zombie: flush raised %s, commit raised %s, error_cb got %s" % (err, err2, a_errors))
    del a

    bp.begin_transaction()
    ck_send(bp, drb, topic, 0, b_vals)
    bp.commit_transaction(30)
    assert not drb.failed and drb.offsets(topic, 0) == [(11 + i, v) for i, v in enumerate(b_vals)]

    want = Layout()
    want.txn(a_vals, "ABORT")
    want.txn(b_vals, "COMMIT")
    batches = check_log(b, topic, 0, want)
    (pa, ea), = producers_in([x for x in batches if x["base_offset"] < 10])
    (pb, eb), = producers_in([x for x in batches if x["base_offset"] > 10])
    assert pb == pa and eb > ea, (pa, ea, pb, eb)
    (m1, m2) = markers(batches)
    assert m1[:3] == (10, "ABORT", pa) and ea < m1[3] <= eb, m1
    assert m2 == (21, "COMMIT", pb, eb), m2
    assert read_all(b, {(topic, 0): 22}) == {(topic, 0): [(11 + i, v) for i, v in enumerate(b_vals)]}
    assert fetch(b, topic, 0, 0, READ_COMMITTED)["aborted_transactions"] == [(pa, 0)]


# --------------------------------------------------------------------------
# 5. the broker aborts a transaction that outlives its timeout


def test_transaction_timeout_abort(tbroker):
    b = tbroker.bootstrap
    topic = uid("txn-timeout")
    create_topic(b, topic, 1)
    tid = uid("tid-timeout")
    vals = [b"late-%d" % i for i in range(5)]
    p = ck_producer(b, tid, **{"transaction.timeout.ms": 2000, "socket.timeout.ms": 2000})
    dr = Deliveries()
    t_begin = time.monotonic()
    p.begin_transaction()
    ck_send(p, dr, topic, 0, vals)
    assert p.flush(10) == 0
    assert dr.offsets(topic, 0) == list(enumerate(vals))
    (d,) = describe_transactions(b, [tid])
    assert (d["error_code"], d["state"], d["timeout_ms"], d["topics"]) == (0, "Ongoing", 2000, [(topic, [0])]), d
    epoch0 = d["producer_epoch"]
    # Still open a moment later.
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t_begin)))
    assert fetch(b, topic, 0, 0, READ_COMMITTED)["last_stable_offset"] == 0

    wait_until(lambda: fetch(b, topic, 0, 0, READ_COMMITTED)["last_stable_offset"] == 6, 10,
               "the timed-out transaction to be aborted (LSO 6)")
    aborted_after = time.monotonic() - t_begin
    assert 2.0 <= aborted_after < 6.0, "aborted %.2fs after begin (timeout 2 s, check every %d ms)" % (
        aborted_after, ABORT_CHECK_MS)
    want = Layout()
    want.txn(vals, "ABORT")
    batches = check_log(b, topic, 0, want)
    (pid, epoch), = producers_in(batches)
    assert epoch == epoch0
    (d,) = describe_transactions(b, [tid])
    assert (d["error_code"], d["state"], d["producer_id"], d["topics"]) == (0, "CompleteAbort", pid, []), d
    assert d["producer_epoch"] > epoch0, d  # the abort fenced the producer's epoch
    (m,) = markers(batches)
    assert m[:3] == (5, "ABORT", pid)

    with pytest.raises(KafkaException) as ei:
        p.commit_transaction(10)
    err = ei.value.args[0]
    assert err.fatal() or err.txn_requires_abort(), err
    print("timed-out producer's commit raised %s (fatal=%s, abortable=%s)" % (
        err.name(), err.fatal(), err.txn_requires_abort()))

    # read_committed is not stuck; the id goes on with a new producer.
    p2 = ck_producer(b, tid)
    dr2 = Deliveries()
    more = [b"after-%d" % i for i in range(3)]
    p2.begin_transaction()
    ck_send(p2, dr2, topic, 0, more)
    p2.commit_transaction(30)
    want.txn(more, "COMMIT")
    assert dr2.offsets(topic, 0) == [(6, more[0]), (7, more[1]), (8, more[2])]
    check_log(b, topic, 0, want)
    assert read_all(b, {(topic, 0): 10}) == {(topic, 0): want.committed}


# --------------------------------------------------------------------------
# 6. transactional offsets: applied on commit only


def test_txn_offsets_applied_only_on_commit(tbroker):
    b = tbroker.bootstrap
    topic = uid("txn-offsets")
    create_topic(b, topic, 1)
    group = uid("txn-offsets-group")
    c = Consumer({"bootstrap.servers": b, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
        assert committed_offsets(b, group, topic, [0]) == {0: 3}
        meta = c.consumer_group_metadata()
        p = ck_producer(b, uid("tid-offsets"))
        dr = Deliveries()

        p.begin_transaction()
        ck_send(p, dr, topic, 0, [b"x"])
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 7)], meta, 30)
        assert p.flush(30) == 0
        # pending: not visible to a plain OffsetFetch; one asking for stable
        # offsets (KIP-447, require_stable) is told to retry
        assert committed_offsets(b, group, topic, [0]) == {0: 3}
        assert offset_fetch_v7(b, group, topic, [0], False) == (0, {0: (0, 3)})
        assert offset_fetch_v7(b, group, topic, [0], True) == (0, {0: (UNSTABLE_OFFSET_COMMIT, -1)})
        p.abort_transaction(30)
        assert committed_offsets(b, group, topic, [0]) == {0: 3}
        assert offset_fetch_v7(b, group, topic, [0], True) == (0, {0: (0, 3)})
        assert committed_offsets(b, group, topic, [0], "read_committed") == {0: 3}

        p.begin_transaction()  # offsets only, no records
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 9)], meta, 30)
        p.commit_transaction(30)
        assert committed_offsets(b, group, topic, [0]) == {0: 9}
        assert committed_offsets(b, group, topic, [0], "read_committed") == {0: 9}

        p.begin_transaction()
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 11)], meta, 30)
        ck_send(p, dr, topic, 0, [b"y"])
        p.commit_transaction(30)
        assert committed_offsets(b, group, topic, [0]) == {0: 11}
    finally:
        c.close()
    want = Layout()
    want.txn([b"x"], "ABORT")
    want.txn([b"y"], "COMMIT")
    check_log(b, topic, 0, want)


# --------------------------------------------------------------------------
# 7 + 8. Node.js clients


def run_js(cfg, timeout=150):
    rc, evs, info = run_node("transactions.js", cfg, timeout, cfg["client"])
    assert rc == 0 and evs and evs[-1]["ev"] == "done", info
    return evs, info


JS_TXNS = {
    "kafkajs": [{"n": 10, "action": "commit", "offset": 5}, {"n": 6, "action": "abort", "offset": 8},
                {"n": 4, "action": "commit", "offset": 10}],
    "ckjs": [{"n": 8, "action": "commit", "offset": None}, {"n": 6, "action": "abort", "offset": None},
             {"n": 4, "action": "commit", "offset": None}],
}


@pytest.mark.parametrize("client", ["kafkajs", "ckjs"])
def test_js_transactions(tbroker, js_clients, client):
    b = tbroker.bootstrap
    topic = uid("txn-" + client)
    create_topic(b, topic, 2)
    txns = JS_TXNS[client]
    want = {p: Layout() for p in (0, 1)}
    bases = []
    for i, t in enumerate(txns):
        vals = ["t%d-%03d" % (i, j) for j in range(t["n"])]
        bases.append({p: want[p].txn([v.encode() for j, v in enumerate(vals) if j % 2 == p],
                                     "COMMIT" if t["action"] == "commit" else "ABORT") for p in (0, 1)})
    expect = sum(len(want[p].committed) for p in (0, 1))
    group = uid("txn-js-offsets")
    cfg = dict(client=client, bootstrap=b, tid=uid("tid-" + client), topic=topic, partitions=2, txns=txns,
               offsetsGroup=group, offsetsTopic=topic, consumeGroup=uid("txn-js-consume"), expect=expect,
               lingerMs=1000, maxSeconds=60)
    evs, info = run_js(cfg)
    tx = [e for e in evs if e["ev"] == "txn"]
    assert [e["i"] for e in tx] == [0, 1, 2], info
    for e in tx:
        assert {r["partition"]: r["baseOffset"] for r in e["res"]} == bases[e["i"]], (e, info)
        assert all(r.get("errorCode") in (0, None) for r in e["res"]), e
    if client == "kafkajs":
        assert [e["committed"] for e in tx] == [{"0": 5, "1": -1}, {"0": 5, "1": -1}, {"0": 10, "1": -1}], info
        assert committed_offsets(b, group, topic, [0]) == {0: 10}
    msgs = [e for e in evs if e["ev"] == "msg"]
    assert evs[-1] == {"ev": "done", "n": expect}, info
    for p in (0, 1):
        got = [(m["o"], m["v"].encode()) for m in msgs if m["p"] == p]
        assert got == want[p].committed, (client, p, got, want[p].committed)
    ends = {(topic, p): want[p].end for p in (0, 1)}
    for p in (0, 1):
        check_log(b, topic, p, want[p])
    assert read_all(b, ends) == {(topic, p): want[p].committed for p in (0, 1)}
    assert read_all(b, ends, "read_uncommitted") == {(topic, p): want[p].all for p in (0, 1)}


# --------------------------------------------------------------------------
# 9. kafka-python and aiokafka


PY_TXNS = [("c0", 10, "COMMIT", 5), ("a1", 6, "ABORT", 8), ("c2", 4, "COMMIT", 10)]


def py_txn_values(tag, n):
    return [(j % 2, b"%s-%03d" % (tag.encode(), j)) for j in range(n)]


def kp_transactions(bootstrap, tid, topic, group, after_txn):
    from kafka import KafkaProducer
    from kafka.structs import OffsetAndMetadata
    from kafka.structs import TopicPartition as KTP

    p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid, enable_idempotence=True, acks=-1,
                      linger_ms=5, request_timeout_ms=15000, max_block_ms=30000)
    acks = []
    try:
        p.init_transactions()
        for tag, n, outcome, off in PY_TXNS:
            p.begin_transaction()
            futs = [(v, p.send(topic, value=v, partition=part)) for part, v in py_txn_values(tag, n)]
            p.flush(30)
            for v, f in futs:
                md = f.get(timeout=30)
                acks.append((md.partition, md.offset, v))
            p.send_offsets_to_transaction({KTP(topic, 0): OffsetAndMetadata(off, "", -1)}, group)
            if outcome == "COMMIT":
                p.commit_transaction()
            else:
                p.abort_transaction()
            after_txn()
    finally:
        p.close(timeout=10)
    return acks


def aio_transactions(bootstrap, tid, topic, group, after_txn):
    from aiokafka import AIOKafkaProducer, TopicPartition as ATP

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid, enable_idempotence=True,
                             acks="all", linger_ms=5, request_timeout_ms=15000)
        await p.start()
        acks = []
        try:
            for tag, n, outcome, off in PY_TXNS:
                await p.begin_transaction()
                futs = [(v, await p.send(topic, value=v, partition=part)) for part, v in py_txn_values(tag, n)]
                for v, f in futs:
                    md = await asyncio.wait_for(f, 30)
                    acks.append((md.partition, md.offset, v))
                await p.send_offsets_to_transaction({ATP(topic, 0): off}, group)
                if outcome == "COMMIT":
                    await asyncio.wait_for(p.commit_transaction(), 30)
                else:
                    await asyncio.wait_for(p.abort_transaction(), 30)
                await asyncio.get_running_loop().run_in_executor(None, after_txn)
        finally:
            await asyncio.wait_for(p.stop(), 30)
        return acks

    return asyncio.run(asyncio.wait_for(run(), 120))


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka"])
def test_python_clients_transactions(tbroker, client):
    b = tbroker.bootstrap
    topic = uid("txn-" + client)
    create_topic(b, topic, 2)
    group = uid("txn-py-offsets")
    want = {p: Layout() for p in (0, 1)}
    for tag, n, outcome, _ in PY_TXNS:
        vals = py_txn_values(tag, n)
        for p in (0, 1):
            want[p].txn([v for part, v in vals if part == p], outcome)
    committed_seen = []

    def after_txn():
        committed_seen.append(committed_offsets(b, group, topic, [0])[0])

    fn = kp_transactions if client == "kafka-python" else aio_transactions
    acks = fn(b, uid("tid-" + client), topic, group, after_txn)
    assert sorted(acks) == sorted((p, o, v) for p in (0, 1) for o, v in want[p].all)
    assert committed_seen == [5, 5, 10]
    for p in (0, 1):
        check_log(b, topic, p, want[p])

    # the client's own read_committed consumer
    expect = sum(len(want[p].committed) for p in (0, 1))
    cls = KPConsumer if client == "kafka-python" else AIOConsumer
    c = cls(b, isolation_level="read_committed")
    try:
        c.assign(topic, [0, 1], start=0)
        got = c.poll(expect, timeout=30, linger=1.0)
    finally:
        c.close()
    for p in (0, 1):
        assert [(g.offset, g.value) for g in got if g.partition == p] == want[p].committed, (client, p)
    assert len(got) == expect
    ends = {(topic, p): want[p].end for p in (0, 1)}
    assert read_all(b, ends) == {(topic, p): want[p].committed for p in (0, 1)}


# --------------------------------------------------------------------------
# 10. two brokers on PostgreSQL + S3: the coordinator dies between transactions


HEARTBEAT_MS = 300
SESSION_MS = 2000


def test_coordinator_failover_postgres(broker_factory, pg_url):
    common = ["--metadata", pg_url, *s3_args("compat-txn-mb"),
              "--broker-heartbeat-interval-ms", str(HEARTBEAT_MS), "--broker-session-timeout-ms", str(SESSION_MS),
              "--auto-create-topics-enable", "false", "--transaction-abort-check-interval-ms", str(ABORT_CHECK_MS)]
    b1 = broker_factory(*common, node_id=1)
    b2 = broker_factory(*common, node_id=2)
    brokers = {1: b1, 2: b2}
    wait_cluster([b1, b2], timeout=15)
    topic = uid("txn-mb")
    create_topic_raw(b1.bootstrap, topic, 2)
    wait_cluster([b1, b2], topic, 2)
    tid = uid("tid-mb")

    coords = {}

    def agreed():
        coords.clear()
        for n, b in brokers.items():
            if b.alive() and not b.expected_down:
                coords[n] = find_coordinator(b.bootstrap, tid)
        return len({v for v in coords.values()}) == 1 and next(iter(coords.values()))[0] == 0

    wait_until(agreed, 15, "both brokers to name one transaction coordinator")
    err, coord, host, port = next(iter(coords.values()))
    assert coord in brokers and (host, port) == ("127.0.0.1", brokers[coord].port), coords
    survivor = brokers[3 - coord]
    # Transaction requests for this id sent to the other broker: NOT_COORDINATOR.
    assert init_pid(survivor.bootstrap, tid) == (NOT_COORDINATOR, -1, -1)

    want = {p: Layout() for p in (0, 1)}
    bootstrap = "%s,%s" % (b1.bootstrap, b2.bootstrap)
    extra = {"transaction.timeout.ms": 30000, "message.timeout.ms": 30000, "socket.timeout.ms": 5000,
             "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500, "retry.backoff.ms": 50,
             "topic.metadata.refresh.interval.ms": 500}
    dr = Deliveries()

    def txn(p, tag):
        vals = {part: [b"%s-%d-%d" % (tag.encode(), part, i) for i in range(5)] for part in (0, 1)}
        p.begin_transaction()
        for i in range(5):
            for part in (0, 1):
                p.produce(topic, value=vals[part][i], partition=part, on_delivery=dr)
                p.poll(0)
        p.commit_transaction(60)
        for part in (0, 1):
            want[part].txn(vals[part], "COMMIT")

    p = ck_producer(bootstrap, tid, **extra)
    txn(p, "t1")
    brokers[coord].kill9()
    wait_until(lambda: find_coordinator(survivor.bootstrap, tid)[:2] == (0, survivor.node_id), 15,
               "the transaction coordinator to move to broker %d" % survivor.node_id, 0.1)
    wait_cluster([survivor], topic, 2, timeout=15)
    txn(p, "t2")  # the same producer, through the new coordinator
    assert p.flush(10) == 0
    del p
    p3 = ck_producer(bootstrap, tid, **extra)  # a new instance of the same transactional.id
    txn(p3, "t3")
    assert p3.flush(10) == 0
    del p3

    assert not dr.failed, dr.failed[:5]
    for part in (0, 1):
        assert dr.offsets(topic, part) == want[part].all
        assert want[part].end == 18
        batches = check_log(survivor.bootstrap, topic, part, want[part])
        assert len({pid for pid, _ in producers_in(batches)}) == 1
    assert read_all(survivor.bootstrap, {(topic, p): 18 for p in (0, 1)}) == {
        (topic, p): want[p].committed for p in (0, 1)}
    print("transaction coordinator was broker %d; broker %d took over" % (coord, survivor.node_id))

    # Phase 2: the dead broker comes back; then the coordinator dies while a
    # transaction is open (records written, not committed). The producer's
    # commit goes to the new coordinator, which completes it.
    dead = brokers[coord]
    dead.restart()
    wait_cluster([b1, b2], topic, 2, timeout=20)
    wait_until(agreed, 15, "both brokers to name one transaction coordinator again")
    _, coord2, _, _ = next(iter(coords.values()))
    other = brokers[3 - coord2]
    p4 = ck_producer(bootstrap, tid, **extra)
    vals = {part: [b"t4-%d-%d" % (part, i) for i in range(5)] for part in (0, 1)}
    p4.begin_transaction()
    for i in range(5):
        for part in (0, 1):
            p4.produce(topic, value=vals[part][i], partition=part, on_delivery=dr)
            p4.poll(0)
    assert p4.flush(30) == 0
    brokers[coord2].kill9()
    wait_until(lambda: find_coordinator(other.bootstrap, tid)[:2] == (0, other.node_id), 15,
               "the transaction coordinator to move to broker %d" % other.node_id, 0.1)
    p4.commit_transaction(60)
    del p4
    for part in (0, 1):
        want[part].txn(vals[part], "COMMIT")
    assert not dr.failed, dr.failed[:5]
    for part in (0, 1):
        assert dr.offsets(topic, part) == want[part].all
        assert want[part].end == 24
        check_log(other.bootstrap, topic, part, want[part])
    assert read_all(other.bootstrap, {(topic, p): 24 for p in (0, 1)}) == {
        (topic, p): want[p].committed for p in (0, 1)}
    print("phase 2: coordinator broker %d killed with the transaction open; broker %d committed it" % (
        coord2, other.node_id))


# --------------------------------------------------------------------------
# 11. raw frames


def test_raw_transaction_protocol(broker_factory):
    b = broker_factory(*BROKER_FLAGS).bootstrap
    apis = api_versions(b)
    for key in (INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, ADD_OFFSETS_TO_TXN, END_TXN, TXN_OFFSET_COMMIT,
                DESCRIBE_PRODUCERS, DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS):
        assert key in apis, "ApiVersions lacks api key %d: %r" % (key, sorted(apis))
    assert apis[END_TXN][0] == 0 and apis[END_TXN][1] >= 2, apis[END_TXN]
    assert apis[DESCRIBE_PRODUCERS][0] == 0 and apis[DESCRIBE_TRANSACTIONS][0] == 0 and apis[LIST_TRANSACTIONS][0] == 0
    topic, unknown = uid("txn-raw"), uid("txn-nosuch")
    create_topic(b, topic, 2)
    tid = uid("tid-raw")

    assert find_coordinator(b, tid) == (0, 1, "127.0.0.1", int(b.rsplit(":", 1)[1]))
    # A timeout above transaction.max.timeout.ms (900000) is refused.
    assert init_pid(b, uid("tid-long"), timeout_ms=900001) == (INVALID_TRANSACTION_TIMEOUT, -1, -1)
    err, pid, epoch = init_pid(b, tid)
    assert (err, epoch) == (0, 0) and pid >= 0
    assert init_pid(b, tid) == (0, pid, 1)  # re-initialising bumps the epoch
    assert init_pid(b, tid, timeout_ms=900001) == (INVALID_TRANSACTION_TIMEOUT, -1, -1)
    epoch = 1
    assert list_transactions(b) == (0, [], [(tid, pid, "Empty")])

    ts = int(time.time() * 1000) - 1000
    # Not yet added to the transaction: refused, nothing stored.
    assert txn_produce(b, tid, topic, 0, txn_batch([b"early"], pid, epoch, 0, ts)) == (INVALID_TXN_STATE, -1)
    assert add_partitions(b, tid, pid, epoch, {unknown: [0]}) == {(unknown, 0): UNKNOWN_TOPIC_OR_PARTITION}
    assert add_partitions(b, tid, pid, epoch, {topic: [0], unknown: [0]}) == {
        (topic, 0): OPERATION_NOT_ATTEMPTED, (unknown, 0): UNKNOWN_TOPIC_OR_PARTITION}
    (d,) = describe_transactions(b, [tid])
    assert (d["state"], d["topics"]) == ("Empty", []), d
    t_add0 = int(time.time() * 1000)
    assert add_partitions(b, tid, pid, epoch, {topic: [0]}) == {(topic, 0): 0}
    t_add1 = int(time.time() * 1000)
    vals = [b"r0", b"r1", b"r2"]
    assert txn_produce(b, tid, topic, 0, txn_batch(vals, pid, epoch, 0, ts)) == (0, 0)
    assert txn_produce(b, tid, topic, 1, txn_batch([b"p1"], pid, epoch, 0, ts)) == (INVALID_TXN_STATE, -1)

    assert list_transactions(b) == (0, [], [(tid, pid, "Ongoing")])
    assert list_transactions(b, states=["Ongoing"]) == (0, [], [(tid, pid, "Ongoing")])
    assert list_transactions(b, states=["CompleteCommit", "Empty"]) == (0, [], [])
    assert list_transactions(b, pids=[pid]) == (0, [], [(tid, pid, "Ongoing")])
    assert list_transactions(b, pids=[pid + 12345]) == (0, [], [])
    err, unknown_filters, _ = list_transactions(b, states=["Bogus"])
    assert (err, unknown_filters) == (0, ["Bogus"])

    d, nf = describe_transactions(b, [tid, "no-such-" + tid])
    start = d.pop("start_time_ms")
    assert d == {"error_code": 0, "transactional_id": tid, "state": "Ongoing", "timeout_ms": 60000,
                 "producer_id": pid, "producer_epoch": epoch, "topics": [(topic, [0])]}
    assert t_add0 - 5 <= start <= t_add1 + 5, (t_add0, start, t_add1)
    assert (nf["error_code"], nf["transactional_id"]) == (TRANSACTIONAL_ID_NOT_FOUND, "no-such-" + tid)

    dp = describe_producers(b, topic, [0, 1])
    assert set(dp) == {0, 1}
    err0, prods = dp[0]
    assert err0 == 0 and len(prods) == 1, dp
    prods[0].pop("coordinator_epoch")
    last_timestamp = prods[0].pop("last_timestamp")  # checked at the end
    assert prods[0] == {"producer_id": pid, "producer_epoch": epoch, "last_sequence": 2,
                        "current_txn_start_offset": 0}
    assert dp[1] == (0, [])
    rc = fetch(b, topic, 0, 0, READ_COMMITTED)
    assert (rc["high_watermark"], rc["last_stable_offset"], parse_batches(rc["records"])) == (3, 0, [])

    # EndTxn with a stale epoch: INVALID_PRODUCER_EPOCH before v2, PRODUCER_FENCED from v2.
    for v in range(0, min(apis[END_TXN][1], 3) + 1):
        want_err = INVALID_PRODUCER_EPOCH if v < 2 else PRODUCER_FENCED
        assert end_txn(b, tid, pid, epoch - 1, True, version=v) == want_err, "EndTxn v%d" % v
    (d,) = describe_transactions(b, [tid])
    assert (d["state"], d["producer_epoch"]) == ("Ongoing", epoch), d

    assert end_txn(b, tid, pid, epoch, True) == 0
    want = Layout()
    want.txn(vals, "COMMIT")
    batches = check_log(b, topic, 0, want)
    assert markers(batches) == [(3, "COMMIT", pid, epoch)]
    assert end_txn(b, tid, pid, epoch, True) == 0  # a retried commit
    assert end_txn(b, tid, pid, epoch, False) == INVALID_TXN_STATE  # abort after commit
    (d,) = describe_transactions(b, [tid])
    assert (d["state"], d["producer_epoch"], d["topics"]) == ("CompleteCommit", epoch, []), d
    assert list_transactions(b, states=["CompleteCommit"]) == (0, [], [(tid, pid, "CompleteCommit")])
    (err0, prods), = describe_producers(b, topic, [0]).values()
    assert err0 == 0 and [(x["producer_id"], x["current_txn_start_offset"]) for x in prods] == [(pid, -1)]
    # The partition left the transaction with the commit.
    assert txn_produce(b, tid, topic, 0, txn_batch([b"after"], pid, epoch, 3, ts)) == (INVALID_TXN_STATE, -1)
    check_log(b, topic, 0, want)
    assert read_all(b, {(topic, 0): 4}) == {(topic, 0): want.committed}
    # Kafka's DescribeProducers last_timestamp is the max timestamp of the
    # producer's last batch (CreateTime here), not the time it was appended.
    assert last_timestamp == ts, "DescribeProducers last_timestamp %d, the batch's max timestamp is %d" % (
        last_timestamp, ts)
