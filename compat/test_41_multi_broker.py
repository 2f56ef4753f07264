"""Three brokers (node ids 1, 2, 3) sharing one PostgreSQL database and one
S3 prefix: one cluster as real clients see it.

- Metadata from every broker lists the same live brokers (ids, host:port),
  the same cluster id and controller, and the same partition -> leader map,
  with the leaders spread over all three brokers; a topic created through
  one broker shows up on the others.
- Any broker takes Produce for any partition: raw Produce frames sent to
  each broker concurrently get offsets that tile every partition 0..N-1,
  and every broker (and a confluent-kafka consumer) reads back exactly the
  same records.
- A Fetch long poll parked on broker B is woken by a commit made through
  broker A (for every ordered pair), well before its max_wait.
- A consumer group of three confluent-kafka members, each bootstrapped
  from a different broker, consumes and commits; FindCoordinator agrees on
  every broker; JoinGroup, Heartbeat, OffsetFetch and DescribeGroups sent to
  the other brokers get NOT_COORDINATOR (16).
- kill -9 of the group's coordinator (which also leads some partitions)
  while an acks=all producer is sending: every acknowledged record is at
  its acknowledged offset, offsets stay contiguous, Metadata drops the dead
  broker after the broker session timeout, the group moves to a surviving
  coordinator that has the offsets committed before the crash, and the
  group resumes exactly there. Run twice: killing broker 1 (also the
  controller) and broker 3.

Brokers run with --broker-heartbeat-interval-ms 300 and
--broker-session-timeout-ms 2000 so a killed broker is declared dead fast.
Raw frames (kafka_raw.py, groups_helpers.py) are used wherever a test has
to talk to one particular broker, since clients follow the leaders.

scripts/test.sh starts PostgreSQL and an S3-compatible server and exports
STREAMHOUSE_TEST_POSTGRES_URL, STREAMHOUSE_TEST_S3_BUCKET and AWS_*; each
test gets its own database (the pg_url fixture) and key prefix
(backends.s3_args).
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_raw as kr
from backends import s3_args
from cluster_helpers import create_topic_raw
from groups_helpers import RawGroupClient, offset_fetch, wait_until
from helpers import uid

HEARTBEAT_MS = 300
SESSION_MS = 2000
NODE_IDS = (1, 2, 3)
NOT_COORDINATOR = 16
# pg_url (conftest.py) names each test's database compat_mb_<uuid>
PG_DATABASE_PREFIX = "compat_mb"


# --------------------------------------------------------------------------
# raw frames to one particular broker


def metadata(bootstrap, topics=None):
    """Metadata v12 from this broker: topics=None lists every topic."""
    with kr.Conn(bootstrap, timeout=15) as c:
        corr = c.corr()
        body = c.request(kr.metadata_request_v12(topics, False, corr), corr, flexible_response_header=True)
    md = kr.parse_metadata_v12(body)
    assert md["leftover"] == 0, md
    return md


def broker_set(md):
    return {(b["node_id"], b["host"], b["port"]) for b in md["brokers"]}


def expected_brokers(brokers):
    return {(b.node_id, "127.0.0.1", b.port) for b in brokers}


def leaders(md, topic):
    """{partition: leader} of topic in a Metadata answer, None if not there."""
    for t in md["topics"]:
        if t["name"] == topic and t["error_code"] == 0:
            return {p["partition_index"]: p["leader_id"] for p in t["partitions"] if p["error_code"] == 0}
    return None


def produce_raw(conn, topic, partition, values):
    """One acks=all Produce v3 on an open connection; returns the base offset."""
    corr = conn.corr()
    batch = kr.record_batch([kr.RawRecord(key=None, value=v) for v in values])
    res, _, _ = kr.parse_produce_v3(conn.request(kr.produce_request_v3(topic, partition, batch, corr), corr))
    err, base, _ = res[(topic, partition)]
    assert err == 0, "Produce %s/%d: error %d" % (topic, partition, err)
    return base


def decode_batches(data):
    """[(offset, key, value)] of the complete v2 record batches in data
    (uncompressed, as our raw producer sends them), CRC-checked."""
    out = []
    for batch in kr.parse_record_batches(data):
        base = batch["base_offset"]
        assert batch["crc_ok"], "batch at offset %d: bad CRC" % base
        assert batch["attributes"] & 0x07 == 0, "batch at offset %d is compressed (attributes %#x)" % (
            base, batch["attributes"])
        out += batch["records"]
    return out


def fetch_raw(bootstrap, topic, partition, offset, max_wait_ms=0, min_bytes=0):
    """One Fetch v4 to this broker: (error, high watermark, [(offset, key, value)], seconds)."""
    resp, elapsed = kr.fetch_once(bootstrap, 4, topic, partition, offset, max_wait_ms=max_wait_ms,
                                  min_bytes=min_bytes)
    p = resp["partitions"][(topic, partition)]
    return p["error_code"], p["high_watermark"], decode_batches(p["records"]), elapsed


def read_partition_raw(bootstrap, topic, partition, timeout=30.0):
    """Every record of one partition, fetched from this broker from offset 0
    up to its high watermark: (high watermark, [(offset, value)])."""
    got = []
    offset = 0
    end = time.monotonic() + timeout
    while True:
        err, hw, recs, _ = fetch_raw(bootstrap, topic, partition, offset)
        assert err == 0, "Fetch %s/%d@%d from %s: error %d" % (topic, partition, offset, bootstrap, err)
        recs = [(o, v) for o, _k, v in recs if o >= offset]
        got += recs
        if recs:
            offset = recs[-1][0] + 1
        if offset >= hw:
            return hw, got
        assert time.monotonic() < end, "read %d records of %s/%d from %s, high watermark %d" % (
            len(got), topic, partition, bootstrap, hw)


def find_coordinator(bootstrap, group):
    g = RawGroupClient(bootstrap)
    try:
        return g.find_coordinator(group)
    finally:
        g.close()


def committed_raw(bootstrap, group, topic, partitions):
    """OffsetFetch v8 to this broker: (group error, {partition: (offset, error)})."""
    (grp,) = offset_fetch(bootstrap, group, topic, partitions)["groups"]
    assert grp["group_id"] == group, grp
    parts = {}
    for t in grp["topics"] or []:
        assert t["name"] == topic, grp
        for p in t["partitions"]:
            parts[p["partition_index"]] = (p["committed_offset"], p["error_code"])
    return grp["error_code"], parts


# --------------------------------------------------------------------------
# the cluster


class Cluster:
    def __init__(self, brokers, pg_url):
        self.brokers = brokers
        self.pg_url = pg_url
        self.by_id = {b.node_id: b for b in brokers}

    def bootstrap(self, ids=None):
        return ",".join(self.by_id[i].bootstrap for i in (ids or sorted(self.by_id)))

    def live(self):
        return [b for b in self.brokers if not b.expected_down]

    def wait_members(self, expected, timeout=15.0):
        """Until every broker in expected lists exactly the brokers in expected."""
        want = expected_brokers(expected)
        seen = {}

        def check():
            seen.clear()
            for b in expected:
                seen[b.node_id] = broker_set(metadata(b.bootstrap))
            return all(s == want for s in seen.values())

        try:
            wait_until(check, timeout, "brokers %s to list exactly %s" % (
                [b.node_id for b in expected], sorted(want)), interval=0.1)
        except AssertionError as e:
            raise AssertionError("%s; last answers: %r" % (e, seen)) from None

    def wait_topic(self, topic, partitions, timeout=10.0):
        """Until every live broker describes topic with `partitions` partitions;
        returns {node_id: {partition: leader}}."""
        out = {}

        def check():
            for b in self.live():
                lead = leaders(metadata(b.bootstrap, [topic]), topic)
                if lead is None or len(lead) != partitions:
                    return False
                out[b.node_id] = lead
            return True

        wait_until(check, timeout, "topic %s with %d partitions on every broker" % (topic, partitions),
                   interval=0.1)
        return out


@pytest.fixture
def cluster(broker_factory, pg_url):
    common = ["--metadata", pg_url, *s3_args("compat-mb"),
              "--broker-heartbeat-interval-ms", str(HEARTBEAT_MS),
              "--broker-session-timeout-ms", str(SESSION_MS),
              "--group-initial-rebalance-delay-ms", "300",
              "--auto-create-topics-enable", "false"]
    brokers = [broker_factory(*common, node_id=n) for n in NODE_IDS]
    c = Cluster(brokers, pg_url)
    # A broker learns of the brokers that registered after it at its next
    # heartbeat: a few heartbeat intervals.
    c.wait_members(brokers, timeout=15.0)
    return c


def new_topic():
    return uid("mb")


# --------------------------------------------------------------------------
# 1. one cluster as Metadata describes it


def test_every_broker_describes_the_same_cluster(cluster):
    topic = new_topic()
    b1, b2, b3 = cluster.brokers
    admin = AdminClient({"bootstrap.servers": b2.bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=12, replication_factor=1)]).values():
        f.result(15)
    # Created through the controller; visible everywhere shortly after.
    cluster.wait_topic(topic, 12, timeout=10.0)

    answers = {b.node_id: metadata(b.bootstrap, [topic]) for b in cluster.brokers}
    want = expected_brokers(cluster.brokers)
    for node, md in answers.items():
        assert broker_set(md) == want, "broker %d lists %r" % (node, md["brokers"])
        (t,) = md["topics"]
        assert (t["error_code"], t["name"], len(t["partitions"])) == (0, topic, 12), (node, t)
        for p in t["partitions"]:
            assert p["error_code"] == 0, (node, p)
            assert p["replica_nodes"] == [p["leader_id"]] and p["isr_nodes"] == [p["leader_id"]], (node, p)
    cluster_ids = {md["cluster_id"] for md in answers.values()}
    assert len(cluster_ids) == 1 and None not in cluster_ids, "cluster ids differ: %r" % cluster_ids
    controllers = {md["controller_id"] for md in answers.values()}
    assert len(controllers) == 1 and controllers <= set(NODE_IDS), "controllers: %r" % controllers

    maps = {node: leaders(md, topic) for node, md in answers.items()}
    assert maps[1] == maps[2] == maps[3], "partition -> leader differs between brokers: %r" % maps
    assert sorted(maps[1]) == list(range(12))
    per_node = {n: sorted(p for p, l in maps[1].items() if l == n) for n in NODE_IDS}
    assert all(per_node.values()), "leaders do not use all three brokers: %r" % per_node

    # librdkafka sees the same through any single bootstrap broker.
    for b in cluster.brokers:
        md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(topic, timeout=15)
        assert {(n, bm.host, bm.port) for n, bm in md.brokers.items()} == want, (b.node_id, md.brokers)
        assert {p: pm.leader for p, pm in md.topics[topic].partitions.items()} == maps[1], b.node_id
        assert md.cluster_id in cluster_ids, (b.node_id, md.cluster_id, cluster_ids)


# --------------------------------------------------------------------------
# 2. produce through every broker, read back from every broker


def test_produce_through_every_broker_gets_contiguous_offsets(cluster):
    topic = new_topic()
    partitions, rounds, per_batch = 3, 20, 5
    # Created through broker 3 (not the controller), used at once by 1 and 2.
    create_topic_raw(cluster.by_id[3].bootstrap, topic, partitions)
    cluster.wait_topic(topic, partitions, timeout=10.0)

    batches = []  # (partition, base offset, values)
    errors = []
    lock = threading.Lock()

    def producer(b):
        try:
            with kr.Conn(b.bootstrap, timeout=30) as conn:
                for r in range(rounds):
                    for p in range(partitions):
                        values = [b"n%d-p%d-r%02d-i%d" % (b.node_id, p, r, i) for i in range(per_batch)]
                        base = produce_raw(conn, topic, p, values)
                        with lock:
                            batches.append((p, base, values))
        except Exception as e:  # reported below
            errors.append("broker %d: %r" % (b.node_id, e))

    threads = [threading.Thread(target=producer, args=(b,)) for b in cluster.brokers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "producers still running after 120 s"
    assert not errors, errors

    per_partition = len(cluster.brokers) * rounds * per_batch
    expected = {p: {} for p in range(partitions)}
    for p in range(partitions):
        bases = sorted(base for pp, base, _ in batches if pp == p)
        # Every batch got its own range, and the ranges tile 0..N-1.
        assert bases == list(range(0, per_partition, per_batch)), "partition %d bases %r" % (p, bases)
    for p, base, values in batches:
        for i, v in enumerate(values):
            expected[p][base + i] = v

    # Every broker serves every partition, with the same records.
    for b in cluster.brokers:
        for p in range(partitions):
            hw, got = read_partition_raw(b.bootstrap, topic, p)
            assert hw == per_partition, (b.node_id, p, hw)
            assert [o for o, _ in got] == list(range(per_partition)), (b.node_id, p)
            assert dict(got) == expected[p], "broker %d partition %d: contents differ" % (b.node_id, p)

    # And a real client (following the leaders) reads the same.
    c = Consumer({"bootstrap.servers": cluster.by_id[2].bootstrap, "group.id": "mb-reader-" + topic,
                  "enable.auto.commit": False, "auto.offset.reset": "error"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {}
    end = time.monotonic() + 30
    try:
        while len(got) < partitions * per_partition and time.monotonic() < end:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            key = (m.partition(), m.offset())
            assert key not in got, "delivered twice: %r" % (key,)
            got[key] = m.value()
    finally:
        c.close()
    assert got == {(p, o): v for p in expected for o, v in expected[p].items()}


# --------------------------------------------------------------------------
# 3. a long poll on one broker is woken by a commit on another


def test_fetch_long_poll_is_woken_by_a_commit_on_another_broker(cluster):
    topic = new_topic()
    create_topic_raw(cluster.by_id[1].bootstrap, topic, 1)
    cluster.wait_topic(topic, 1, timeout=10.0)

    woken = []
    for offset, (a, b) in enumerate(itertools.permutations(NODE_IDS, 2)):
        fetcher, producer = cluster.by_id[b], cluster.by_id[a]
        result = {}

        def fetch():
            try:
                result["r"] = fetch_raw(fetcher.bootstrap, topic, 0, offset, max_wait_ms=10_000, min_bytes=1)
            except Exception as e:  # reported below
                result["e"] = e

        t = threading.Thread(target=fetch)
        t.start()
        time.sleep(0.5)  # the fetch is parked on b
        value = b"wake-%d-from-%d-to-%d" % (offset, a, b)
        with kr.Conn(producer.bootstrap) as conn:
            assert produce_raw(conn, topic, 0, [value]) == offset
        t.join(20)
        assert not t.is_alive(), "fetch on broker %d did not answer within 20 s" % b
        assert "e" not in result, result
        err, hw, recs, elapsed = result["r"]
        assert (err, hw) == (0, offset + 1), "fetch on %d after produce on %d: %r" % (b, a, result["r"])
        assert recs == [(offset, None, value)], (a, b, recs)
        # Woken by broker a's commit, not by the 10 s max_wait.
        assert elapsed < 5.0, "fetch on broker %d woke %.2fs after it was sent (produce on %d)" % (b, elapsed, a)
        woken.append("%d->%d %.2fs" % (a, b, elapsed))
    print("long polls (produce -> fetch broker, fetch time incl. 0.5 s before the produce): " + ", ".join(woken))


# --------------------------------------------------------------------------
# 4. a consumer group across the cluster; one coordinator


def _poll_all(consumers, got, timeout=0.1):
    for idx, c in enumerate(consumers):
        m = c.poll(timeout)
        if m is None:
            continue
        assert m.error() is None, "member %d: %s" % (idx, m.error())
        key = (m.partition(), m.offset())
        got.setdefault(key, []).append((idx, m.value()))


def test_consumer_group_across_brokers_and_not_coordinator(cluster):
    topic = new_topic()
    partitions, count = 6, 300
    create_topic_raw(cluster.by_id[2].bootstrap, topic, partitions)
    cluster.wait_topic(topic, partitions, timeout=10.0)
    group = "mb-group-" + topic

    # FindCoordinator: one answer, from every broker.
    answers = {b.node_id: find_coordinator(b.bootstrap, group) for b in cluster.brokers}
    coords = {(a["error_code"], a["node_id"], a["host"], a["port"]) for a in answers.values()}
    assert len(coords) == 1, "FindCoordinator answers differ: %r" % answers
    (err, coord_id, host, port) = coords.pop()
    assert err == 0 and coord_id in NODE_IDS, answers
    coord = cluster.by_id[coord_id]
    assert (host, port) == ("127.0.0.1", coord.port)
    others = [b for b in cluster.brokers if b.node_id != coord_id]

    assigned = {}
    consumers = []
    for idx, b in enumerate(cluster.brokers):
        def on_assign(c, parts, idx=idx):
            assigned[idx] = sorted(p.partition for p in parts)

        def on_revoke(c, parts, idx=idx):
            assigned[idx] = []

        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 10000,
                      "heartbeat.interval.ms": 500, "partition.assignment.strategy": "range"})
        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        consumers.append(c)
    got = {}
    try:
        def stable():
            _poll_all(consumers, got)
            parts = [assigned.get(i) for i in range(len(consumers))]
            return all(parts) and sorted(sum(parts, [])) == list(range(partitions)) and parts

        wait_until(stable, 30, "three members sharing the %d partitions" % partitions, interval=0)
        assert not got, "records before anything was produced: %r" % got

        p = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all", "enable.idempotence": False,
                      "linger.ms": 5})
        acked = {}

        def on_delivery(err, msg):
            assert err is None, err
            acked[(msg.partition(), msg.offset())] = msg.value()

        for i in range(count):
            p.produce(topic, value=b"g%04d" % i, partition=i % partitions, on_delivery=on_delivery)
        assert p.flush(30) == 0
        assert len(acked) == count
        assert sorted(acked) == sorted((pp, o) for pp in range(partitions) for o in range(count // partitions))

        wait_until(lambda: (_poll_all(consumers, got), len(got) >= count)[1], 30,
                   "the group to consume %d records" % count, interval=0)
        for _ in range(5):  # nothing more arrives
            _poll_all(consumers, got)
        assert {k: v[0][1] for k, v in got.items()} == acked
        dups = {k: v for k, v in got.items() if len(v) > 1}
        assert not dups, "delivered more than once in a stable group: %r" % dups
        # Each member consumed exactly the partitions it was assigned.
        for idx in range(len(consumers)):
            mine = sorted({pp for (pp, _o), v in got.items() if v[0][0] == idx})
            assert mine == assigned[idx], (idx, mine, assigned)
        for c in consumers:
            c.commit(asynchronous=False)

        # The coordinator has the group and its offsets.
        g = RawGroupClient(coord.bootstrap)
        try:
            desc = g.describe_v4([group])
        finally:
            g.close()
        (d,) = desc["groups"]
        assert (d["error_code"], d["group_state"], len(d["members"])) == (0, "Stable", 3), d
        err, offs = committed_raw(coord.bootstrap, group, topic, partitions)
        assert err == 0 and offs == {pp: (count // partitions, 0) for pp in range(partitions)}, (err, offs)

        # Every group API on another broker: NOT_COORDINATOR.
        member_id = d["members"][0]["member_id"]
        for b in others:
            g = RawGroupClient(b.bootstrap)
            try:
                hb = g.heartbeat_v3(group, 1, member_id)
                assert hb["error_code"] == NOT_COORDINATOR, ("Heartbeat", b.node_id, hb)
                join = g.join_v5(group, "", "consumer", [("range", b"")])
                assert join["error_code"] == NOT_COORDINATOR, ("JoinGroup", b.node_id, join)
                desc = g.describe_v4([group])
                assert desc["groups"][0]["error_code"] == NOT_COORDINATOR, ("DescribeGroups", b.node_id, desc)
            finally:
                g.close()
            err, offs = committed_raw(b.bootstrap, group, topic, partitions)
            assert err == NOT_COORDINATOR, ("OffsetFetch", b.node_id, err, offs)
    finally:
        for c in consumers:
            c.close()


# --------------------------------------------------------------------------
# 5. kill -9 of the coordinator under load


def group_coordinated_by(cluster, node_id, prefix):
    """A group id whose coordinator is node_id (FindCoordinator on every broker)."""
    for _ in range(200):
        group = uid(prefix)
        answers = {find_coordinator(b.bootstrap, group)["node_id"] for b in cluster.brokers}
        assert len(answers) == 1, "FindCoordinator answers differ for %s: %r" % (group, answers)
        if answers == {node_id}:
            return group
    raise AssertionError("no group out of 200 is coordinated by broker %d" % node_id)


# Broker 1 is also the controller (the lowest live id); broker 3 is not.
@pytest.mark.parametrize("victim_id", [1, 3])
def test_kill9_of_the_coordinator_under_load(cluster, victim_id):
    topic = new_topic()
    partitions, phase1, phase2 = 6, 1000, 2000
    create_topic_raw(cluster.by_id[1].bootstrap, topic, partitions)
    lead_before = cluster.wait_topic(topic, partitions, timeout=10.0)[1]
    group = group_coordinated_by(cluster, victim_id, "mb-kill")
    coord_id = victim_id
    victim = cluster.by_id[coord_id]
    survivors = [b for b in cluster.brokers if b is not victim]
    assert coord_id in lead_before.values(), "the victim leads no partition: %r" % lead_before

    acked = {}  # value -> (partition, offset)
    failed = []

    def on_delivery(err, msg):
        if err is not None:
            failed.append((msg.value(), str(err)))
        else:
            acked[msg.value()] = (msg.partition(), msg.offset())

    p = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all", "enable.idempotence": False,
                  "linger.ms": 5, "retries": 1000000, "retry.backoff.ms": 100,
                  "request.timeout.ms": 10000, "message.timeout.ms": 90000})

    # Phase 1: records consumed and committed by the group on its first coordinator.
    for i in range(phase1):
        p.produce(topic, value=b"a%05d" % i, partition=i % partitions, on_delivery=on_delivery)
    assert p.flush(30) == 0 and not failed and len(acked) == phase1, failed
    hw1 = {pp: phase1 // partitions + (1 if pp < phase1 % partitions else 0) for pp in range(partitions)}
    c = Consumer({"bootstrap.servers": cluster.bootstrap(), "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    seen = set()
    end = time.monotonic() + 30
    try:
        while len(seen) < phase1 and time.monotonic() < end:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                seen.add(m.value())
        assert len(seen) == phase1, "group consumed %d of %d before the crash" % (len(seen), phase1)
        c.commit(asynchronous=False)
    finally:
        c.close()
    err, offs = committed_raw(victim.bootstrap, group, topic, partitions)
    assert err == 0 and offs == {pp: (hw1[pp], 0) for pp in range(partitions)}, (err, offs)

    # Phase 2: a paced producer (about 500 records/s over all partitions);
    # the coordinator is killed a third of the way in.
    killed_at = None
    acked_before_kill = 0
    t0 = time.monotonic()
    for i in range(phase2):
        p.produce(topic, value=b"b%05d" % i, partition=i % partitions, on_delivery=on_delivery)
        p.poll(0)
        if i % 50 == 49:
            time.sleep(0.1)
        if i == phase2 // 3:
            acked_before_kill = len(acked) - phase1
            victim.kill9()
            killed_at = time.monotonic()
    remaining = p.flush(90)
    assert remaining == 0, "%d records neither acknowledged nor failed 90 s after the kill" % remaining
    assert not failed, "%d records failed, e.g. %r" % (len(failed), failed[:5])
    assert len(acked) == phase1 + phase2
    produce_s = time.monotonic() - t0

    # Metadata drops the dead broker after the session timeout, everywhere.
    cluster.wait_members(survivors, timeout=SESSION_MS / 1000 + 10)
    dead_for = time.monotonic() - killed_at
    lead = cluster.wait_topic(topic, partitions, timeout=5.0)
    assert all(lm == lead[survivors[0].node_id] for lm in lead.values()), lead
    assert set(lead[survivors[0].node_id].values()) == {b.node_id for b in survivors}, lead

    # Every acknowledged record is at its acknowledged offset; offsets are contiguous.
    log = {}
    for pp in range(partitions):
        hw, recs = read_partition_raw(survivors[0].bootstrap, topic, pp)
        assert [o for o, _ in recs] == list(range(hw)), "partition %d offsets are not 0..%d" % (pp, hw - 1)
        for o, v in recs:
            log[(pp, o)] = v
    hw2 = {pp: max([o for (q, o) in log if q == pp], default=-1) + 1 for pp in range(partitions)}
    for v, (pp, o) in acked.items():
        assert log.get((pp, o)) == v, "acked %r at %d/%d, log has %r" % (v, pp, o, log.get((pp, o)))
    produced = set(acked)
    assert set(log.values()) == produced, "records in the log that were never produced: %r" % (
        set(log.values()) - produced)
    duplicates = len(log) - len(produced)  # retried batches the dead broker had committed
    for v, (pp, o) in acked.items():
        if v.startswith(b"b"):
            assert o >= hw1[pp], (v, pp, o)

    # The group moved to a survivor, which has the offsets committed before the crash.
    answers = {b.node_id: find_coordinator(b.bootstrap, group) for b in survivors}
    coords = {(a["error_code"], a["node_id"], a["port"]) for a in answers.values()}
    assert len(coords) == 1, "FindCoordinator answers differ: %r" % answers
    (err, new_id, port) = coords.pop()
    assert err == 0 and new_id != coord_id and new_id in cluster.by_id, answers
    new_coord = cluster.by_id[new_id]
    assert port == new_coord.port
    err, offs = committed_raw(new_coord.bootstrap, group, topic, partitions)
    assert err == 0 and offs == {pp: (hw1[pp], 0) for pp in range(partitions)}, (err, offs)
    for b in survivors:
        if b is not new_coord:
            assert committed_raw(b.bootstrap, group, topic, partitions)[0] == NOT_COORDINATOR

    # Two members resume exactly at the committed offsets and read everything after them.
    consumers = [Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                           "enable.auto.commit": False}) for b in survivors]
    for cc in consumers:
        cc.subscribe([topic])
    got = {}
    want = {k for k in log if k[1] >= hw1[k[0]]}
    try:
        wait_until(lambda: (_poll_all(consumers, got), want <= set(got))[1], 60,
                   "the group to consume the %d records after its committed offsets" % len(want), interval=0)
        for _ in range(5):
            _poll_all(consumers, got)
        assert set(got) == want, "consumed outside [committed, high watermark): %r" % sorted(set(got) - want)[:10]
        assert all(v[1] == log[k] for k, vs in got.items() for v in vs)
        for cc in consumers:
            cc.commit(asynchronous=False)
    finally:
        for cc in consumers:
            cc.close()
    err, offs = committed_raw(new_coord.bootstrap, group, topic, partitions)
    assert err == 0 and offs == {pp: (hw2[pp], 0) for pp in range(partitions)}, (err, offs)
    print("kill -9 of broker %d after %d of %d records were sent (%d acknowledged): all acknowledged in %.1fs, "
          "%d duplicated by retries, dead broker dropped from Metadata %.1fs after the kill, group moved to "
          "broker %d" % (coord_id, phase2 // 3 + 1, phase2, acked_before_kill, produce_s, duplicates, dead_for,
                         new_id))
