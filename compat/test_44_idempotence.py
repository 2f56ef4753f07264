"""44. Idempotent producers: sequence checks and deduplication.

The broker keeps, per partition and producer id, the producer's epoch and
its last 5 batches (first/last sequence, base offset) in the metadata store,
checked inside the transaction that assigns offsets:

  * a retry of one of the last 5 batches (same epoch, same first and last
    sequence) is answered with error 0 and its ORIGINAL base offset, and
    nothing is stored again (streamhouse_producer_duplicate_batches_total
    counts these);
  * a batch that does not continue the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER
    (45); an epoch older than the stored one: INVALID_PRODUCER_EPOCH (47); a
    newer epoch must start at sequence 0; a producer id unknown on the
    partition may start anywhere.

Tests:

1. raw frames (Produce v3 with RecordBatch v2 carrying producer id / epoch /
   base sequence, InitProducerId v0 and v4), on SQLite + local directory and
   on PostgreSQL + S3: exact answers for in-order batches, retries (also
   retries pipelined on one connection and sent concurrently on two), gaps,
   a batch overlapping a stored one, the 5-batch window, epoch bumps, an
   unknown producer id, another partition, plain batches in between; the
   log read back (raw Fetch and confluent-kafka) holds every record once,
   and the batches keep their producer fields; the duplicate counter moved
   by exactly the number of retries. A transactional InitProducerId gets
   its own producer id at epoch 0 (transactions: test_45_transactions.py).
2. two brokers on one PostgreSQL + S3 prefix: a batch sent to broker 1 and
   the identical batch sent to broker 2 get the same offset; kill -9 and
   restart of broker 1, retries to it are still deduplicated, the sequence
   continues; the same batch sent at the same moment to both brokers is
   stored once (5 rounds); an epoch bumped through one broker fences the old
   epoch on the other.
3. real clients with idempotence on, 2000 records over 4 partitions:
   confluent-kafka, kafka-python (max in flight 5), aiokafka, kafkajs
   (idempotent, maxInFlightRequests 1, sends one after the other; and
   "kafkajs-inflight5": 20 concurrent sends, maxInFlightRequests 5),
   @confluentinc/kafka-javascript (ckjs, max.in.flight 5), kcat
   (enable.idempotence, keyed, murmur2). Every record acknowledged at the
   expected offset, offsets 0..n-1 per partition in send order (for
   concurrent kafkajs sends: each send's records together, in order, at the
   offset kafkajs reported), nothing else in the log, and every stored batch
   carries one producer id, epoch 0 and base_sequence == base_offset (proof
   that idempotence really was on and the sequences line up).
4. a retry that really happens: a frame-aware TCP proxy in front of the
   broker (the broker advertises the proxy) drops the responses of the first
   3 Produce requests after the broker answered them and closes the
   connection; the client resends the same batches; the log holds every
   record once, in order, every acknowledgement has the right offset, and
   the duplicate counter rose by at least 3. For confluent-kafka (librdkafka),
   kafka-python, aiokafka, kafkajs and ckjs (not kcat, which exits when its
   only broker connection drops).
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import threading
import time
import urllib.request

import pytest

import kafka_raw as kr
from backends import s3_args
from broker import Broker
from cluster_helpers import create_topic_raw, wait_cluster
from clients import Rec, consume, create_topic
from clients import produce as client_produce
from conftest import _LIVE, _teardown
from helpers import KCAT, run_node, uid
from murmur2 import partition_for

INIT_PRODUCER_ID = 22
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
DUPLICATES = "streamhouse_producer_duplicate_batches_total"
RECORDS_IN = "streamhouse_produce_records_in_total"
PG_DATABASE_PREFIX = "compat_idem"


# --------------------------------------------------------------------------
# raw frames


def init_producer_id_v0(bootstrap, transactional_id=None, timeout_ms=60000):
    """InitProducerId v0: (error_code, producer_id, producer_epoch)."""
    body = kr.string(transactional_id) + kr.int32(timeout_ms)
    with kr.Conn(bootstrap) as c:
        corr = c.corr()
        r = kr.Reader(c.request(kr.request_header(INIT_PRODUCER_ID, 0, corr) + body, corr))
    r.int32()  # throttle
    out = (r.int16(), r.int64(), r.int16())
    assert r.remaining() == 0
    return out


def init_producer_id_v4(bootstrap, producer_id=-1, producer_epoch=-1, timeout_ms=60000):
    """InitProducerId v4 (flexible; KIP-360 producer_id/epoch for a bump):
    (error_code, producer_id, producer_epoch)."""
    body = kr.compact_string(None) + kr.int32(timeout_ms) + kr.int64(producer_id) + kr.int16(producer_epoch)
    body += kr.uvarint(0)
    with kr.Conn(bootstrap) as c:
        corr = c.corr()
        r = kr.Reader(c.request(kr.request_header(INIT_PRODUCER_ID, 4, corr, flexible=True) + body, corr,
                                flexible_response_header=True))
    r.int32()  # throttle
    out = (r.int16(), r.int64(), r.int16())
    r.tagged_fields()
    assert r.remaining() == 0
    return out


def idem_batch(values, pid, epoch, seq, ts=None):
    """An uncompressed RecordBatch v2 of idempotent producer (pid, epoch)
    whose first record has sequence `seq` (CRC-32C over attributes..end)."""
    return kr.record_batch([kr.RawRecord(key=None, value=v) for v in values], base_timestamp=ts,
                           producer_id=pid, producer_epoch=epoch, base_sequence=seq)


def plain_batch(values):
    return kr.record_batch([kr.RawRecord(key=None, value=v) for v in values])


def produce_request(topic, parts, corr, acks=-1, timeout_ms=30000):
    """Produce v3 with one batch per partition: parts = [(partition, batch)]."""
    body = (kr.string(None) + kr.int16(acks) + kr.int32(timeout_ms)
            + kr.array([kr.string(topic) + kr.array([kr.int32(p) + kr.bytes_(b) for p, b in parts])]))
    return kr.request_header(kr.PRODUCE, 3, corr) + body


def send(conn, topic, partition, batch):
    """One acks=all Produce v3 of one batch: (error_code, base_offset)."""
    corr = conn.corr()
    res, _, left = kr.parse_produce_v3(conn.request(produce_request(topic, [(partition, batch)], corr), corr))
    assert left == 0 and set(res) == {(topic, partition)}, res
    err, base, _ = res[(topic, partition)]
    return err, base


def send_to(bootstrap, topic, partition, batch):
    with kr.Conn(bootstrap, timeout=30) as c:
        return send(c, topic, partition, batch)


def pipelined(conn, topic, partition, batches):
    """Every batch in its own Produce request, all written before any answer
    is read: [(error_code, base_offset)] in request order."""
    corrs = []
    for b in batches:
        corr = conn.corr()
        corrs.append(corr)
        conn.send_raw(kr.frame(produce_request(topic, [(partition, b)], corr)))
    out = []
    for corr in corrs:
        r = kr.Reader(conn.recv_frame())
        got = r.int32()
        assert got == corr, "responses out of order: correlation id %d, expected %d" % (got, corr)
        res, _, _ = kr.parse_produce_v3(r.data[r.pos:])
        err, base, _ = res[(topic, partition)]
        out.append((err, base))
    return out


def parse_batches(data):
    """Complete RecordBatch v2 in a Fetch answer, with their producer
    fields: [{base_offset, last_offset, producer_id, producer_epoch,
    base_sequence, count, records: [(offset, value)]}] (uncompressed only)."""
    out = []
    for b in kr.parse_record_batches(data):
        assert b["crc_ok"], "bad CRC in the batch at offset %d" % b["base_offset"]
        assert b["records"] is not None, "compressed batch at offset %d (attributes %#x)" % (
            b["base_offset"], b["attributes"])
        fields = {k: b[k] for k in ("base_offset", "last_offset", "producer_id", "producer_epoch", "base_sequence",
                                    "count")}
        out.append(dict(fields, records=[(offset, value) for offset, _, value in b["records"]]))
    return out


def read_log(bootstrap, topic, partition, timeout=30.0):
    """Every batch of one partition, raw-fetched from offset 0 up to the high
    watermark: (high watermark, [batch dicts])."""
    batches = []
    offset = 0
    end = time.monotonic() + timeout
    while True:
        resp, _ = kr.fetch_once(bootstrap, 4, topic, partition, offset)
        p = resp["partitions"][(topic, partition)]
        assert p["error_code"] == 0, "Fetch %s/%d@%d: error %d" % (topic, partition, offset, p["error_code"])
        hw = p["high_watermark"]
        new = [b for b in parse_batches(p["records"]) if b["last_offset"] >= offset]
        batches += new
        if new:
            offset = new[-1]["last_offset"] + 1
        if offset >= hw:
            return hw, batches
        assert time.monotonic() < end, "read up to %d of %s/%d, high watermark %d" % (offset, topic, partition, hw)


def log_records(batches):
    return [rec for b in batches for rec in b["records"]]


def high_watermark(bootstrap, topic, partition):
    resp, _ = kr.fetch_once(bootstrap, 4, topic, partition, 0, max_bytes=1, partition_max_bytes=1)
    p = resp["partitions"][(topic, partition)]
    assert p["error_code"] == 0, p
    return p["high_watermark"]


def counter(broker, name):
    """A counter of this broker, summed over its labels (0 when not
    exported yet)."""
    with urllib.request.urlopen(broker.metrics_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})?\s+(\S+)$" % name, line)
        if m:
            total += float(m.group(2))
    return int(total)


def duplicates(broker):
    """streamhouse_producer_duplicate_batches_total of this broker."""
    return counter(broker, DUPLICATES)


def vals(tag, start, n):
    return [b"%s-%04d" % (tag.encode(), i) for i in range(start, start + n)]


# --------------------------------------------------------------------------
# 1. raw frames, on both backends

BACKENDS = ["sqlite-local", "postgres-s3"]


@pytest.fixture(params=BACKENDS)
def backend_broker(request, broker_factory):
    if request.param == "sqlite-local":
        return broker_factory()
    pg_url = request.getfixturevalue("pg_url")
    return broker_factory("--metadata", pg_url, *s3_args("compat-idem"))


def test_init_producer_id(backend_broker):
    b = backend_broker
    err0, pid0, epoch0 = init_producer_id_v0(b.bootstrap)
    err1, pid1, epoch1 = init_producer_id_v4(b.bootstrap)
    assert (err0, epoch0, err1, epoch1) == (0, 0, 0, 0), (err0, pid0, epoch0, err1, pid1, epoch1)
    assert pid0 >= 0 and pid1 >= 0 and pid0 != pid1, (pid0, pid1)
    # KIP-360: re-initialising with the current id and epoch bumps the epoch.
    assert init_producer_id_v4(b.bootstrap, pid1, 0) == (0, pid1, 1)
    assert init_producer_id_v4(b.bootstrap, pid1, 1) == (0, pid1, 2)
    # A transactional id gets a producer id of its own (test_45 covers transactions).
    err2, pid2, epoch2 = init_producer_id_v0(b.bootstrap, transactional_id=uid("tx"))
    assert (err2, epoch2) == (0, 0) and pid2 >= 0 and pid2 not in (pid0, pid1), (err2, pid2, epoch2)


def test_raw_sequences_retries_gaps_and_epochs(backend_broker):
    b = backend_broker
    topic = uid("idem-raw")
    create_topic_raw(b.bootstrap, topic, 2)
    wait_cluster([b], topic, 2)
    dup0, records0 = duplicates(b), counter(b, RECORDS_IN)
    dups = 0
    err, pid, epoch = init_producer_id_v0(b.bootstrap)
    assert (err, epoch) == (0, 0) and pid >= 0

    expected = []  # [(offset, value)] of partition 0

    def stored(values, base):
        assert base == len(expected), (base, len(expected))
        expected.extend((base + i, v) for i, v in enumerate(values))

    with kr.Conn(b.bootstrap, timeout=30) as c:
        a_vals = vals("a", 0, 3)
        A = idem_batch(a_vals, pid, 0, 0)
        assert send(c, topic, 0, A) == (0, 0)
        stored(a_vals, 0)
        # The same batch again: the original offset, nothing stored.
        assert send(c, topic, 0, A) == (0, 0)
        dups += 1
        assert send_to(b.bootstrap, topic, 0, A) == (0, 0)  # also on another connection
        dups += 1
        assert high_watermark(b.bootstrap, topic, 0) == 3

        b_vals = vals("b", 3, 1)
        B = idem_batch(b_vals, pid, 0, 3)
        assert send(c, topic, 0, B) == (0, 3)
        stored(b_vals, 3)
        # A is still one of the last 5 batches.
        assert send(c, topic, 0, A) == (0, 0)
        dups += 1
        assert send(c, topic, 0, B) == (0, 3)
        dups += 1

        # A gap (4 expected), a batch overlapping B (3..4), a batch with A's
        # first sequence but another length, a sequence going backwards.
        assert send(c, topic, 0, idem_batch(vals("gap", 5, 1), pid, 0, 5)) == (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
        assert send(c, topic, 0, idem_batch(vals("ovl", 3, 2), pid, 0, 3)) == (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
        assert send(c, topic, 0, idem_batch(vals("len", 0, 2), pid, 0, 0)) == (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
        assert send(c, topic, 0, idem_batch(vals("back", 2, 1), pid, 0, 2)) == (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
        assert high_watermark(b.bootstrap, topic, 0) == 4

        # A plain (non-idempotent) batch in between is stored as usual and
        # does not disturb the producer's sequence.
        p_vals = vals("plain", 0, 2)
        assert send(c, topic, 0, plain_batch(p_vals)) == (0, 4)
        stored(p_vals, 4)
        assert send(c, topic, 0, plain_batch(p_vals)) == (0, 6)  # no deduplication without a producer id
        stored(p_vals, 6)

        # Pipelined on one connection: 3 in-order batches and a retry of the
        # second, all written before any answer is read.
        c_vals, d_vals, e_vals = vals("c", 4, 2), vals("d", 6, 3), vals("e", 9, 1)
        C, D, E = idem_batch(c_vals, pid, 0, 4), idem_batch(d_vals, pid, 0, 6), idem_batch(e_vals, pid, 0, 9)
        assert pipelined(c, topic, 0, [C, D, D, E]) == [(0, 8), (0, 10), (0, 10), (0, 13)]
        dups += 1
        stored(c_vals, 8)
        stored(d_vals, 10)
        stored(e_vals, 13)

        # The same new batch on two connections at the same moment: stored once.
        f_vals = vals("f", 10, 2)
        F = idem_batch(f_vals, pid, 0, 10)
        answers = concurrently([lambda: send_to(b.bootstrap, topic, 0, F)] * 2)
        assert answers == [(0, 14), (0, 14)], answers
        dups += 1
        stored(f_vals, 14)

        # The window is 5 batches: remembered now are B, C, D, E, F; A is
        # not, so its retry is out of order (as in Kafka).
        assert send(c, topic, 0, B) == (0, 3)
        dups += 1
        assert send(c, topic, 0, A) == (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)

        # Another partition has its own state: an unknown (producer,
        # partition) may start at any sequence.
        q_vals = vals("q", 100, 2)
        Q = idem_batch(q_vals, pid, 0, 100)
        corr = c.corr()
        res, _, _ = kr.parse_produce_v3(c.request(produce_request(
            topic, [(0, idem_batch(vals("g", 12, 1), pid, 0, 12)), (1, Q)], corr), corr))
        assert {k: v[:2] for k, v in res.items()} == {(topic, 0): (0, 16), (topic, 1): (0, 0)}, res
        stored(vals("g", 12, 1), 16)
        assert send(c, topic, 1, Q) == (0, 0)
        dups += 1
        assert send(c, topic, 1, idem_batch(vals("q", 103, 1), pid, 0, 103)) == (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)

        # Epoch bump (KIP-360 through InitProducerId v4): the new epoch must
        # start at 0; after it, the old epoch is fenced, even for a retry.
        assert init_producer_id_v4(b.bootstrap, pid, 0) == (0, pid, 1)
        assert send(c, topic, 0, idem_batch(vals("x", 7, 1), pid, 1, 7)) == (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
        assert high_watermark(b.bootstrap, topic, 0) == 17
        # Until epoch 1 has written something, epoch 0 is still current.
        h_vals = vals("h", 13, 1)
        assert send(c, topic, 0, idem_batch(h_vals, pid, 0, 13)) == (0, 17)
        stored(h_vals, 17)
        n_vals = vals("n", 0, 2)
        N0 = idem_batch(n_vals, pid, 1, 0)
        assert send(c, topic, 0, N0) == (0, 18)
        stored(n_vals, 18)
        assert send(c, topic, 0, idem_batch(vals("old", 14, 1), pid, 0, 14)) == (INVALID_PRODUCER_EPOCH, -1)
        assert send(c, topic, 0, idem_batch(h_vals, pid, 0, 13)) == (INVALID_PRODUCER_EPOCH, -1)
        assert send(c, topic, 0, N0) == (0, 18)
        dups += 1
        n2_vals = vals("n", 2, 3)
        assert send(c, topic, 0, idem_batch(n2_vals, pid, 1, 2)) == (0, 20)
        stored(n2_vals, 20)

        # A producer id never seen (no InitProducerId) may start anywhere.
        u_vals = vals("u", 17, 2)
        U = idem_batch(u_vals, 900000001, 3, 17)
        assert send(c, topic, 0, U) == (0, 23)
        stored(u_vals, 23)
        assert send(c, topic, 0, U) == (0, 23)
        dups += 1
        assert send(c, topic, 0, idem_batch(vals("u", 20, 1), 900000001, 3, 20)) == (
            OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
        assert send(c, topic, 0, idem_batch(vals("u", 19, 1), 900000001, 2, 19)) == (INVALID_PRODUCER_EPOCH, -1)

    # The log: every record once, at the offsets the answers gave.
    hw, batches = read_log(b.bootstrap, topic, 0)
    assert hw == 25 == len(expected)
    assert log_records(batches) == expected
    # Stored batches keep their producer fields.
    assert [(x["base_offset"], x["producer_id"], x["producer_epoch"], x["base_sequence"]) for x in batches] == [
        (0, pid, 0, 0), (3, pid, 0, 3), (4, -1, -1, -1), (6, -1, -1, -1), (8, pid, 0, 4), (10, pid, 0, 6),
        (13, pid, 0, 9), (14, pid, 0, 10), (16, pid, 0, 12), (17, pid, 0, 13), (18, pid, 1, 0), (20, pid, 1, 2),
        (23, 900000001, 3, 17)]
    hw1, batches1 = read_log(b.bootstrap, topic, 1)
    assert (hw1, log_records(batches1)) == (2, [(0, q_vals[0]), (1, q_vals[1])])
    # A consumer sees the same, no duplicates.
    got = consume("confluent-kafka", b.bootstrap, topic, len(expected), partitions=(0,), start=0, timeout=30)
    assert [(g.offset, g.value) for g in got] == expected
    assert duplicates(b) - dup0 == dups == 10
    # Records are counted once, when stored: not the retries, not the refused.
    assert counter(b, RECORDS_IN) - records0 == len(expected) + hw1


def concurrently(fns, timeout=30.0):
    """Run the callables at the same moment (a barrier), return their results."""
    barrier = threading.Barrier(len(fns))
    results = [None] * len(fns)
    errors = []

    def run(i, fn):
        try:
            barrier.wait(10)
            results[i] = fn()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a concurrent call did not finish within %.0fs" % timeout
    assert not errors, errors
    return results


# --------------------------------------------------------------------------
# 2. two brokers on one PostgreSQL + S3 prefix, kill -9 and restart


HEARTBEAT_MS = 300
SESSION_MS = 2000


def test_dedup_across_brokers_and_restart(broker_factory, pg_url):
    common = ["--metadata", pg_url, *s3_args("compat-idem-mb"),
              "--broker-heartbeat-interval-ms", str(HEARTBEAT_MS),
              "--broker-session-timeout-ms", str(SESSION_MS),
              "--auto-create-topics-enable", "false"]
    b1 = broker_factory(*common, node_id=1)
    b2 = broker_factory(*common, node_id=2)
    wait_cluster([b1, b2], timeout=15)
    topic = uid("idem-mb")
    create_topic_raw(b1.bootstrap, topic, 1)
    wait_cluster([b1, b2], topic, 1)
    b2_dup0 = duplicates(b2)
    lags = []

    # Producer ids come from one durable counter: distinct across brokers.
    e1, pid, ep1 = init_producer_id_v0(b1.bootstrap)
    e2, pid_other, ep2 = init_producer_id_v0(b2.bootstrap)
    assert (e1, ep1, e2, ep2) == (0, 0, 0, 0) and pid >= 0 and pid_other >= 0 and pid != pid_other

    expected = []

    def stored(values, base):
        assert base == len(expected), (base, len(expected))
        expected.extend((base + i, v) for i, v in enumerate(values))

    plain = vals("plain", 0, 2)
    assert send_to(b1.bootstrap, topic, 0, plain_batch(plain)) == (0, 0)
    stored(plain, 0)
    a_vals = vals("a", 0, 5)
    A = idem_batch(a_vals, pid, 0, 0)
    assert send_to(b1.bootstrap, topic, 0, A) == (0, 2)
    stored(a_vals, 2)
    assert send_to(b2.bootstrap, topic, 0, A) == (0, 2)  # the same batch through the other broker
    assert high_watermark(b1.bootstrap, topic, 0) == 7
    # Broker 2 answered "stored at 2" for records broker 1 committed: the
    # commit that found the duplicate also brought broker 2's view of the
    # partition up to date, so what it acknowledged is readable there at
    # once (not only when the change feed catches up).
    assert high_watermark(b2.bootstrap, topic, 0) == 7
    b_vals = vals("b", 5, 2)
    B = idem_batch(b_vals, pid, 0, 5)
    assert send_to(b2.bootstrap, topic, 0, B) == (0, 7)
    stored(b_vals, 7)
    assert send_to(b1.bootstrap, topic, 0, A) == (0, 2)  # b1 sees the state b2 updated
    assert send_to(b1.bootstrap, topic, 0, idem_batch(vals("gap", 9, 1), pid, 0, 9)) == (
        OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
    assert duplicates(b1) == 1
    assert duplicates(b2) - b2_dup0 == 1

    # kill -9 broker 1 and start it again: the state is in PostgreSQL.
    b1.kill9()
    b1.restart()
    wait_cluster([b1, b2], topic, 1, timeout=20)
    assert duplicates(b1) == 0
    assert send_to(b1.bootstrap, topic, 0, B) == (0, 7)
    assert send_to(b1.bootstrap, topic, 0, A) == (0, 2)
    assert send_to(b1.bootstrap, topic, 0, idem_batch(vals("gap", 10, 1), pid, 0, 10)) == (
        OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
    c_vals = vals("c", 7, 3)
    assert send_to(b1.bootstrap, topic, 0, idem_batch(c_vals, pid, 0, 7)) == (0, 9)
    stored(c_vals, 9)
    d_vals = vals("d", 10, 1)
    assert send_to(b2.bootstrap, topic, 0, idem_batch(d_vals, pid, 0, 10)) == (0, 12)
    stored(d_vals, 12)

    # The same new batch sent at the same moment to both brokers: both get
    # the same offset, the log gets it once (the partition row lock).
    seq = 11
    rounds = 5
    for r in range(rounds):
        r_vals = vals("r%d" % r, seq, 4)
        R = idem_batch(r_vals, pid, 0, seq)
        answers = concurrently([lambda: send_to(b1.bootstrap, topic, 0, R),
                                lambda: send_to(b2.bootstrap, topic, 0, R)])
        base = len(expected)
        assert answers == [(0, base), (0, base)], (r, answers)
        stored(r_vals, base)
        seq += 4
        # Whichever broker found the duplicate is up to date when it answers.
        assert [high_watermark(b.bootstrap, topic, 0) for b in (b1, b2)] == [len(expected)] * 2, r

    # An epoch bumped through broker 2 and used there fences epoch 0 on broker 1.
    assert init_producer_id_v4(b2.bootstrap, pid, 0) == (0, pid, 1)
    n_vals = vals("n", 0, 1)
    assert send_to(b2.bootstrap, topic, 0, idem_batch(n_vals, pid, 1, 0)) == (0, len(expected))
    stored(n_vals, len(expected))
    assert send_to(b1.bootstrap, topic, 0, idem_batch(vals("old", seq, 1), pid, 0, seq)) == (
        INVALID_PRODUCER_EPOCH, -1)

    for b in (b1, b2):
        lags.append(wait_hw(b, topic, 0, len(expected)))
        hw, batches = read_log(b.bootstrap, topic, 0)
        assert hw == len(expected) == 34
        assert log_records(batches) == expected, b
    assert duplicates(b1) + duplicates(b2) - b2_dup0 == 1 + 2 + rounds
    print("stale high watermark reads at the end (b1, b2): %s" % " ".join(map(str, lags)))


def wait_hw(broker, topic, partition, want, timeout=10.0):
    """Wait until the broker's high watermark is exactly `want` (it must
    never go past it); returns how many reads saw it lower first (0: it was
    already there)."""
    t0 = time.monotonic()
    stale = 0
    while True:
        hw = high_watermark(broker.bootstrap, topic, partition)
        assert hw <= want, "high watermark %d on broker %d, only %d records were stored" % (hw, broker.node_id, want)
        if hw == want:
            return stale
        stale += 1
        assert time.monotonic() - t0 < timeout, "broker %d: high watermark still %d, not %d, after %.0fs" % (
            broker.node_id, hw, want, timeout)
        time.sleep(0.01)


# --------------------------------------------------------------------------
# 3. real clients with idempotence on


CLIENT_PARTITIONS = 4
CLIENT_RECORDS = 2000
ALL_CLIENTS = ["confluent-kafka", "kafka-python", "aiokafka", "kafkajs", "kafkajs-inflight5", "ckjs", "kcat"]


def python_client_extra(client):
    if client == "confluent-kafka":
        return {"enable.idempotence": True, "max.in.flight.requests.per.connection": 5, "linger.ms": 2,
                "batch.num.messages": 50, "retries": 1000000}
    if client == "kafka-python":
        return {"enable_idempotence": True, "max_in_flight_requests_per_connection": 5, "batch_size": 1024,
                "linger_ms": 2}
    if client == "aiokafka":
        return {"enable_idempotence": True, "max_batch_size": 1024, "linger_ms": 2}
    raise ValueError(client)


def run_js_producer(client, bootstrap, topic, prefix, partitions=CLIENT_PARTITIONS, count=CLIENT_RECORDS,
                    concurrent=False):
    """compat/js/idempotence.js: `count` records, value "<prefix>-%05d" % i
    to partition i % partitions, in sends of 100 (kafkajs: one after the
    other with maxInFlightRequests 1, or with concurrent=True all at once with
    maxInFlightRequests 5; ckjs: all at once, max.in.flight 5). Every send
    must succeed; returns {send index: {partition: baseOffset}}."""
    cfg = dict(client=client, bootstrap=bootstrap, topic=topic, partitions=partitions, count=count,
               prefix=prefix, chunk=100)
    if concurrent:
        cfg.update(concurrent=True, maxInFlight=5)
    rc, evs, info = run_node("idempotence.js", cfg, 180, client)
    chunks = (count + 99) // 100
    assert rc == 0 and evs and evs[-1] == {"ev": "done", "sent": chunks, "failed": 0}, info
    sent = {e["i"]: e["res"] for e in evs if e["ev"] == "sent"}
    assert sorted(sent) == list(range(chunks)), info
    for i, res in sent.items():
        assert all(r.get("errorCode", 0) in (0, None) for r in res), (i, res)
    return {i: {r["partition"]: r["baseOffset"] for r in res} for i, res in sent.items()}


def check_js_send_offsets(sent, partitions):
    """Sends made one after the other: per partition, the offset of a
    send's first record = the records sent to that partition before it."""
    for i, bases in sent.items():
        assert bases == {p: (i * 100 + (p - i * 100) % partitions) // partitions for p in range(partitions)}, (
            i, bases)


