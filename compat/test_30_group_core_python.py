"""30. Broker-core behaviours through GROUP consumers (subscribe + group.id,
never assign) of kafka-python, aiokafka and confluent-kafka, plus kcat -G.

The same behaviours as test_01..test_08 (which use assign()-based
consumers): round trip of record edge cases with exact offsets, every codec,
a 1,000,000-byte value, murmur2 key partitioning over 16 partitions (checked
on what the group consumer receives), acks 0/1/all, 1,000 records in order,
seek inside a group (offset / beginning / end), and commit + resume by a new
member of the same group.

Every consumer subscribes with a fresh group id and auto.offset.reset
earliest, auto commit off. One broker per module, started with a 300 ms
initial rebalance delay so joins are fast.
"""

from __future__ import annotations

import random
import time
import zlib

import pytest

import record_sets

from clients import CLIENTS, AIOConsumer, CKConsumer, KPConsumer, Rec, create_topic, end_offset, produce
from conftest import _new_broker, _teardown
from groups_helpers import committed
from helpers import put_numbered, run_kcat, uid
from murmur2 import partition_for

FAST = ["--group-initial-rebalance-delay-ms", "300"]


@pytest.fixture(scope="module")
def gbroker(tmp_path_factory):
    b = _new_broker(tmp_path_factory, FAST)
    yield b
    _teardown(b)


class GroupConsumer:
    """A subscribed group member over the clients.py adapters (their poll /
    seek / position code is reused; only the membership differs)."""

    def __init__(self, client, bootstrap, topic, group):
        self.client, self.topic, self.group = client, topic, group
        if client == "kafka-python":
            self.a = KPConsumer(bootstrap, group_id=group, session_timeout_ms=10000, heartbeat_interval_ms=500)
            self.a.c.subscribe([topic])
        elif client == "aiokafka":
            self.a = AIOConsumer(bootstrap, group_id=group, session_timeout_ms=10000, heartbeat_interval_ms=500)
            self.a._call(self.a.c.subscribe, [topic])
        else:
            self.a = CKConsumer(bootstrap, **{"group.id": group, "session.timeout.ms": 10000})
            self.a.c.subscribe([topic])

    def assignment(self):
        return sorted(tp.partition for tp in self.a.c.assignment() if tp.topic == self.topic)

    def poll(self, count, timeout=60.0, linger=0.5):
        return self.a.poll(count, timeout=timeout, linger=linger)

    def seek(self, p, offset):
        self.a.seek(self.topic, p, offset)

    def seek_to_beginning(self, p):
        self.a.seek_to_beginning(self.topic, p)

    def seek_to_end(self, p):
        self.a.seek_to_end(self.topic, p)

    def wait_position(self, p, expected, timeout=30.0):
        """Block until the fetch position of partition p is `expected`,
        asserting nothing is consumed meanwhile."""
        if self.client == "confluent-kafka":
            assert self.a.wait_fetch_position(self.topic, p, expected, timeout) == []
            return
        deadline = time.monotonic() + timeout
        pos = None
        while time.monotonic() < deadline:
            pos = self.a.position(self.topic, p)
            if pos == expected:
                return
            assert self.a.poll(0, timeout=0.2) == []
        raise AssertionError("position %r never became %d" % (pos, expected))

    def commit(self, p, offset):
        """Synchronous commit of `offset` (the next offset to read) for partition p."""
        if self.client == "kafka-python":
            from kafka import TopicPartition
            from kafka.structs import OffsetAndMetadata
            self.a.c.commit({TopicPartition(self.topic, p): OffsetAndMetadata(offset, "", -1)})
        elif self.client == "aiokafka":
            from aiokafka import TopicPartition
            self.a._run(self.a.c.commit({TopicPartition(self.topic, p): offset}), 30)
        else:
            from confluent_kafka import TopicPartition
            res = self.a.c.commit(offsets=[TopicPartition(self.topic, p, offset)], asynchronous=False)
            assert [(tp.partition, tp.offset, tp.error) for tp in res] == [(p, offset, None)], res

    def close(self):
        self.a.close()


def group_consume(client, bootstrap, topic, group, count, timeout=60.0, linger=0.5, partitions=1):
    c = GroupConsumer(client, bootstrap, topic, group)
    try:
        got = c.poll(count, timeout=timeout, linger=linger)
        assert c.assignment() == list(range(partitions)), "%s group member assignment" % client
        return got
    finally:
        c.close()


