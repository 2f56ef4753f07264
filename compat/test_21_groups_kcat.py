"""21. Consumer groups with kcat -G (Debian's kcat 1.7.1, librdkafka 2.0.2).

kcat's balanced consumer uses librdkafka's auto commit (offsets are stored
after each message is handed to kcat and committed every
auto.commit.interval.ms, on partition revocation and on close). Members
print "partition offset value" lines on stdout (-u: unbuffered) and their
rebalance callbacks on stderr ("% Group G rebalanced (memberid M):
assigned: t [0], t [1]"), which the tests parse.

  * commit + resume with -e: each run gets exactly the records after the
    previous run's committed offsets, also across a broker restart
  * three members on 6 partitions: disjoint assignments covering all 6; a
    member stopped with SIGINT (clean close: commit + LeaveGroup; stopped
    while idle, see below), the others take over while records flow; a
    member SIGKILLed (after its offsets were committed) is taken over after
    its session timed out; every record is consumed exactly once
  * static membership (group.instance.id): restarting a member (follower,
    then leader) within the session timeout gives it the same partitions
    and the other member sees no rebalance
  * cooperative-sticky: a second member joining only revokes the moving
    partitions from the first
"""

from __future__ import annotations

import groups_helpers
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from clients import create_topic
from groups_helpers import (BackgroundProducer, committed, decode_consumer_assignment, produce_values, raw_describe,
                            wait_until, watermarks)
from helpers import KCAT, run_kcat, uid

FAST = ("--group-initial-rebalance-delay-ms", "300", "--group-min-session-timeout-ms", "1000")

REBALANCE_RE = re.compile(r"rebalanced(?: \(memberid [^)]*\))?:\s*(assigned|revoked|incremental assign|"
                          r"incremental revoke|incremental unassign)")


def parse_records(out):
    recs = []
    for line in out.splitlines():
        p, o, v = line.split(" ", 2)
        recs.append((int(p), int(o), v))
    return recs