def run_kcat_producer(bootstrap, topic, prefix, partitions=CLIENT_PARTITIONS, count=CLIENT_RECORDS):
    """kcat -P of `count` records "<prefix>-%05d" % i with keys "k%05d" %
    i (murmur2_random partitioner): returns the partition of each record,
    computed with murmur2."""
    assert KCAT, "kcat is not installed"
    lines = []
    parts = []
    for i in range(count):
        key = b"k%05d" % i
        lines.append(key + b":" + b"%s-%05d" % (prefix.encode(), i))
        parts.append(partition_for(key, partitions))
    proc = subprocess.run([KCAT, "-b", bootstrap, "-P", "-t", topic, "-K:", "-X", "enable.idempotence=true",
                           "-X", "max.in.flight=5", "-X", "linger.ms=2", "-X", "batch.num.messages=50",
                           "-X", "partitioner=murmur2_random", "-X", "acks=all"],
                          input=b"\n".join(lines) + b"\n", capture_output=True, timeout=120)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0 and "fail" not in err.lower() and "error" not in err.lower(), (
        "kcat rc=%d stderr:\n%s" % (proc.returncode, err[-3000:]))
    assert sorted(set(parts)) == list(range(partitions))
    return parts


@pytest.mark.parametrize("client", ALL_CLIENTS)
def test_idempotent_clients(broker, client, request):
    if client in ("kafkajs", "kafkajs-inflight5", "ckjs"):
        request.getfixturevalue("js_clients")
    topic = uid("idem-cl")
    create_topic(broker.bootstrap, topic, CLIENT_PARTITIONS)
    prefix = client
    values = [b"%s-%05d" % (prefix.encode(), i) for i in range(CLIENT_RECORDS)]
    partition_of = [i % CLIENT_PARTITIONS for i in range(CLIENT_RECORDS)]
    dup0 = duplicates(broker)

    if client in ("confluent-kafka", "kafka-python", "aiokafka"):
        recs = [Rec(value=v, partition=p) for v, p in zip(values, partition_of)]
        dels = client_produce(client, broker.bootstrap, topic, recs, acks="all", linger_ms=2, timeout=120,
                              extra=python_client_extra(client))
        assert [d.error for d in dels] == [None] * CLIENT_RECORDS, [d for d in dels if d.error is not None][:5]
        seen = {}
        for d, p in zip(dels, partition_of):
            assert d.partition == p
            assert d.offset == seen.get(p, 0), "record acknowledged at %d/%d, expected %d" % (
                p, d.offset, seen.get(p, 0))
            seen[p] = d.offset + 1
    elif client in ("kafkajs", "ckjs"):
        check_js_send_offsets(run_js_producer(client, broker.bootstrap, topic, prefix), CLIENT_PARTITIONS)
    elif client == "kafkajs-inflight5":
        sent = run_js_producer("kafkajs", broker.bootstrap, topic, prefix, concurrent=True)
    else:
        partition_of = run_kcat_producer(broker.bootstrap, topic, prefix)

    pids = set()
    for p in range(CLIENT_PARTITIONS):
        want = [v for v, q in zip(values, partition_of) if q == p]
        hw, batches = read_log(broker.bootstrap, topic, p)
        assert hw == len(want)
        got = log_records(batches)
        if client == "kafkajs-inflight5":
            # kafkajs does not keep concurrent send() calls in call order:
            # each send's records must be contiguous and in order, at the
            # offset its RecordMetadata gave, and every record there once.
            index = {v: i for i, v in enumerate(values)}
            for i, bases in sent.items():
                mine = [v for j, v in enumerate(values) if j // 100 == i and partition_of[j] == p]
                assert [v for _, v in got[bases[p]:bases[p] + len(mine)]] == mine, (p, i, bases)
            assert sorted(index[v] for _, v in got) == [i for i in range(CLIENT_RECORDS) if partition_of[i] == p]
            assert [o for o, _ in got] == list(range(hw))
        else:
            assert got == list(enumerate(want)), "partition %d: not exactly the records in order" % p
        for x in batches:
            pids.add((x["producer_id"], x["producer_epoch"]))
            # One producer session from offset 0: sequence == offset.
            assert x["base_sequence"] == x["base_offset"], (p, x["base_offset"], x["base_sequence"])
    assert len(pids) == 1 and next(iter(pids))[0] >= 0 and next(iter(pids))[1] == 0, pids
    print("%s: %d records, producer %r, %d duplicate batches answered by the broker" % (
        client, CLIENT_RECORDS, pids, duplicates(broker) - dup0))


# --------------------------------------------------------------------------
# 4. a real retry: a proxy drops Produce responses


class DropProduceResponses:
    """A frame-aware TCP proxy on 127.0.0.1: forwards requests and
    responses, but for the first `drop` Produce requests (with acks != 0) it
    swallows the broker's answer and closes both sides of the connection, as
    if the network died right after the broker answered."""

    def __init__(self, upstream_port, drop):
        self.upstream = ("127.0.0.1", upstream_port)
        self.drop_left = drop
        self.dropped = 0
        self.produce_requests = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _read_frame(sock):
        head = b""
        while len(head) < 4:
            chunk = sock.recv(4 - len(head))
            if not chunk:
                return None
            head += chunk
        (n,) = struct.unpack(">i", head)
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(min(1 << 20, n - len(buf)))
            if not chunk:
                return None
            buf += chunk
        return head + bytes(buf)

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream, timeout=10)
                up.settimeout(None)
            except OSError:
                self._close(client)
                continue
            with self.lock:
                self.connections += 1
                self.socks += [client, up]
            produce_corrs = set()
            threading.Thread(target=self._requests, args=(client, up, produce_corrs), daemon=True).start()
            threading.Thread(target=self._responses, args=(client, up, produce_corrs), daemon=True).start()

    def _requests(self, client, up, produce_corrs):
        try:
            while True:
                f = self._read_frame(client)
                if f is None:
                    break
                api_key, _version, corr = struct.unpack_from(">hhi", f, 4)
                if api_key == kr.PRODUCE:
                    with self.lock:
                        self.produce_requests += 1
                        produce_corrs.add(corr)
                up.sendall(f)
        except OSError:
            pass
        self._close(client, up)

    def _responses(self, client, up, produce_corrs):
        try:
            while True:
                f = self._read_frame(up)
                if f is None:
                    break
                (corr,) = struct.unpack_from(">i", f, 4)
                with self.lock:
                    drop = corr in produce_corrs and self.drop_left > 0
                    if drop:
                        self.drop_left -= 1
                        self.dropped += 1
                if drop:
                    break
                client.sendall(f)
        except OSError:
            pass
        self._close(client, up)

    def close(self):
        self.stopping = True
        self._close(self.listener)
        with self.lock:
            socks = list(self.socks)
        self._close(*socks)