# --------------------------------------------------------------------------
# round trip


def roundtrip_records(client):
    recs = record_sets.records(client)
    for r in recs:
        r.partition = 0
    return recs


@pytest.mark.parametrize("client", CLIENTS)
def test_group_roundtrip(gbroker, client):
    topic = uid("g30-rt")
    create_topic(gbroker.bootstrap, topic, 1)
    recs = roundtrip_records(client)
    dels = produce(client, gbroker.bootstrap, topic, recs)
    assert [(d.error, d.partition, d.offset) for d in dels] == [(None, 0, i) for i in range(len(recs))]
    got = group_consume(client, gbroker.bootstrap, topic, uid("g30-rt"), len(recs))
    assert [(g.partition, g.offset) for g in got] == [(0, i) for i in range(len(recs))]
    for g, r in zip(got, recs):
        assert (g.key, g.value) == (r.key, r.value), "offset %d" % g.offset
        assert g.headers == (r.headers or []), "offset %d headers" % g.offset
        assert (g.timestamp, g.timestamp_type) == (r.timestamp, "create"), "offset %d timestamp" % g.offset


# --------------------------------------------------------------------------
# codecs: one partition per codec, one group consumer reads all five

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("client", CLIENTS)
def test_group_every_codec(gbroker, client):
    topic = uid("g30-codec")
    create_topic(gbroker.bootstrap, topic, len(CODECS))
    sent = {}
    for p, codec in enumerate(CODECS):
        recs = record_sets.payloads(zlib.crc32(("%s/%s" % (client, codec)).encode()), p)
        dels = produce(client, gbroker.bootstrap, topic, recs, compression=codec, linger_ms=50)
        assert [(d.error, d.partition, d.offset) for d in dels] == [(None, p, i) for i in range(100)], codec
        sent[p] = recs
    got = group_consume(client, gbroker.bootstrap, topic, uid("g30-codec"), 500, partitions=len(CODECS))
    assert len(got) == 500
    for p, codec in enumerate(CODECS):
        mine = [g for g in got if g.partition == p]
        assert [g.offset for g in mine] == list(range(100)), codec
        assert [(g.key, g.value, g.headers, g.timestamp) for g in mine] == \
            [(r.key, r.value, r.headers, r.timestamp) for r in sent[p]], codec


# --------------------------------------------------------------------------
# large message


@pytest.mark.parametrize("client", CLIENTS)
def test_group_1mb_value(gbroker, client):
    topic = uid("g30-big")
    create_topic(gbroker.bootstrap, topic, 1)
    big = random.Random(client).randbytes(1_000_000)
    recs = [Rec(key=b"big", value=big, partition=0), Rec(key=b"after", value=b"small", partition=0)]
    dels = produce(client, gbroker.bootstrap, topic, recs, max_request_size=2_000_000, linger_ms=0,
                   flush_each=True)
    assert [(d.error, d.offset) for d in dels] == [(None, 0), (None, 1)]
    got = group_consume(client, gbroker.bootstrap, topic, uid("g30-big"), 2)
    assert [g.offset for g in got] == [0, 1]
    assert got[0].key == b"big" and len(got[0].value) == 1_000_000 and got[0].value == big
    assert (got[1].key, got[1].value) == (b"after", b"small")


# --------------------------------------------------------------------------
# keyed partitioning


def partition_keys():
    ks = [b"key-%d" % i for i in range(300)]
    ks += [bytes([i, 255 - i, i ^ 0x5A]) for i in range(0, 256, 7)]
    ks += [b"x", b"yy", b"zzz", "\u00e9l\u00e9phant".encode()]
    return ks


