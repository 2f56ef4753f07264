"""20. Classic consumer groups with the Python clients (kafka-python 3.0.12,
aiokafka 0.14.0, confluent-kafka 2.16.1) and raw group requests.

Group members run in child processes (groups_helpers.Worker) so they can be
closed cleanly (LeaveGroup) or SIGKILLed (session expiry). Every member
commits each processed batch synchronously before processing the next one,
and every produced value is unique, so "exactly once" is checked by
counting values across all members of a run.

  * commit + resume: a consumer processes exactly N records, commits, closes;
    the next consumer of the group gets exactly the rest - also after a
    graceful broker restart and after kill -9 + restart
  * three members on 6 partitions: disjoint assignments covering all 6; one
    member closes mid-stream, the two others take over all 6; a member is
    SIGKILLed and its partitions move after its session timed out
  * static membership: a static member (the follower, then the leader)
    restarts within the session timeout, gets its partitions back, the other
    member sees no rebalance; the same with raw JoinGroup v5/v9 (KIP-345,
    KIP-814 SkipAssignment) and a static rejoin with changed metadata
  * cooperative-sticky (kafka-python, confluent-kafka; aiokafka has no
    cooperative assignor): a joining member only causes incremental
    revocation
  * admin: DescribeGroups / ListGroups (+ state filter) / DeleteGroups /
    OffsetDelete / OffsetFetch (+ metadata, several groups) / lag
  * a "connect" protocol-type group driven with raw JoinGroup/SyncGroup
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from clients import create_topic
from groups_helpers import (
    GROUP_ID_NOT_FOUND, GROUP_SUBSCRIBED_TO_TOPIC, INCONSISTENT_GROUP_PROTOCOL, MEMBER_ID_REQUIRED,
    NON_EMPTY_GROUP, NONE, BackgroundProducer, RawGroupClient, Worker, committed_entries, decode_consumer_assignment,
    decode_consumer_subscription, offsets_by_group, produce_values, raw_describe, wait_consumed, wait_stable,
    wait_until, watermarks)
from helpers import uid

CLIENTS = ["kafka-python", "aiokafka", "confluent-kafka"]
FAST = ("--group-initial-rebalance-delay-ms", "300", "--group-min-session-timeout-ms", "1000")


@pytest.fixture
def workers():
    """Collects Worker objects; kills any still running at the end."""
    started = []
    yield started
    for w in started:
        w.cleanup()


def start(workers, *args, **kw):
    w = Worker(*args, **kw)
    workers.append(w)
    return w


REBALANCE_COMMIT_ERRORS = ("ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS", "RebalanceInProgress",
                           "IllegalGeneration")


def assert_exactly_once(all_workers, expected_values, rebalance_commit_failures_ok=False):
    """Every expected value consumed exactly once, nothing else, and every
    batch's commit succeeded. With rebalance_commit_failures_ok, a commit
    may fail with ILLEGAL_GENERATION / REBALANCE_IN_PROGRESS (a cooperative
    member keeps consuming while it rejoins; a commit sent behind its
    JoinGroup is processed after the generation moved on - Kafka answers
    the same), but it must then have been committed again successfully."""
    recs = [r for w in all_workers for r in w.records()]
    values = [r[2] for r in recs]
    dups = sorted({v for v in values if values.count(v) > 1}) if len(values) != len(set(values)) else []
    failures = [(w.name, e.get("error")) for w in all_workers for e in w.commit_failures()]
    if rebalance_commit_failures_ok:
        failures = [f for f in failures if not any(c in f[1] for c in REBALANCE_COMMIT_ERRORS)]
    assert not failures, "synchronous commits failed: %r" % failures[:5]
    bad_recommits = [(w.name, e) for w in all_workers for e in w.failed_recommits()]
    assert not bad_recommits, "re-commits of failed commits failed: %r" % bad_recommits[:5]
    assert not dups, "%d values consumed more than once, e.g. %r" % (len(dups), dups[:10])
    assert set(values) == set(expected_values), "missing %r extra %r" % (
        sorted(set(expected_values) - set(values))[:10], sorted(set(values) - set(expected_values))[:10])
    assert len(values) == len(expected_values)
    for w in all_workers:
        assert not w.errors(), w.describe()
    return recs


# ---------------------------------------------------------------------------
# 1. commit + resume, durable across restarts


@pytest.mark.parametrize("client", CLIENTS)
def test_commit_and_resume_across_restarts(client, broker_factory, workers):
    b = broker_factory(*FAST)
    topic, group = uid("grp-resume"), uid("g-resume")
    create_topic(b.bootstrap, topic, 3)
    first = ["a%03d" % i for i in range(90)]
    produced = produce_values(b.bootstrap, topic, first, 3)

    # A processes exactly 37 records (whichever the client fetches first),
    # committing after each batch, then closes itself.
    a = start(workers, client, b.bootstrap, topic, group, "resume-a", max_poll_records=10, limit=37)
    wait_until(lambda: a.proc.poll() is not None, 30, "member A to process 37 records and close")
    assert a.proc.returncode == 0 and a.evs("closed"), a.describe()
    got_a = a.records()
    assert len(got_a) == 37 and len({r[2] for r in got_a}) == 37, a.describe()
    expected_commits = {p: 0 for p in range(3)}
    for p, o, v in got_a:
        assert produced[v] == (p, o)
        expected_commits[p] = max(expected_commits[p], o + 1)
    # per partition A processed a prefix: offsets 0..n-1
    for p in range(3):
        assert sorted(o for q, o, _v in got_a if q == p) == list(range(expected_commits[p]))
    # (a partition A processed nothing from has no committed offset: -1)
    assert committed_entries(b.bootstrap, group, topic, 3) == {p: (expected_commits[p] or -1, "", 0) for p in range(3)}

    # B resumes exactly where A committed: gets exactly the rest
    rest = sorted(set(first) - {r[2] for r in got_a})
    bw = start(workers, client, b.bootstrap, topic, group, "resume-b")
    wait_consumed([bw], rest, 30)
    time.sleep(0.5)  # anything extra (re-delivered) would show up now
    bw.close()
    assert_exactly_once([a, bw], first)
    assert committed_entries(b.bootstrap, group, topic, 3) == {p: (30, "", 0) for p in range(3)}

    # graceful restart: committed offsets survive
    b.restart()
    assert committed_entries(b.bootstrap, group, topic, 3) == {p: (30, "", 0) for p in range(3)}
    second = ["b%03d" % i for i in range(30)]
    produce_values(b.bootstrap, topic, second, 3)
    c = start(workers, client, b.bootstrap, topic, group, "resume-c")
    wait_consumed([c], second, 30)
    time.sleep(0.5)
    c.close()
    assert_exactly_once([c], second)
    assert committed_entries(b.bootstrap, group, topic, 3) == {p: (40, "", 0) for p in range(3)}

    # crash (kill -9) + restart: acknowledged commits survive as well
    b.kill9()
    b.restart()
    assert committed_entries(b.bootstrap, group, topic, 3) == {p: (40, "", 0) for p in range(3)}
    third = ["c%03d" % i for i in range(12)]
    produce_values(b.bootstrap, topic, third, 3)
    d = start(workers, client, b.bootstrap, topic, group, "resume-d")
    wait_consumed([d], third, 30)
    time.sleep(0.5)
    d.close()
    assert_exactly_once([d], third)
    assert committed_entries(b.bootstrap, group, topic, 3) == {p: (44, "", 0) for p in range(3)}


# ---------------------------------------------------------------------------
# 2. three members: clean leave mid-stream, then SIGKILL + session expiry


def assert_partitioned(owned, partitions, members):
    sets = list(owned.values())
    assert len(sets) == members, owned
    assert all(sets), owned
    assert sum(len(s) for s in sets) == partitions, "overlapping assignments: %r" % owned
    assert set().union(*sets) == set(range(partitions)), owned


@pytest.mark.parametrize("client", CLIENTS)
def test_three_members_leave_and_kill(client, broker_factory, workers):
    b = broker_factory(*FAST)
    topic, group = uid("grp-three"), uid("g-three")
    create_topic(b.bootstrap, topic, 6)
    session_ms, hb_ms = 3000, 300
    m = [start(workers, client, b.bootstrap, topic, group, "three-%d" % i, session_ms=session_ms,
               heartbeat_ms=hb_ms) for i in range(3)]
    owned = wait_stable(m, 6, 30)
    assert_partitioned(owned, 6, 3)
    # range assignor over 6 partitions / 3 members: 2 each
    assert sorted(len(s) for s in owned.values()) == [2, 2, 2], owned

    # mid-stream clean leave
    vals1 = ["s1-%04d" % i for i in range(400)]
    prod = BackgroundProducer(b.bootstrap, topic, vals1, 6, chunk=20, pause=0.03).start()
    wait_until(lambda: len({r[2] for w in m for r in w.records()}) >= 100, 30, "first 100 records consumed")
    m[2].close()
    left_at = time.monotonic()
    prod.join(60)
    assert prod.sent == 400
    wait_consumed(m, vals1, 30)
    owned = wait_stable(m[:2], 6, 30)
    assert_partitioned(owned, 6, 2)
    assert sorted(len(s) for s in owned.values()) == [3, 3], owned
    # the survivors were reassigned after the leave, not after a session timeout
    takeover = max(w.last_callback_t() for w in m[:2]) - left_at
    assert takeover < session_ms / 1000.0, "takeover after a clean leave took %.2fs" % takeover
    assert_exactly_once(m, vals1)

    # a third member joins again; then it is SIGKILLed while idle
    m3 = start(workers, client, b.bootstrap, topic, group, "three-3", session_ms=session_ms, heartbeat_ms=hb_ms)
    live = [m[0], m[1], m3]
    owned = wait_stable(live, 6, 30)
    assert_partitioned(owned, 6, 3)
    victim_parts = owned[m3.name]
    vals2 = ["s2-%04d" % i for i in range(120)]
    produce_values(b.bootstrap, topic, vals2, 6)
    wait_consumed(live, vals2, 30)
    time.sleep(0.3)
    killed_at = time.monotonic()
    m3.kill9()
    vals3 = ["s3-%04d" % i for i in range(120)]
    produce_values(b.bootstrap, topic, vals3, 6)
    wait_consumed(m[:2], [v for i, v in enumerate(vals3) if i % 6 not in victim_parts], 30)
    wait_consumed(live, vals3, 30)
    owned = wait_stable(m[:2], 6, 30)
    assert_partitioned(owned, 6, 2)
    moved = min(e["t"] for w in m[:2] for e in w.callbacks() if e["t"] > killed_at)
    # nobody may take the victim's partitions before its session expired
    # (last heartbeat at most one heartbeat interval before the kill)
    assert moved - killed_at >= (session_ms - hb_ms - 200) / 1000.0, \
        "rebalance %.2fs after SIGKILL, before the %dms session timeout" % (moved - killed_at, session_ms)
    assert moved - killed_at < (session_ms + 6000) / 1000.0
    assert_exactly_once(m + [m3], vals1 + vals2 + vals3)
    for w in m[:2]:
        w.close()
    hw = watermarks(b.bootstrap, topic, 6)
    assert committed_entries(b.bootstrap, group, topic, 6) == {p: (hw[p], "", 0) for p in range(6)}


# ---------------------------------------------------------------------------
# 3. static membership


def restart_static_member(b, workers, client, topic, group, victim, other, new_name, vals, kw):
    """Close `victim` (a static member: no LeaveGroup), start `new_name` with
    the same group.instance.id within the session timeout; it must get the
    same partitions back without any rebalance: `other` sees no callback and
    keeps its member id; the group stays Stable throughout."""
    instance = victim.cfg["instance_id"]
    before = raw_describe(b.bootstrap, group)
    assert before["group_state"] == "Stable", before
    ids_before = {m["group_instance_id"]: m["member_id"] for m in before["members"]}
    victim_owned, other_owned = victim.owned(), other.owned()
    other_callbacks = len(other.callbacks())

    victim.close()
    closed_at = time.monotonic()
    mid = raw_describe(b.bootstrap, group)
    assert mid["group_state"] == "Stable", mid
    assert {m["group_instance_id"]: m["member_id"] for m in mid["members"]} == ids_before, \
        "a closed static member must stay in the group until its session times out: %r" % mid
    produce_values(b.bootstrap, topic, vals, 6)

    new = start(workers, client, b.bootstrap, topic, group, new_name, instance_id=instance, **kw)
    wait_until(lambda: new.owned(), 20, "restarted static member %s to get an assignment" % instance)
    assert time.monotonic() - closed_at < kw["session_ms"] / 1000.0, "restart was not within the session timeout"
    wait_consumed([other, victim, new], vals, 30)
    time.sleep(1.0)
    assert new.owned() == victim_owned, (new.callbacks(), victim_owned)
    assert other.callbacks()[other_callbacks:] == [], \
        "%s saw a rebalance when static member %s restarted: %r" % (
            other.name, instance, other.callbacks()[other_callbacks:])
    assert other.owned() == other_owned
    # the new incarnation got exactly one non-empty assignment, nothing revoked
    assert [(e["ev"], e["parts"]) for e in new.callbacks() if e["parts"]] == [("assign", sorted(victim_owned))], \
        new.callbacks()
    after = raw_describe(b.bootstrap, group)
    assert after["group_state"] == "Stable", after
    ids_after = {m["group_instance_id"]: m["member_id"] for m in after["members"]}
    assert set(ids_after) == set(ids_before), after
    other_instance = other.cfg["instance_id"]
    assert ids_after[other_instance] == ids_before[other_instance]
    # the coordinator gives the rejoined static member a new member id
    assert ids_after[instance] != ids_before[instance]
    assert ids_after[instance].startswith(new_name + "-")
    assigned = {m["group_instance_id"]: decode_consumer_assignment(m["member_assignment"])
                for m in after["members"]}
    assert assigned == {instance: {topic: sorted(victim_owned)}, other_instance: {topic: sorted(other_owned)}}
    return new


@pytest.mark.parametrize("client", CLIENTS)
def test_static_member_restart_keeps_assignment(client, broker_factory, workers):
    """Restart the follower, then the leader (the first member to join)."""
    b = broker_factory(*FAST)
    topic, group = uid("grp-static"), uid("g-static")
    create_topic(b.bootstrap, topic, 6)
    kw = dict(session_ms=8000, heartbeat_ms=300)
    sa = start(workers, client, b.bootstrap, topic, group, "static-a", instance_id="inst-a", **kw)
    wait_stable([sa], 6, 30, quiet=0.2)  # A is alone first: A is the leader
    sb = start(workers, client, b.bootstrap, topic, group, "static-b", instance_id="inst-b", **kw)
    owned = wait_stable([sa, sb], 6, 30)
    assert_partitioned(owned, 6, 2)
    vals1 = ["st1-%03d" % i for i in range(60)]
    produce_values(b.bootstrap, topic, vals1, 6)
    wait_consumed([sa, sb], vals1, 30)

    vals2 = ["st2-%03d" % i for i in range(60)]
    sb2 = restart_static_member(b, workers, client, topic, group, sb, sa, "static-b2", vals2, kw)
    vals3 = ["st3-%03d" % i for i in range(60)]
    sa2 = restart_static_member(b, workers, client, topic, group, sa, sb2, "static-a2", vals3, kw)
    assert_exactly_once([sa, sb, sb2, sa2], vals1 + vals2 + vals3)
    sa2.close()
    sb2.close()


# ---------------------------------------------------------------------------
# 4. cooperative-sticky


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_cooperative_sticky_incremental_rebalance(client, broker_factory, workers):
    b = broker_factory(*FAST)
    topic, group = uid("grp-coop"), uid("g-coop")
    create_topic(b.bootstrap, topic, 6)
    kw = dict(strategy="cooperative-sticky", session_ms=6000, heartbeat_ms=300)
    ca = start(workers, client, b.bootstrap, topic, group, "coop-a", **kw)
    wait_stable([ca], 6, 30)
    first = len(ca.callbacks())
    vals = ["co-%04d" % i for i in range(300)]
    prod = BackgroundProducer(b.bootstrap, topic, vals, 6, chunk=20, pause=0.03).start()
    wait_until(lambda: len(ca.records()) >= 60, 30, "coop-a consuming")
    cb = start(workers, client, b.bootstrap, topic, group, "coop-b", **kw)
    owned = wait_stable([ca, cb], 6, 30)
    prod.join(60)
    wait_consumed([ca, cb], vals, 30)
    assert_partitioned(owned, 6, 2)
    assert sorted(len(s) for s in owned.values()) == [3, 3], owned

    later = [e for e in ca.callbacks()[first:] if e["parts"]]
    # A only ever lost the 3 partitions that moved to B, and kept its other 3
    # through the whole rebalance (its owned set never dropped below them)
    assert later, "coop-a saw no callbacks at all"
    assert {e["ev"] for e in later} == {"revoke"}, later
    revoked = set().union(*(set(e["parts"]) for e in later))
    assert revoked == owned["coop-b"], (later, owned)
    for e in ca.callbacks()[first:]:
        assert owned["coop-a"] <= set(e["owned"]), e
    # B only ever got partitions added
    assert {e["ev"] for e in cb.callbacks() if e["parts"]} == {"assign"}, cb.callbacks()
    d = raw_describe(b.bootstrap, group)
    assert (d["group_state"], d["protocol_type"], d["protocol_data"]) == ("Stable", "consumer", "cooperative-sticky")
    assert_exactly_once([ca, cb], vals, rebalance_commit_failures_ok=True)
    ca.close()
    cb.close()
    hw = watermarks(b.bootstrap, topic, 6)
    assert committed_entries(b.bootstrap, group, topic, 6) == {p: (hw[p], "", 0) for p in range(6)}


# ---------------------------------------------------------------------------
# 5. admin


def _setup_admin_group(b, workers, client, partitions=4):
    """A topic with 10 records per partition and a group of two live members
    that consumed and committed all of them with metadata."""
    topic, group = uid("grp-admin"), uid("g-admin")
    create_topic(b.bootstrap, topic, partitions)
    vals = ["ad-%03d" % i for i in range(10 * partitions)]
    produce_values(b.bootstrap, topic, vals, partitions)
    meta = "meta-" + client
    ws = [start(workers, client, b.bootstrap, topic, group, "adm-%s-%d" % (client, i), commit_metadata=meta,
                session_ms=6000) for i in range(2)]
    owned = wait_stable(ws, partitions, 30)
    wait_consumed(ws, vals, 30)
    assert_exactly_once(ws, vals)
    return topic, group, meta, ws, owned


def _expected_members(ws, owned, topic):
    return {w.name: {topic: sorted(owned[w.name])} for w in ws}


def test_admin_kafka_python(broker_factory, workers):
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.errors import GroupIdNotFoundError, NonEmptyGroupError
    from kafka.structs import OffsetAndMetadata

    b = broker_factory(*FAST)
    topic, group, meta, ws, owned = _setup_admin_group(b, workers, "kafka-python")
    a = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000)
    try:
        d = a.describe_groups([group])[group]
        assert (d["group_state"], d["protocol_type"], d["protocol_data"], d["error"]) == (
            "Stable", "consumer", "range", None)
        assert {m["client_id"]: {t["topic"]: sorted(t["partitions"])
                                 for t in m["member_assignment"]["assigned_partitions"]}
                for m in d["members"]} == _expected_members(ws, owned, topic)
        assert {m["client_host"] for m in d["members"]} == {"/127.0.0.1"}
        assert [m["member_metadata"]["topics"] for m in d["members"]] == [[topic], [topic]]
        assert all(m["member_id"].startswith(m["client_id"] + "-") for m in d["members"]), d

        listed = {g["group_id"]: g for g in a.list_groups()}
        assert (listed[group]["protocol_type"], listed[group]["group_state"]) == ("consumer", "Stable")
        assert group in {g["group_id"] for g in a.list_groups(states_filter=["Stable"])}
        assert group not in {g["group_id"] for g in a.list_groups(states_filter=["Empty"])}

        assert a.delete_groups([group]) == {group: NonEmptyGroupError.__name__}
        assert NonEmptyGroupError.errno == NON_EMPTY_GROUP
        # OffsetDelete while the group is subscribed to the topic
        res = a.delete_group_offsets(group, [TopicPartition(topic, 0)])
        assert {tp: e.errno for tp, e in res.items()} == {TopicPartition(topic, 0): GROUP_SUBSCRIBED_TO_TOPIC}

        offs = a.list_group_offsets([group])[group]
        assert {tp.partition: (o.offset, o.metadata) for tp, o in offs.items()} == {
            p: (10, meta) for p in range(4)}

        for w in ws:
            w.close()
        d = a.describe_groups([group])[group]
        assert (d["group_state"], d["members"]) == ("Empty", [])
        assert group in {g["group_id"] for g in a.list_groups(states_filter=["Empty"])}
        assert group not in {g["group_id"] for g in a.list_groups(states_filter=["Stable"])}

        # lag = high watermark - committed offset
        produce_values(b.bootstrap, topic, ["lag-%d" % i for i in range(4 * 3)], 4)
        hw = watermarks(b.bootstrap, topic, 4)
        offs = a.list_group_offsets([group])[group]
        assert {p: hw[p] - offs[TopicPartition(topic, p)].offset for p in range(4)} == {p: 3 for p in range(4)}

        # admin OffsetCommit (generation -1) with metadata, read back
        res = a.alter_group_offsets(group, {TopicPartition(topic, 1): OffsetAndMetadata(7, "rewound", -1)})
        assert {tp: e.errno for tp, e in res.items()} == {TopicPartition(topic, 1): 0}
        # OffsetDelete on the empty group
        res = a.delete_group_offsets(group, [TopicPartition(topic, 0)])
        assert {tp: e.errno for tp, e in res.items()} == {TopicPartition(topic, 0): 0}
        offs = a.list_group_offsets([group])[group]
        assert {tp.partition: (o.offset, o.metadata) for tp, o in offs.items()} == {
            1: (7, "rewound"), 2: (10, meta), 3: (10, meta)}

        # several groups in one OffsetFetch (v8)
        other = uid("g-admin-other")
        res = a.alter_group_offsets(other, {TopicPartition(topic, 2): OffsetAndMetadata(5, "other", -1)})
        assert {tp: e.errno for tp, e in res.items()} == {TopicPartition(topic, 2): 0}
        both = a.list_group_offsets([group, other, uid("g-never-existed")])
        assert {g: {tp.partition: (o.offset, o.metadata) for tp, o in v.items()} for g, v in both.items()} == {
            group: {1: (7, "rewound"), 2: (10, meta), 3: (10, meta)},
            other: {2: (5, "other")}, [g for g in both if g.startswith("g-never")][0]: {}}

        assert a.delete_groups([group, other]) == {group: "OK", other: "OK"}
        assert a.list_group_offsets([group])[group] == {}
        d = a.describe_groups([group])[group]
        assert (d["group_state"], d["members"]) == ("Dead", [])
        assert a.delete_groups([group]) == {group: GroupIdNotFoundError.__name__}
        assert GroupIdNotFoundError.errno == GROUP_ID_NOT_FOUND
        assert group not in {g["group_id"] for g in a.list_groups()}
    finally:
        a.close()


def test_admin_aiokafka(broker_factory, workers):
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    b = broker_factory(*FAST)
    topic, group, meta, ws, owned = _setup_admin_group(b, workers, "aiokafka")

    async def run(phase):
        a = AIOKafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000)
        await a.start()
        try:
            [resp] = await a.describe_consumer_groups([group])
            [g] = resp.groups
            err, gid, state, ptype, proto, members = g[:6]
            offs = await a.list_consumer_group_offsets(group)
            listed = dict(await a.list_consumer_groups())
            return err, state, ptype, proto, members, offs, listed
        finally:
            await a.close()

    err, state, ptype, proto, members, offs, listed = asyncio.run(asyncio.wait_for(run(1), 60))
    assert (err, state, ptype, proto) == (0, "Stable", "consumer", "range")
    assert {m[1]: decode_consumer_assignment(m[4]) for m in members} == _expected_members(ws, owned, topic)
    assert {m[2] for m in members} == {"/127.0.0.1"}
    assert [decode_consumer_subscription(m[3])["topics"] for m in members] == [[topic], [topic]]
    assert {tp.partition: (o.offset, o.metadata) for tp, o in offs.items()} == {p: (10, meta) for p in range(4)}
    assert all(tp.topic == topic for tp in offs)
    assert listed[group] == "consumer"

    for w in ws:
        w.close()
    produce_values(b.bootstrap, topic, ["lag-%d" % i for i in range(8)], 4)
    hw = watermarks(b.bootstrap, topic, 4)
    err, state, ptype, proto, members, offs, listed = asyncio.run(asyncio.wait_for(run(2), 60))
    assert (err, state, members) == (0, "Empty", [])
    assert {p: hw[p] - offs[TopicPartition(topic, p)].offset for p in range(4)} == {p: 2 for p in range(4)}
    # aiokafka's admin client has no DeleteGroups; check it raw
    c = RawGroupClient(b.bootstrap)
    try:
        assert c.delete_groups_v1([group, uid("g-unknown")])["results"][0] == (group, NONE)
        assert c.delete_groups_v1([group])["results"] == [(group, GROUP_ID_NOT_FOUND)]
    finally:
        c.close()
    err, state, ptype, proto, members, offs, listed = asyncio.run(asyncio.wait_for(run(3), 60))
    assert (err, state, ptype, members, offs) == (0, "Dead", "", [], {})
    assert group not in listed


def test_admin_confluent_kafka(broker_factory, workers):
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError, KafkaException, \
        TopicPartition
    from confluent_kafka.admin import AdminClient

    b = broker_factory(*FAST)
    topic, group, meta, ws, owned = _setup_admin_group(b, workers, "confluent-kafka")
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    T = 30

    d = a.describe_consumer_groups([group])[group].result(T)
    assert (d.group_id, d.state, d.partition_assignor, d.is_simple_consumer_group) == (
        group, ConsumerGroupState.STABLE, "range", False)
    assert {m.client_id: {topic: sorted(tp.partition for tp in m.assignment.topic_partitions)}
            for m in d.members} == _expected_members(ws, owned, topic)
    assert {m.host for m in d.members} == {"/127.0.0.1"}
    assert {m.group_instance_id for m in d.members} == {None}
    assert d.coordinator.id == 1

    stable = a.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(T)
    assert not stable.errors
    assert group in {g.group_id for g in stable.valid}
    [g] = [g for g in stable.valid if g.group_id == group]
    assert (g.state, g.is_simple_consumer_group) == (ConsumerGroupState.STABLE, False)
    empty = a.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(T)
    assert group not in {g.group_id for g in empty.valid}

    with pytest.raises(KafkaException) as ei:
        a.delete_consumer_groups([group])[group].result(T)
    assert ei.value.args[0].code() == KafkaError.NON_EMPTY_GROUP == NON_EMPTY_GROUP

    res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(T)
    assert sorted((tp.topic, tp.partition, tp.offset, tp.metadata, tp.error) for tp in res.topic_partitions) == [
        (topic, p, 10, meta, None) for p in range(4)]

    for w in ws:
        w.close()
    d = a.describe_consumer_groups([group])[group].result(T)
    assert (d.state, d.members) == (ConsumerGroupState.EMPTY, [])
    assert group in {g.group_id for g in a.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(T).valid}

    # admin OffsetCommit, lag
    res = a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 3, 4)])])
    assert [(tp.partition, tp.offset, tp.error) for tp in res[group].result(T).topic_partitions] == [(3, 4, None)]
    produce_values(b.bootstrap, topic, ["lag-%d" % i for i in range(4)], 4)
    hw = watermarks(b.bootstrap, topic, 4)
    res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, p) for p in range(4)])])[group].result(T)
    assert {tp.partition: hw[tp.partition] - tp.offset for tp in res.topic_partitions} == {0: 1, 1: 1, 2: 1, 3: 7}

    assert a.delete_consumer_groups([group])[group].result(T) is None
    res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(T)
    assert res.topic_partitions == []
    with pytest.raises(KafkaException) as ei:
        a.delete_consumer_groups([group])[group].result(T)
    assert ei.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND == GROUP_ID_NOT_FOUND
    d = a.describe_consumer_groups([group])[group].result(T)
    assert (d.state, d.members) == (ConsumerGroupState.DEAD, [])


def test_offset_fetch_several_groups_raw(broker_factory):
    """OffsetFetch v8 with three groups (one unknown), one specific partition
    list and one all-topics (null) request, via admin OffsetCommits."""
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.structs import OffsetAndMetadata

    b = broker_factory(*FAST)
    topic = uid("grp-multi")
    create_topic(b.bootstrap, topic, 3)
    produce_values(b.bootstrap, topic, ["m%d" % i for i in range(30)], 3)
    g1, g2, g3 = uid("g-m1"), uid("g-m2"), uid("g-m3")
    a = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        for g, offs in ((g1, {0: (3, "one"), 1: (4, None)}), (g2, {2: (9, "two")})):
            res = a.alter_group_offsets(g, {TopicPartition(topic, p): OffsetAndMetadata(o, m, -1)
                                            for p, (o, m) in offs.items()})
            assert {tp.partition: e.errno for tp, e in res.items()} == {p: 0 for p in offs}
    finally:
        a.close()
    c = RawGroupClient(b.bootstrap)
    try:
        resp = c.offset_fetch_v8({g1: {topic: [0, 1, 2]}, g2: None, g3: {topic: [0]}})
    finally:
        c.close()
    assert resp["leftover"] == 0
    got = offsets_by_group(resp)
    assert set(got) == {g1, g2, g3}
    assert got[g2] == (NONE, {(topic, 2): (9, "two", NONE)})
    # unknown group / partition without a commit: offset -1, empty metadata
    assert got[g3] == (NONE, {(topic, 0): (-1, "", NONE)})
    g1_err, g1_parts = got[g1]
    assert g1_err == NONE
    assert g1_parts[(topic, 0)] == (3, "one", NONE)
    assert g1_parts[(topic, 2)] == (-1, "", NONE)
    assert set(g1_parts) == {(topic, 0), (topic, 1), (topic, 2)}
    # a commit with null metadata is stored as "" (Kafka: OffsetAndMetadata.NoMetadata)
    assert g1_parts[(topic, 1)] == (4, "", NONE), \
        "OffsetCommit with null metadata must read back as empty metadata, got %r" % (g1_parts[(topic, 1)],)


# ---------------------------------------------------------------------------
# 6. a non-consumer ("connect") protocol type with opaque bytes


def test_connect_protocol_type_raw(broker_factory):
    b = broker_factory(*FAST)
    group = uid("g-connect")
    meta1, meta2 = b"\x00\x01opaque", b"\x00\x02\xffsecond-worker"
    assign1, assign2 = b"\x00\x01assign-for-1", b""
    results = {}

    def member(name, version, meta):
        c = RawGroupClient(b.bootstrap, client_id="connect-" + name)
        try:
            first, joined = c.join(version, group, "connect", [("sessioned", meta), ("default", b"x")],
                                   session_timeout_ms=10000, rebalance_timeout_ms=10000,
                                   group_instance_id=None)
            results[name] = {"conn": c, "first": first, "joined": joined}
        except Exception as e:  # noqa: BLE001
            results[name] = {"error": e}
            c.close()

    ts = [threading.Thread(target=member, args=("w1", 5, meta1)),
          threading.Thread(target=member, args=("w2", 9, meta2))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    conns = [r["conn"] for r in results.values() if "conn" in r]
    try:
        for n in ("w1", "w2"):
            assert "error" not in results[n], results[n]
            assert results[n]["first"]["error_code"] == MEMBER_ID_REQUIRED, results[n]["first"]
            assert results[n]["first"]["member_id"].startswith("connect-%s-" % n)
        j1, j2 = results["w1"]["joined"], results["w2"]["joined"]
        for j in (j1, j2):
            assert j["error_code"] == NONE and j["leftover"] == 0, j
            assert j["protocol_name"] == "sessioned"
        assert j2["protocol_type"] == "connect"
        assert j1["generation_id"] == j2["generation_id"] >= 1
        assert j1["leader"] == j2["leader"] in (j1["member_id"], j2["member_id"])
        ids = {"w1": j1["member_id"], "w2": j2["member_id"]}
        leader = "w1" if j1["leader"] == ids["w1"] else "w2"
        lj = results[leader]["joined"]
        # only the leader gets the members' metadata, byte for byte
        assert {m["member_id"]: m["metadata"] for m in lj["members"]} == {ids["w1"]: meta1, ids["w2"]: meta2}
        follower = "w2" if leader == "w1" else "w1"
        assert results[follower]["joined"]["members"] == []
        gen = j1["generation_id"]

        sync = {}

        def do_sync(name):
            c = results[name]["conn"]
            assignments = [(ids["w1"], assign1), (ids["w2"], assign2)] if name == leader else []
            if name == "w1":
                sync[name] = c.sync_v3(group, gen, ids[name], assignments)
            else:
                sync[name] = c.sync_v5(group, gen, ids[name], assignments, "connect", "sessioned")

        ts = [threading.Thread(target=do_sync, args=(n,)) for n in (follower, leader)]
        ts[0].start()
        time.sleep(0.2)  # the follower waits for the leader's assignment
        ts[1].start()
        for t in ts:
            t.join(30)
        assert sync["w1"] == {"throttle_time_ms": 0, "error_code": NONE, "assignment": assign1, "leftover": 0}
        assert sync["w2"] == {"throttle_time_ms": 0, "error_code": NONE, "protocol_type": "connect",
                              "protocol_name": "sessioned", "assignment": assign2, "leftover": 0}

        for version in (4, 5):
            d = raw_describe(b.bootstrap, group, version)
            assert (d["error_code"], d["group_id"], d["group_state"], d["protocol_type"], d["protocol_data"]) == (
                NONE, group, "Stable", "connect", "sessioned"), d
            members = {m["member_id"]: (m["client_id"], m["client_host"], m["group_instance_id"],
                                        m["member_metadata"], m["member_assignment"]) for m in d["members"]}
            assert members == {ids["w1"]: ("connect-w1", "/127.0.0.1", None, meta1, assign1),
                               ids["w2"]: ("connect-w2", "/127.0.0.1", None, meta2, assign2)}, d

        c1 = results["w1"]["conn"]
        assert c1.heartbeat_v3(group, gen, ids["w1"])["error_code"] == NONE
        assert c1.heartbeat_v3(group, gen + 5, ids["w1"])["error_code"] == 22  # ILLEGAL_GENERATION
        assert c1.heartbeat_v3(group, gen, "nobody")["error_code"] == 25  # UNKNOWN_MEMBER_ID
        lg = c1.list_groups_v3()
        assert lg["error_code"] == NONE and lg["leftover"] == 0
        assert {g["group_id"]: g["protocol_type"] for g in lg["groups"]}[group] == "connect"

        # a "consumer" member cannot join a "connect" group
        x = RawGroupClient(b.bootstrap, client_id="intruder")
        conns.append(x)
        _, bad = x.join(5, group, "consumer", [("range", b"")])
        assert bad["error_code"] == INCONSISTENT_GROUP_PROTOCOL, bad

        # both leave: the group is Empty, keeps its protocol type, no members
        lv = c1.leave_v3(group, [(ids["w1"], None), (ids["w2"], None)])
        assert lv["error_code"] == NONE and lv["leftover"] == 0, lv
        assert sorted((m["member_id"], m["error_code"]) for m in lv["members"]) == sorted(
            [(ids["w1"], NONE), (ids["w2"], NONE)])
        d = raw_describe(b.bootstrap, group, 5)
        assert (d["group_state"], d["protocol_type"], d["members"]) == ("Empty", "connect", []), d
        r = c1.delete_groups_v1([group])
        assert r["results"] == [(group, NONE)] and r["leftover"] == 0
        d = raw_describe(b.bootstrap, group, 4)
        assert (d["error_code"], d["group_state"], d["protocol_type"], d["members"]) == (NONE, "Dead", "", [])
    finally:
        for c in conns:
            c.close()


# ---------------------------------------------------------------------------
# 3b. static leader rejoin, raw: what a JoinGroup < v9 client must be told


def test_static_leader_rejoin_raw(broker_factory):
    """KIP-345 / KIP-814 with raw requests. Two static members, A the leader.
    A restarts (JoinGroup with an empty member id and its instance id):
      * JoinGroup v5 (before KIP-814's SkipAssignment): no rebalance; A gets
        a new member id, the current generation and - like Kafka - is NOT
        told it is the leader (leader = the old leader id, no member list),
        so it acts as a follower and fetches its assignment with SyncGroup.
        A v5 client told "you are the leader" without SkipAssignment would
        compute and send an assignment, and clients like kafka-python then
        trigger a full rebalance.
      * JoinGroup v9: leader = its new id, skip_assignment = true, with the
        member list.
    Either way B sees no rebalance (heartbeat NONE) and the group stays Stable."""
    b = broker_factory(*FAST)
    group = uid("g-static-raw")
    meta = {"a": b"\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x00",
            "b": b"\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x01B"}
    assign = {"a": b"\x00\x00assignment-of-a", "b": b"\x00\x00assignment-of-b"}
    ca = RawGroupClient(b.bootstrap, client_id="ri-a")
    cb = RawGroupClient(b.bootstrap, client_id="ri-b")
    conns = [ca, cb]
    try:
        # A alone: static members skip MEMBER_ID_REQUIRED
        ja = ca.join_v5(group, "", "consumer", [("range", meta["a"])], group_instance_id="inst-a")
        assert (ja["error_code"], ja["generation_id"], ja["leader"]) == (NONE, 1, ja["member_id"]), ja
        a_id = ja["member_id"]
        sa = ca.sync_v3(group, 1, a_id, [(a_id, assign["a"])], group_instance_id="inst-a")
        assert sa["error_code"] == NONE and sa["assignment"] == assign["a"]

        # B joins; A rejoins (it would learn of the rebalance from its heartbeat)
        out = {}
        tb = threading.Thread(target=lambda: out.setdefault("b", cb.join_v5(
            group, "", "consumer", [("range", meta["b"])], group_instance_id="inst-b")))
        tb.start()
        hb = wait_until(lambda: (lambda r: r if r["error_code"] == 27 else None)(
            ca.heartbeat_v3(group, 1, a_id, "inst-a")), 10, "A's heartbeat to report REBALANCE_IN_PROGRESS")
        assert hb["error_code"] == 27
        ja2 = ca.join_v5(group, a_id, "consumer", [("range", meta["a"])], group_instance_id="inst-a")
        tb.join(20)
        jb = out["b"]
        assert ja2["error_code"] == jb["error_code"] == NONE, (ja2, jb)
        gen = ja2["generation_id"]
        assert gen == jb["generation_id"] == 2
        assert ja2["leader"] == jb["leader"] == a_id
        b_id = jb["member_id"]
        assert {m["member_id"]: (m["group_instance_id"], m["metadata"]) for m in ja2["members"]} == {
            a_id: ("inst-a", meta["a"]), b_id: ("inst-b", meta["b"])}
        assert jb["members"] == []
        tb = threading.Thread(target=lambda: out.setdefault("sb", cb.sync_v3(group, gen, b_id, [], "inst-b")))
        tb.start()
        time.sleep(0.1)
        sa = ca.sync_v3(group, gen, a_id, [(a_id, assign["a"]), (b_id, assign["b"])], "inst-a")
        tb.join(20)
        assert sa["assignment"] == assign["a"] and out["sb"]["assignment"] == assign["b"], (sa, out["sb"])
        assert raw_describe(b.bootstrap, group)["group_state"] == "Stable"

        # the follower B restarts (v5): same generation, leader is still A
        cb2 = RawGroupClient(b.bootstrap, client_id="ri-b2")
        conns.append(cb2)
        jb2 = cb2.join_v5(group, "", "consumer", [("range", meta["b"])], group_instance_id="inst-b")
        assert (jb2["error_code"], jb2["generation_id"], jb2["leader"], jb2["members"]) == (NONE, gen, a_id, []), jb2
        b_id2 = jb2["member_id"]
        assert b_id2 != b_id and b_id2.startswith("ri-b2-")
        sb2 = cb2.sync_v3(group, gen, b_id2, [], "inst-b")
        assert (sb2["error_code"], sb2["assignment"]) == (NONE, assign["b"])
        assert ca.heartbeat_v3(group, gen, a_id, "inst-a")["error_code"] == NONE
        # the old incarnation is fenced
        assert cb.heartbeat_v3(group, gen, b_id, "inst-b")["error_code"] == 82  # FENCED_INSTANCE_ID

        # the leader A restarts with JoinGroup v9 (KIP-814): leader + skip_assignment
        ca3 = RawGroupClient(b.bootstrap, client_id="ri-a3")
        conns.append(ca3)
        ja3 = ca3.join_v9(group, "", "consumer", [("range", meta["a"])], group_instance_id="inst-a")
        a_id3 = ja3["member_id"]
        assert (ja3["error_code"], ja3["generation_id"], ja3["leader"], ja3["skip_assignment"]) == (
            NONE, gen, a_id3, True), ja3
        assert {m["member_id"]: (m["group_instance_id"], m["metadata"]) for m in ja3["members"]} == {
            a_id3: ("inst-a", meta["a"]), b_id2: ("inst-b", meta["b"])}, ja3
        sa3 = ca3.sync_v5(group, gen, a_id3, [], "consumer", "range", "inst-a")
        assert (sa3["error_code"], sa3["assignment"]) == (NONE, assign["a"]), sa3
        assert cb2.heartbeat_v3(group, gen, b_id2, "inst-b")["error_code"] == NONE

        # the leader restarts again, now with JoinGroup v5: it must be told the
        # previous leader id (not its own) and no members, like Kafka does for
        # clients without SkipAssignment
        ca4 = RawGroupClient(b.bootstrap, client_id="ri-a4")
        conns.append(ca4)
        ja4 = ca4.join_v5(group, "", "consumer", [("range", meta["a"])], group_instance_id="inst-a")
        a_id4 = ja4["member_id"]
        assert (ja4["error_code"], ja4["generation_id"]) == (NONE, gen), ja4
        sa4 = ca4.sync_v3(group, gen, a_id4, [], "inst-a")
        assert (sa4["error_code"], sa4["assignment"]) == (NONE, assign["a"]), sa4
        assert cb2.heartbeat_v3(group, gen, b_id2, "inst-b")["error_code"] == NONE
        d = raw_describe(b.bootstrap, group)
        assert d["group_state"] == "Stable"
        assert {m["group_instance_id"]: m["member_id"] for m in d["members"]} == {"inst-a": a_id4, "inst-b": b_id2}
        assert (ja4["leader"], ja4["members"]) == (a_id3, []), \
            "JoinGroup v5 answer to a rejoining static leader: leader=%r (own new id %r, previous %r), %d members" % (
                ja4["leader"], a_id4, a_id3, len(ja4["members"]))
    finally:
        for c in conns:
            c.close()


def _two_static_raw_members(b, group, meta, assign):
    """A (leader, joined alone first) and B, both static, Stable at generation 2."""
    ca = RawGroupClient(b.bootstrap, client_id="rs-a")
    cb = RawGroupClient(b.bootstrap, client_id="rs-b")
    ja = ca.join_v5(group, "", "consumer", [("range", meta["a"])], group_instance_id="inst-a", rebalance_timeout_ms=1500)
    assert ja["error_code"] == NONE, ja
    a_id = ja["member_id"]
    assert ca.sync_v3(group, 1, a_id, [(a_id, assign["a"])], group_instance_id="inst-a")["error_code"] == NONE
    out = {}
    tb = threading.Thread(target=lambda: out.setdefault("b", cb.join_v5(
        group, "", "consumer", [("range", meta["b"])], group_instance_id="inst-b", rebalance_timeout_ms=1500)))
    tb.start()
    wait_until(lambda: ca.heartbeat_v3(group, 1, a_id, "inst-a")["error_code"] == 27, 10, "REBALANCE_IN_PROGRESS")
    ja2 = ca.join_v5(group, a_id, "consumer", [("range", meta["a"])], group_instance_id="inst-a", rebalance_timeout_ms=1500)
    tb.join(20)
    jb = out["b"]
    assert (ja2["error_code"], jb["error_code"], ja2["generation_id"], ja2["leader"]) == (NONE, NONE, 2, a_id)
    b_id = jb["member_id"]
    tb = threading.Thread(target=lambda: out.setdefault("sb", cb.sync_v3(group, 2, b_id, [], "inst-b")))
    tb.start()
    time.sleep(0.1)
    ca.sync_v3(group, 2, a_id, [(a_id, assign["a"]), (b_id, assign["b"])], "inst-a")
    tb.join(20)
    assert out["sb"]["assignment"] == assign["b"]
    return ca, cb, a_id, b_id


def test_static_follower_rejoin_with_new_metadata_raw(broker_factory):
    """A static member that restarts with different subscription metadata
    bytes but the same protocol: Kafka only rebalances when the group's
    selected protocol would change (GroupCoordinator
    updateStaticMemberAndRebalance / Kafka's test
    staticMemberRejoinWithUnknownMemberIdAndChangeOfProtocolWhileSelectProtocolUnchanged);
    it stores the new metadata and answers at once with the current
    generation. (Sticky and cooperative-sticky members put owned partitions
    and generation into that metadata, so it changes across restarts.)"""
    b = broker_factory(*FAST)
    group = uid("g-static-meta")
    meta = {"a": b"\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x00",
            "b": b"\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x01B"}
    assign = {"a": b"\x00\x00for-a", "b": b"\x00\x00for-b"}
    ca, cb, a_id, b_id = _two_static_raw_members(b, group, meta, assign)
    cb2 = RawGroupClient(b.bootstrap, client_id="rs-b2")
    try:
        new_meta = b"\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x03NEW"
        jb2 = cb2.join_v5(group, "", "consumer", [("range", new_meta)], group_instance_id="inst-b", rebalance_timeout_ms=1500)
        assert (jb2["error_code"], jb2["generation_id"], jb2["leader"], jb2["members"]) == (NONE, 2, a_id, []), \
            "static rejoin with new metadata (same protocol) must not start a rebalance: %r" % jb2
        sb2 = cb2.sync_v3(group, 2, jb2["member_id"], [], "inst-b")
        assert (sb2["error_code"], sb2["assignment"]) == (NONE, assign["b"])
        assert ca.heartbeat_v3(group, 2, a_id, "inst-a")["error_code"] == NONE
        d = raw_describe(b.bootstrap, group)
        assert d["group_state"] == "Stable"
        assert {m["group_instance_id"]: m["member_metadata"] for m in d["members"]} == {
            "inst-a": meta["a"], "inst-b": new_meta}
    finally:
        for c in (ca, cb, cb2):
            c.close()