class AdvertisedBroker(Broker):
    """A broker that advertises another address (the proxy in front of it)."""

    advertised = None

    def argv(self):
        argv = super().argv()
        if self.advertised:
            argv[argv.index("--advertised-listener") + 1] = self.advertised
        return argv


RETRY_RECORDS = 1000
RETRY_PARTITIONS = 2
RETRY_DROPS = 3


def retry_values():
    return [b"retry-%05d" % i for i in range(RETRY_RECORDS)]


def paced(values, send_one, pause):
    """Send values in order (value i to partition i % RETRY_PARTITIONS),
    pausing every 100 so the records go out in several Produce requests."""
    for i, v in enumerate(values):
        send_one(v, i % RETRY_PARTITIONS)
        if i % 100 == 99:
            pause()


def retry_produce_ck(bootstrap, topic, values):
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "max.in.flight.requests.per.connection": 5, "linger.ms": 5, "batch.num.messages": 100,
                  "retry.backoff.ms": 50, "reconnect.backoff.ms": 50, "message.timeout.ms": 60000,
                  "socket.timeout.ms": 10000, "request.timeout.ms": 10000})
    acked, failed = {}, []

    def on_delivery(err, msg):
        if err is not None:
            failed.append((msg.value(), str(err)))
        else:
            acked[msg.value()] = (msg.partition(), msg.offset())

    def one(v, part):
        p.produce(topic, value=v, partition=part, on_delivery=on_delivery)
        p.poll(0)

    paced(values, one, lambda: time.sleep(0.02))
    left = p.flush(60)
    assert left == 0, "%d records neither acknowledged nor failed after 60 s" % left
    return acked, failed