@pytest.mark.parametrize("client", CLIENTS)
def test_group_murmur2_partitioning(gbroker, client):
    n = 16
    topic = uid("g30-part")
    create_topic(gbroker.bootstrap, topic, n)
    ks = partition_keys()
    recs = [Rec(key=k, value=b"value-%d" % i) for i, k in enumerate(ks)]
    dels = produce(client, gbroker.bootstrap, topic, recs, linger_ms=20)
    assert [d.error for d in dels] == [None] * len(ks)
    assert [d.partition for d in dels] == [partition_for(k, n) for k in ks]
    got = group_consume(client, gbroker.bootstrap, topic, uid("g30-part"), len(ks), partitions=n)
    assert len(got) == len(ks)
    assert sorted((g.partition, g.offset) for g in got) == sorted((d.partition, d.offset) for d in dels)
    for g in got:
        assert g.partition == partition_for(g.key, n), g
    by_value = {r.value: r.key for r in recs}
    assert sorted(by_value[g.value] for g in got) == sorted(g.key for g in got) == sorted(ks)
    # per partition: send order == offset order
    for p in range(n):
        assert [g.value for g in got if g.partition == p] == \
            [r.value for r in recs if partition_for(r.key, n) == p], p
        assert [g.offset for g in got if g.partition == p] == \
            list(range(sum(1 for k in ks if partition_for(k, n) == p))), p


# --------------------------------------------------------------------------
# acks


@pytest.mark.parametrize("client", CLIENTS)
def test_group_acks_modes(gbroker, client):
    topic = uid("g30-acks")
    create_topic(gbroker.bootstrap, topic, 1)
    allrecs = []
    for acks in (0, 1, "all"):
        recs = [Rec(key=b"k%d" % i, value=b"acks-%s-%d" % (str(acks).encode(), i), partition=0)
                for i in range(100)]
        dels = produce(client, gbroker.bootstrap, topic, recs, acks=acks)
        assert [d.error for d in dels] == [None] * 100, acks
        if acks != 0:
            assert [d.offset for d in dels] == list(range(len(allrecs), len(allrecs) + 100)), acks
        allrecs += recs
        if acks == 0:  # acks=0 gives no offsets: wait until all 100 are readable before the next batch
            deadline = time.monotonic() + 30
            while end_offset(gbroker.bootstrap, topic)[1] < 100 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert end_offset(gbroker.bootstrap, topic) == (0, 100)
    got = group_consume(client, gbroker.bootstrap, topic, uid("g30-acks"), 300)
    assert [g.offset for g in got] == list(range(300))
    assert [(g.key, g.value) for g in got] == [(r.key, r.value) for r in allrecs]


# --------------------------------------------------------------------------
# ordering


@pytest.mark.parametrize("client", CLIENTS)
def test_group_1000_in_order(gbroker, client):
    topic = uid("g30-order")
    create_topic(gbroker.bootstrap, topic, 1)
    recs = [Rec(key=b"o%d" % (i % 7), value=b"ordered-%06d" % i, partition=0) for i in range(1000)]
    dels = produce(client, gbroker.bootstrap, topic, recs, linger_ms=5)
    assert [(d.error, d.offset) for d in dels] == [(None, i) for i in range(1000)]
    got = group_consume(client, gbroker.bootstrap, topic, uid("g30-order"), 1000)
    assert [g.offset for g in got] == list(range(1000))
    assert [g.value for g in got] == [r.value for r in recs]


# --------------------------------------------------------------------------
# seek inside a group


@pytest.mark.parametrize("client", CLIENTS)
def test_group_seek(gbroker, client):
    topic = uid("g30-seek")
    create_topic(gbroker.bootstrap, topic, 1)
    put_numbered(gbroker.bootstrap, topic, 0, 10)
    c = GroupConsumer(client, gbroker.bootstrap, topic, uid("g30-seek"))
    try:
        got = c.poll(10, linger=0.3)
        assert c.assignment() == [0]
        assert [g.offset for g in got] == list(range(10))

        c.seek(0, 5)
        got = c.poll(5, timeout=30, linger=0.3)
        assert [(g.offset, g.value) for g in got] == [(i, b"v%d" % i) for i in range(5, 10)]

        c.seek(0, 9)
        assert [g.offset for g in c.poll(1, timeout=30, linger=0.3)] == [9]

        c.seek_to_beginning(0)
        got = c.poll(10, timeout=30, linger=0.3)
        assert [(g.offset, g.value) for g in got] == [(i, b"v%d" % i) for i in range(10)]

        c.seek(0, 3)
        assert [g.offset for g in c.poll(7, timeout=30, linger=0.3)] == list(range(3, 10))

        c.seek(0, 2)  # rewind, then jump to the end: nothing of 2..9 is re-read
        c.seek_to_end(0)
        c.wait_position(0, 10)
        assert c.poll(0, timeout=0.5) == []
        put_numbered(gbroker.bootstrap, topic, 10, 3)
        got = c.poll(3, timeout=30, linger=0.5)
        assert [(g.offset, g.value) for g in got] == [(10, b"v10"), (11, b"v11"), (12, b"v12")]
        assert c.assignment() == [0]
    finally:
        c.close()