class KcatMember:
    """A long-running `kcat -G` member."""

    def __init__(self, bootstrap, group, topic, name, *, session_ms=3000, extra=()):
        assert KCAT, "kcat is not installed (scripts/test.sh installs it)"
        self.name = name
        self.argv = [KCAT, "-b", bootstrap, "-G", group, "-u", "-f", "%p %o %s\\n",
                     "-X", "client.id=" + name, "-X", "auto.offset.reset=earliest",
                     "-X", "session.timeout.ms=%d" % session_ms, "-X", "heartbeat.interval.ms=300",
                     "-X", "auto.commit.interval.ms=200", "-X", "fetch.wait.max.ms=100", *extra, topic]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lock = threading.Lock()
        self.recs = []
        self.events = []  # (t, kind, parts, owned-after)
        self.err_lines = []
        self.owned_set = set()
        self.killed = False
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()

    def _read_out(self):
        for line in self.proc.stdout:
            p, o, v = line.decode().rstrip("\n").split(" ", 2)
            with self.lock:
                self.recs.append((int(p), int(o), v))

    def _read_err(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.lock:
                self.err_lines.append(line)
            m = REBALANCE_RE.search(line)
            if not m:
                continue
            kind = m.group(1)
            parts = {int(x) for x in re.findall(r"\[(\d+)\]", line[m.end():])}
            with self.lock:
                if kind == "assigned":
                    self.owned_set = set(parts)
                elif kind == "incremental assign":
                    self.owned_set |= parts
                else:
                    self.owned_set -= parts
                self.events.append((time.monotonic(), "assign" if "assign" in kind and "un" not in kind
                                    else "revoke", sorted(parts), sorted(self.owned_set)))

    def records(self):
        with self.lock:
            return list(self.recs)

    def owned(self):
        with self.lock:
            return set(self.owned_set)

    def callbacks(self):
        with self.lock:
            return list(self.events)

    def last_callback_t(self):
        cbs = self.callbacks()
        return cbs[-1][0] if cbs else None

    def stop(self, sig=signal.SIGINT, timeout=20.0):
        """SIGINT: kcat closes the consumer (final commit, LeaveGroup for a
        dynamic member) and exits 0."""
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("%s did not exit within %.0fs after %s\n%s" % (self.name, timeout, sig,
                                                                                 self.describe()))
        self.t_out.join(5)
        self.t_err.join(5)
        assert rc == 0, "%s exited with %s\n%s" % (self.name, rc, self.describe())

    def kill9(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.killed = True

    def describe(self):
        with self.lock:
            return "kcat member %s rc=%s events=%r\nstderr tail:\n%s" % (
                self.name, self.proc.poll(), self.events[-20:], "\n".join(self.err_lines[-40:]))

    def cleanup(self):
        if self.proc.poll() is None:
            self.kill9()


@pytest.fixture
def members():
    started = []
    yield started
    for m in started:
        m.cleanup()


def start(members, *args, **kw):
    m = KcatMember(*args, **kw)
    members.append(m)
    return m


def wait_stable(ms, partitions, timeout=30.0, quiet=1.0):
    return groups_helpers.wait_stable(ms, partitions, timeout=timeout, quiet=quiet)


def _ranges(offsets):
    out, start, prev = [], None, None
    for o in sorted(offsets):
        if start is None:
            start = prev = o
        elif o == prev + 1:
            prev = o
        else:
            out.append((start, prev))
            start = prev = o
    if start is not None:
        out.append((start, prev))
    return out


def consumption_report(ms):
    """Per member and partition: the offset ranges it printed."""
    lines = []
    for m in ms:
        per = {}
        for p, o, _v in m.records():
            per.setdefault(p, []).append(o)
        lines.append("%s: %s" % (m.name, {p: _ranges(v) for p, v in sorted(per.items())}))
    return "\n".join(lines)


def wait_consumed(ms, values, timeout=30.0):
    want = set(values)
    try:
        wait_until(lambda: want <= {r[2] for m in ms for r in m.records()}, timeout, "records consumed")
    except AssertionError:
        got = {r[2] for m in ms for r in m.records()}
        raise AssertionError("%d of %d never consumed, e.g. %r\n%s\n%s" % (
            len(want - got), len(want), sorted(want - got)[:5], consumption_report(ms),
            "\n".join(m.describe() for m in ms)))


def assert_exactly_once(ms, values):
    got = [r[2] for m in ms for r in m.records()]
    dups = sorted({v for v in got if got.count(v) > 1})
    assert not dups, "%d values consumed twice, e.g. %r" % (len(dups), dups[:10])
    assert sorted(got) == sorted(values), "missing %r extra %r" % (
        sorted(set(values) - set(got))[:10], sorted(set(got) - set(values))[:10])


def assert_partitioned(owned, partitions, n):
    sets = list(owned.values())
    assert len(sets) == n and all(sets), owned
    assert sum(len(s) for s in sets) == partitions and set().union(*sets) == set(range(partitions)), owned


# ---------------------------------------------------------------------------


def test_kcat_group_commit_resume_and_restart(broker_factory):
    b = broker_factory(*FAST)
    topic, group = uid("kgrp-resume"), uid("kg-resume")
    create_topic(b.bootstrap, topic, 3)
    args = ("-G", group, "-e", "-f", "%p %o %s\\n", "-X", "auto.offset.reset=earliest", "-X", "client.id=kc-resume",
            topic)

    first = ["a%02d" % i for i in range(30)]
    produced = produce_values(b.bootstrap, topic, first, 3)
    out, err = run_kcat(b.bootstrap, *args)
    recs = parse_records(out)
    assert sorted(recs) == sorted((p, o, v) for v, (p, o) in produced.items())
    assert re.search(r"rebalanced \(memberid kc-resume-[^)]+\): assigned: %s \[0\], %s \[1\], %s \[2\]"
                     % ((re.escape(topic),) * 3), err), err
    assert committed(b.bootstrap, group, topic, 3) == {0: 10, 1: 10, 2: 10}

    second = ["b%02d" % i for i in range(15)]
    produced = produce_values(b.bootstrap, topic, second, 3)
    recs = parse_records(run_kcat(b.bootstrap, *args)[0])
    assert sorted(recs) == sorted((p, o, v) for v, (p, o) in produced.items())
    assert {o for _p, o, _v in recs} == set(range(10, 15))
    assert committed(b.bootstrap, group, topic, 3) == {0: 15, 1: 15, 2: 15}

    b.restart()
    assert committed(b.bootstrap, group, topic, 3) == {0: 15, 1: 15, 2: 15}
    third = ["c%02d" % i for i in range(9)]
    produced = produce_values(b.bootstrap, topic, third, 3)
    recs = parse_records(run_kcat(b.bootstrap, *args)[0])
    assert sorted(recs) == sorted((p, o, v) for v, (p, o) in produced.items())
    assert committed(b.bootstrap, group, topic, 3) == {0: 18, 1: 18, 2: 18}

    d = raw_describe(b.bootstrap, group)
    assert (d["group_state"], d["protocol_type"], d["members"]) == ("Empty", "consumer", [])


def test_kcat_three_members_leave_and_kill(broker_factory, members):
    b = broker_factory(*FAST)
    topic, group = uid("kgrp-three"), uid("kg-three")
    create_topic(b.bootstrap, topic, 6)
    ms = [start(members, b.bootstrap, group, topic, "kc-%d" % i) for i in range(3)]
    owned = wait_stable(ms, 6)
    assert_partitioned(owned, 6, 3)
    assert sorted(len(s) for s in owned.values()) == [2, 2, 2]
    d = raw_describe(b.bootstrap, group)
    assert (d["group_state"], d["protocol_type"], d["protocol_data"]) == ("Stable", "consumer", "range")
    assert {m["client_id"]: (m["client_host"], decode_consumer_assignment(m["member_assignment"]))
            for m in d["members"]} == {n: ("/127.0.0.1", {topic: sorted(s)}) for n, s in owned.items()}

    # kcat drops a message that consumer_poll() returns after SIGINT (its
    # consume_cb returns early when !conf.run) although librdkafka already
    # stored - and on close commits - its offset. So stop it while it is
    # idle; the records produced right after flow during the rebalance.
    vals1 = ["k1-%04d" % i for i in range(200)]
    BackgroundProducer(b.bootstrap, topic, vals1, 6, chunk=20, pause=0.03).start().join(60)
    wait_consumed(ms, vals1)
    vals1b = ["k1b-%04d" % i for i in range(200)]
    prod = BackgroundProducer(b.bootstrap, topic, vals1b, 6, chunk=20, pause=0.03)
    ms[2].stop()  # SIGINT: final commit, LeaveGroup, exit 0
    left_at = time.monotonic()
    prod.start()
    prod.join(60)
    wait_consumed(ms, vals1b)
    owned = wait_stable(ms[:2], 6)
    assert_partitioned(owned, 6, 2)
    assert max(m.last_callback_t() for m in ms[:2]) - left_at < 3.0, "takeover after a clean leave too slow"
    assert_exactly_once(ms, vals1 + vals1b)
    vals1 = vals1 + vals1b

    m3 = start(members, b.bootstrap, group, topic, "kc-3")
    live = [ms[0], ms[1], m3]
    owned = wait_stable(live, 6)
    assert_partitioned(owned, 6, 3)
    vals2 = ["k2-%04d" % i for i in range(120)]
    produce_values(b.bootstrap, topic, vals2, 6)
    wait_consumed(live, vals2)
    hw = watermarks(b.bootstrap, topic, 6)
    # auto commit: wait until everything consumed is committed, then crash
    wait_until(lambda: committed(b.bootstrap, group, topic, 6) == hw, 10, "auto commit of all offsets")
    killed_at = time.monotonic()
    m3.kill9()
    vals3 = ["k3-%04d" % i for i in range(120)]
    produce_values(b.bootstrap, topic, vals3, 6)
    wait_consumed(ms[:2], vals3)
    owned = wait_stable(ms[:2], 6)
    assert_partitioned(owned, 6, 2)
    moved = min(t for m in ms[:2] for t, *_ in m.callbacks() if t > killed_at)
    assert moved - killed_at >= 2.5, "rebalance %.2fs after SIGKILL, before the 3000ms session timeout" % (
        moved - killed_at)
    assert moved - killed_at < 10
    assert_exactly_once(ms + [m3], vals1 + vals2 + vals3)
    for m in ms[:2]:
        m.stop()
    hw = watermarks(b.bootstrap, topic, 6)
    assert committed(b.bootstrap, group, topic, 6) == hw


def test_kcat_static_member_restart(broker_factory, members):
    b = broker_factory(*FAST)
    topic, group = uid("kgrp-static"), uid("kg-static")
    create_topic(b.bootstrap, topic, 6)
    kw = dict(session_ms=8000)
    a = start(members, b.bootstrap, group, topic, "ks-a", extra=("-X", "group.instance.id=inst-a"), **kw)
    wait_stable([a], 6, quiet=0.2)  # A first: the leader
    bm = start(members, b.bootstrap, group, topic, "ks-b", extra=("-X", "group.instance.id=inst-b"), **kw)
    owned = wait_stable([a, bm], 6)
    assert_partitioned(owned, 6, 2)
    all_vals = []
    cur = {"inst-a": a, "inst-b": bm}
    for round_, (instance, other_instance) in enumerate((("inst-b", "inst-a"), ("inst-a", "inst-b"))):
        victim, other = cur[instance], cur[other_instance]
        ids_before = {m["group_instance_id"]: m["member_id"] for m in raw_describe(b.bootstrap, group)["members"]}
        victim_owned, other_owned, n_other = victim.owned(), other.owned(), len(other.callbacks())
        victim.stop()  # static member: close without LeaveGroup
        closed_at = time.monotonic()
        d = raw_describe(b.bootstrap, group)
        assert d["group_state"] == "Stable", d
        assert {m["group_instance_id"]: m["member_id"] for m in d["members"]} == ids_before
        vals = ["ks%d-%03d" % (round_, i) for i in range(60)]
        all_vals += vals
        produce_values(b.bootstrap, topic, vals, 6)
        new = start(members, b.bootstrap, group, topic, "ks-%s-%d" % (instance, round_),
                    extra=("-X", "group.instance.id=" + instance), **kw)
        wait_until(lambda: new.owned(), 20, "restarted static member %s assigned" % instance)
        assert time.monotonic() - closed_at < 8.0
        wait_consumed(list(cur.values()) + [new], vals)
        time.sleep(1.0)
        assert new.owned() == victim_owned
        assert other.callbacks()[n_other:] == [], "%s saw a rebalance: %r" % (other.name, other.callbacks()[n_other:])
        assert other.owned() == other_owned
        d = raw_describe(b.bootstrap, group)
        assert d["group_state"] == "Stable", d
        ids = {m["group_instance_id"]: m["member_id"] for m in d["members"]}
        assert ids[other_instance] == ids_before[other_instance] and ids[instance] != ids_before[instance], d
        cur[instance] = new
    assert_exactly_once(members, all_vals)


def test_kcat_cooperative_sticky(broker_factory, members):
    b = broker_factory(*FAST)
    topic, group = uid("kgrp-coop"), uid("kg-coop")
    create_topic(b.bootstrap, topic, 6)
    extra = ("-X", "partition.assignment.strategy=cooperative-sticky")
    a = start(members, b.bootstrap, group, topic, "kco-a", session_ms=6000, extra=extra)
    wait_stable([a], 6, quiet=0.2)
    first = len(a.callbacks())
    vals = ["kco-%04d" % i for i in range(300)]
    prod = BackgroundProducer(b.bootstrap, topic, vals, 6, chunk=20, pause=0.03).start()
    wait_until(lambda: len(a.records()) >= 60, 30, "kco-a consuming")
    bm = start(members, b.bootstrap, group, topic, "kco-b", session_ms=6000, extra=extra)
    owned = wait_stable([a, bm], 6)
    prod.join(60)
    wait_consumed([a, bm], vals)
    assert_partitioned(owned, 6, 2)
    assert sorted(len(s) for s in owned.values()) == [3, 3]
    later = [e for e in a.callbacks()[first:] if e[2]]
    assert {e[1] for e in later} == {"revoke"}, later
    assert {p for e in later for p in e[2]} == owned["kco-b"], later
    for e in a.callbacks()[first:]:
        assert owned["kco-a"] <= set(e[3]), e
    assert {e[1] for e in bm.callbacks() if e[2]} == {"assign"}, bm.callbacks()
    d = raw_describe(b.bootstrap, group)
    assert (d["group_state"], d["protocol_data"]) == ("Stable", "cooperative-sticky")
    assert_exactly_once([a, bm], vals)
    a.stop()
    bm.stop()
    assert committed(b.bootstrap, group, topic, 6) == watermarks(b.bootstrap, topic, 6)