def retry_produce_kp(bootstrap, topic, values):
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks=-1,
                      max_in_flight_requests_per_connection=5, linger_ms=5, batch_size=1600,
                      retry_backoff_ms=50, reconnect_backoff_ms=50, request_timeout_ms=10000,
                      delivery_timeout_ms=60000)
    futs = []
    try:
        paced(values, lambda v, part: futs.append((v, p.send(topic, value=v, partition=part))),
              lambda: time.sleep(0.02))
        p.flush(60)
        acked, failed = {}, []
        for v, f in futs:
            try:
                md = f.get(timeout=60)
                acked[v] = (md.partition, md.offset)
            except Exception as e:  # reported by the caller
                failed.append((v, repr(e)))
    finally:
        p.close(timeout=10)
    return acked, failed


def retry_produce_aio(bootstrap, topic, values):
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5,
                             max_batch_size=1600, retry_backoff_ms=50, request_timeout_ms=10000)
        await p.start()
        futs = []
        try:
            for i, v in enumerate(values):
                futs.append((v, await p.send(topic, value=v, partition=i % RETRY_PARTITIONS)))
                if i % 100 == 99:
                    await asyncio.sleep(0.02)
            await asyncio.wait_for(p.flush(), 60)
            acked, failed = {}, []
            for v, f in futs:
                try:
                    md = await asyncio.wait_for(f, 60)
                    acked[v] = (md.partition, md.offset)
                except Exception as e:  # reported by the caller
                    failed.append((v, repr(e)))
            return acked, failed
        finally:
            await asyncio.wait_for(p.stop(), 30)

    return asyncio.run(asyncio.wait_for(run(), 120))