# --------------------------------------------------------------------------
# commit, then a new member of the same group resumes


@pytest.mark.parametrize("client", CLIENTS)
def test_group_commit_and_resume(gbroker, client):
    topic, group = uid("g30-resume"), uid("g30-resume")
    create_topic(gbroker.bootstrap, topic, 1)
    put_numbered(gbroker.bootstrap, topic, 0, 20)

    a = GroupConsumer(client, gbroker.bootstrap, topic, group)
    try:
        got = a.poll(20, linger=0.3)
        assert [g.offset for g in got] == list(range(20))
        a.commit(0, 7)  # mid-stream: the next member must start at 7, not at the end
    finally:
        a.close()
    assert committed(gbroker.bootstrap, group, topic) == {0: 7}

    b = GroupConsumer(client, gbroker.bootstrap, topic, group)
    try:
        got = b.poll(13, linger=0.5)
        assert [(g.offset, g.value) for g in got] == [(i, b"v%d" % i) for i in range(7, 20)]
        b.commit(0, 20)
    finally:
        b.close()
    assert committed(gbroker.bootstrap, group, topic) == {0: 20}

    put_numbered(gbroker.bootstrap, topic, 20, 5)
    c = GroupConsumer(client, gbroker.bootstrap, topic, group)
    try:
        got = c.poll(5, linger=0.5)
        assert [(g.offset, g.value) for g in got] == [(i, b"v%d" % i) for i in range(20, 25)]
    finally:
        c.close()
    assert committed(gbroker.bootstrap, group, topic) == {0: 20}  # auto commit is off


# --------------------------------------------------------------------------
# kcat -G (librdkafka balanced consumer)


def kcat(bootstrap, *args, input=None, timeout=60):
    return run_kcat(bootstrap, *args, input=input, timeout=timeout)[0]


def kcat_group(bootstrap, group, topic, fmt):
    return kcat(bootstrap, "-G", group, "-X", "auto.offset.reset=earliest", "-X", "enable.auto.commit=false",
                "-e", "-q", "-f", fmt, topic)


def test_kcat_group_roundtrip(gbroker):
    topic = uid("g30-kcat")
    create_topic(gbroker.bootstrap, topic, 1)
    lines = ["k%d:value number %d" % (i, i) for i in range(50)]
    kcat(gbroker.bootstrap, "-P", "-t", topic, "-p", "0", "-K:", input=("\n".join(lines) + "\n").encode())
    out = kcat_group(gbroker.bootstrap, uid("g30-kcat"), topic, "%p %o %k %s\n")
    assert out.splitlines() == ["0 %d k%d value number %d" % (i, i, i) for i in range(50)]


def test_kcat_group_keyed_partitions(gbroker):
    n = 4
    topic = uid("g30-kcatp")
    create_topic(gbroker.bootstrap, topic, n)
    keys = ["key-%d" % i for i in range(120)] + ["x", "yy", "zzz"]
    lines = ["%s:val-%d" % (k, i) for i, k in enumerate(keys)]
    kcat(gbroker.bootstrap, "-P", "-t", topic, "-K:", "-X", "topic.partitioner=murmur2_random",
         input=("\n".join(lines) + "\n").encode())
    out = kcat_group(gbroker.bootstrap, uid("g30-kcatp"), topic, "%p %o %k %s\n")
    rows = [line.split(" ") for line in out.splitlines()]
    assert len(rows) == len(keys), out
    got = sorted((int(p), int(o), k, v) for p, o, k, v in rows)
    expected = []
    for p in range(n):
        mine = [(k, "val-%d" % i) for i, k in enumerate(keys) if partition_for(k.encode(), n) == p]
        expected += [(p, o, k, v) for o, (k, v) in enumerate(mine)]
    assert got == expected
    assert {p for p, _, _, _ in got} == set(range(n))