RETRY_CLIENTS = {"confluent-kafka": retry_produce_ck, "kafka-python": retry_produce_kp, "aiokafka": retry_produce_aio}


# Not kcat: it exits by itself ("All broker connections are down:
# terminating") as soon as the connection to its only broker drops.
@pytest.mark.parametrize("client", list(RETRY_CLIENTS) + ["kafkajs", "ckjs"])
def test_retry_after_lost_responses_is_deduplicated(tmp_path, client, request):
    if client in ("kafkajs", "ckjs"):
        request.getfixturevalue("js_clients")
    b = AdvertisedBroker(tmp_path / "data", tmp_path / "broker.log")
    proxy = DropProduceResponses(b.port, RETRY_DROPS)
    b.advertised = "127.0.0.1:%d" % proxy.port
    _LIVE.append(b)
    try:
        b.start()
        topic = uid("idem-retry")
        create_topic(b.bootstrap, topic, RETRY_PARTITIONS)
        dup0 = duplicates(b)
        values = retry_values()
        partition_of = [i % RETRY_PARTITIONS for i in range(RETRY_RECORDS)]
        via_proxy = "127.0.0.1:%d" % proxy.port
        if client in RETRY_CLIENTS:
            acked, failed = RETRY_CLIENTS[client](via_proxy, topic, values)
            assert not failed, failed[:5]
            assert acked == {v: (i % RETRY_PARTITIONS, i // RETRY_PARTITIONS) for i, v in enumerate(values)}
        else:
            sent = run_js_producer(client, via_proxy, topic, "retry", RETRY_PARTITIONS, RETRY_RECORDS)
            check_js_send_offsets(sent, RETRY_PARTITIONS)
        assert proxy.dropped == RETRY_DROPS, "the proxy dropped %d Produce responses, expected %d (%d requests)" % (
            proxy.dropped, RETRY_DROPS, proxy.produce_requests)
        assert proxy.connections >= 1 + RETRY_DROPS, proxy.connections

        producers = set()
        for part in range(RETRY_PARTITIONS):
            want = [v for v, q in zip(values, partition_of) if q == part]
            hw, batches = read_log(b.bootstrap, topic, part)
            got = log_records(batches)
            dupl = len(got) - len({v for _, v in got})
            assert hw == len(want), "partition %d holds %d records (%d duplicated), %d were produced" % (
                part, hw, dupl, len(want))
            assert got == list(enumerate(want))
            producers |= {(x["producer_id"], x["producer_epoch"]) for x in batches}
            assert all(x["base_sequence"] == x["base_offset"] for x in batches)
        assert len(producers) == 1, producers
        dups = duplicates(b) - dup0
        assert dups >= RETRY_DROPS, "only %d duplicate batches counted after %d lost Produce responses" % (
            dups, RETRY_DROPS)
        print("%s: proxy %d connections, %d Produce requests, %d responses dropped; broker: %d duplicate "
              "batches" % (client, proxy.connections, proxy.produce_requests, proxy.dropped, dups))
    finally:
        proxy.close()
        _teardown(b)
