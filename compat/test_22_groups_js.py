"""22. Consumer groups with Node.js clients: kafkajs 2.2.4 and
@confluentinc/kafka-javascript 1.10.1 ("ckjs", its KafkaJS-compatible API
over a bundled librdkafka 2.15.1 built from source by compat/js/install.sh).

Members are node processes (compat/js/member.js) consuming with eachMessage
and committing every message synchronously (autoCommit off); they print
JSON events that the tests collect.

  * commit + resume: a member processes exactly N messages, commits, leaves;
    the next member gets exactly the rest - also after a broker restart
  * two-member rebalance: a second member joins mid-stream (disjoint
    assignments covering every partition), then the first leaves mid-stream
    and the second takes over everything; every record consumed exactly once
"""

from __future__ import annotations

import groups_helpers
import json
import subprocess
import tempfile
import threading
import time

import pytest

from clients import create_topic
from groups_helpers import (BackgroundProducer, committed, decode_consumer_assignment, produce_values, raw_describe,
                            wait_until, watermarks)
from helpers import JS_DIR, NODE, uid

FAST = ("--group-initial-rebalance-delay-ms", "300", "--group-min-session-timeout-ms", "1000")
JS_CLIENTS = ["kafkajs", "ckjs"]

pytestmark = pytest.mark.usefixtures("js_clients")


class JsMember:
    def __init__(self, client, bootstrap, topic, group, name, *, session_ms=6000, heartbeat_ms=300, limit=None,
                 max_seconds=90):
        self.name = name
        self.client = client
        cfg = dict(client=client, bootstrap=bootstrap, topic=topic, group=group, name=name, sessionMs=session_ms,
                   heartbeatMs=heartbeat_ms, limit=limit, maxSeconds=max_seconds)
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([NODE, str(JS_DIR / "member.js"), json.dumps(cfg)], cwd=str(JS_DIR),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        self.lock = threading.Lock()
        self.events = []
        self.other = []
        self.killed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.lock:
                if line.startswith("EV "):
                    ev = json.loads(line[3:])
                    ev["t"] = time.monotonic()
                    self.events.append(ev)
                else:
                    self.other.append(line)

    def evs(self, kind=None):
        with self.lock:
            return [e for e in self.events if kind is None or e["ev"] == kind]

    def callbacks(self):
        return [e for e in self.evs() if e["ev"] in ("assign", "revoke")]

    def owned(self):
        cbs = self.callbacks()
        return set(cbs[-1]["owned"]) if cbs else set()

    def last_callback_t(self):
        cbs = self.callbacks()
        return cbs[-1]["t"] if cbs else None

    def records(self):
        return [(e["p"], e["o"], e["v"]) for e in self.evs("msg")]

    def commit_failures(self):
        return [e for e in self.evs("msg") if not e["committed"]]

    def errors(self):
        return self.evs("error")

    def close(self, timeout=30.0):
        self.proc.stdin.write(b"close\n")
        self.proc.stdin.flush()
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=30.0):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.cleanup()
            raise AssertionError("%s did not exit within %.0fs\n%s" % (self.name, timeout, self.describe()))
        self.reader.join(5)
        assert rc == 0 and self.evs("closed"), "%s exited rc=%s\n%s" % (self.name, rc, self.describe())
        return rc

    def describe(self):
        self.stderr.seek(0)
        err = self.stderr.read()[-4000:].decode(errors="replace")
        return "js member %s (%s) rc=%s events=%r\nother stdout=%r\nstderr:\n%s" % (
            self.name, self.client, self.proc.poll(),
            [{k: v for k, v in e.items()} for e in self.evs() if e["ev"] != "msg"][-20:], self.other[-10:], err)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.stderr.close()


@pytest.fixture
def members():
    started = []
    yield started
    for m in started:
        if m.proc.poll() is None:
            m.cleanup()


def start(members, *args, **kw):
    m = JsMember(*args, **kw)
    members.append(m)
    return m


def wait_stable(ms, partitions, timeout=40.0, quiet=1.0):
    return groups_helpers.wait_stable(ms, partitions, timeout=timeout, quiet=quiet)


def wait_consumed(ms, values, timeout=40.0):
    want = set(values)
    try:
        wait_until(lambda: want <= {r[2] for m in ms for r in m.records()}, timeout, "records consumed")
    except AssertionError:
        got = {r[2] for m in ms for r in m.records()}
        raise AssertionError("%d of %d never consumed, e.g. %r\n%s" % (
            len(want - got), len(want), sorted(want - got)[:5], "\n".join(m.describe() for m in ms)))


def assert_exactly_once(ms, values):
    failures = [(m.name, e.get("error")) for m in ms for e in m.commit_failures()]
    assert not failures, "commitOffsets failed: %r" % failures[:5]
    got = [r[2] for m in ms for r in m.records()]
    dups = sorted({v for v in got if got.count(v) > 1})
    assert not dups, "%d values consumed twice, e.g. %r" % (len(dups), dups[:10])
    assert sorted(got) == sorted(values), "missing %r extra %r" % (
        sorted(set(values) - set(got))[:10], sorted(set(got) - set(values))[:10])
    for m in ms:
        assert not m.errors(), m.describe()


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_commit_and_resume(client, broker_factory, members):
    b = broker_factory(*FAST)
    topic, group = uid("jgrp-resume"), uid("jg-resume")
    create_topic(b.bootstrap, topic, 3)
    first = ["a%03d" % i for i in range(60)]
    produced = produce_values(b.bootstrap, topic, first, 3)

    a = start(members, client, b.bootstrap, topic, group, "js-a", limit=25)
    a.wait_exit(40)
    got = a.records()
    assert len(got) == 25 and len({r[2] for r in got}) == 25, a.describe()
    nxt = {p: 0 for p in range(3)}
    for p, o, v in got:
        assert produced[v] == (p, o)
        nxt[p] = max(nxt[p], o + 1)
    for p in range(3):  # a prefix of every partition
        assert sorted(o for q, o, _v in got if q == p) == list(range(nxt[p]))
    assert committed(b.bootstrap, group, topic, 3) == {p: nxt[p] or -1 for p in range(3)}

    bm = start(members, client, b.bootstrap, topic, group, "js-b")
    rest = sorted(set(first) - {r[2] for r in got})
    wait_consumed([bm], rest)
    time.sleep(0.5)
    bm.close()
    assert_exactly_once([a, bm], first)
    assert committed(b.bootstrap, group, topic, 3) == {0: 20, 1: 20, 2: 20}

    b.restart()
    assert committed(b.bootstrap, group, topic, 3) == {0: 20, 1: 20, 2: 20}
    second = ["b%03d" % i for i in range(15)]
    produced = produce_values(b.bootstrap, topic, second, 3)
    c = start(members, client, b.bootstrap, topic, group, "js-c")
    wait_consumed([c], second)
    time.sleep(0.5)
    c.close()
    assert sorted(c.records()) == sorted((p, o, v) for v, (p, o) in produced.items())
    assert_exactly_once([c], second)
    assert committed(b.bootstrap, group, topic, 3) == {0: 25, 1: 25, 2: 25}


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_two_member_rebalance(client, broker_factory, members):
    b = broker_factory(*FAST)
    topic, group = uid("jgrp-two"), uid("jg-two")
    create_topic(b.bootstrap, topic, 4)
    a = start(members, client, b.bootstrap, topic, group, "js2-a")
    wait_stable([a], 4, quiet=0.2)
    vals = ["r%04d" % i for i in range(400)]
    prod = BackgroundProducer(b.bootstrap, topic, vals, 4, chunk=10, pause=0.03).start()
    wait_until(lambda: len(a.records()) >= 50, 30, "js2-a consuming")
    bm = start(members, client, b.bootstrap, topic, group, "js2-b")
    owned = wait_stable([a, bm], 4)
    assert sorted(len(s) for s in owned.values()) == [2, 2], owned
    d = raw_describe(b.bootstrap, group)
    assert (d["group_state"], d["protocol_type"]) == ("Stable", "consumer"), d
    assert {m["client_id"]: (m["client_host"], decode_consumer_assignment(m["member_assignment"]))
            for m in d["members"]} == {n: ("/127.0.0.1", {topic: sorted(s)}) for n, s in owned.items()}
    wait_until(lambda: prod.sent >= 200, 30, "half of the records produced")
    a.close()  # leaves mid-stream
    left_at = time.monotonic()
    prod.join(60)
    wait_consumed([a, bm], vals)
    owned = wait_stable([bm], 4)
    assert owned == {"js2-b": {0, 1, 2, 3}}
    assert bm.last_callback_t() - left_at < 5.0
    assert_exactly_once([a, bm], vals)
    bm.close()
    assert committed(b.bootstrap, group, topic, 4) == watermarks(b.bootstrap, topic, 4)


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_member_killed_session_timeout(client, broker_factory, members):
    """SIGKILL one of two members (idle: everything it emitted is committed);
    the other takes its partitions over once its session timed out."""
    b = broker_factory(*FAST)
    topic, group = uid("jgrp-kill"), uid("jg-kill")
    create_topic(b.bootstrap, topic, 4)
    session_ms = 3000
    a = start(members, client, b.bootstrap, topic, group, "jk-a", session_ms=session_ms)
    wait_stable([a], 4, quiet=0.2)
    v = start(members, client, b.bootstrap, topic, group, "jk-victim", session_ms=session_ms)
    owned = wait_stable([a, v], 4)
    vals1 = ["k1-%03d" % i for i in range(80)]
    produce_values(b.bootstrap, topic, vals1, 4)
    wait_consumed([a, v], vals1)
    time.sleep(0.3)
    killed_at = time.monotonic()
    v.proc.kill()
    v.proc.wait(10)
    vals2 = ["k2-%03d" % i for i in range(80)]
    produce_values(b.bootstrap, topic, vals2, 4)
    wait_consumed([a, v], vals2)
    assert wait_stable([a], 4) == {"jk-a": {0, 1, 2, 3}}
    moved = min(e["t"] for e in a.callbacks() if e["t"] > killed_at and set(e["owned"]) > owned["jk-a"])
    assert (session_ms - 300 - 200) / 1000.0 <= moved - killed_at < (session_ms + 6000) / 1000.0, \
        "takeover %.2fs after SIGKILL with a %dms session timeout" % (moved - killed_at, session_ms)
    assert_exactly_once([a, v], vals1 + vals2)
    a.close()
    assert committed(b.bootstrap, group, topic, 4) == watermarks(b.bootstrap, topic, 4)


def js_admin(client, bootstrap, ops):
    proc = subprocess.run([NODE, str(JS_DIR / "admin.js"), json.dumps({"client": client, "bootstrap": bootstrap,
                                                                        "ops": ops})],
                          cwd=str(JS_DIR), capture_output=True, timeout=90)
    assert proc.returncode == 0, "admin.js rc=%d\n%s\n%s" % (proc.returncode, proc.stdout.decode(errors="replace"),
                                                           proc.stderr.decode(errors="replace"))
    out = [json.loads(line[3:]) for line in proc.stdout.decode().splitlines() if line.startswith("EV ")]
    assert [o["op"] for o in out] == [op[0] for op in ops], out
    return out


def _buf(x):
    assert x["type"] == "Buffer"
    return bytes(x["data"])


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_admin_groups(client, broker_factory, members):
    """describeGroups / listGroups / fetchOffsets / deleteGroups through the
    JS admin clients, with a live group and after it emptied."""
    b = broker_factory(*FAST)
    topic, group = uid("jgrp-admin"), uid("jg-admin")
    create_topic(b.bootstrap, topic, 4)
    vals = ["ad%03d" % i for i in range(40)]
    produce_values(b.bootstrap, topic, vals, 4)
    ms = [start(members, client, b.bootstrap, topic, group, "jadm-%d" % i) for i in range(2)]
    owned = wait_stable(ms, 4)
    wait_consumed(ms, vals)
    assert_exactly_once(ms, vals)
    unknown = uid("jg-unknown")
    ops = [["describeGroups", [group]], ["listGroups"], ["fetchOffsets", {"groupId": group, "topics": [topic]}],
           ["deleteGroups", [group]], ["deleteGroups", [unknown]]]
    if client == "ckjs":
        ops += [["listGroups", {"matchConsumerGroupStates": [3]}],   # STABLE
                ["listGroups", {"matchConsumerGroupStates": [5]}]]   # EMPTY
    res = {i: r for i, r in enumerate(js_admin(client, b.bootstrap, ops))}

    [d] = res[0]["ok"]["groups"]
    assert (d["groupId"], d["protocolType"]) == (group, "consumer")
    if client == "kafkajs":
        assert (d["errorCode"], d["state"], d["protocol"]) == (0, "Stable", "RoundRobinAssigner")
        got = {m["clientId"]: (m["clientHost"], decode_consumer_assignment(_buf(m["memberAssignment"])))
               for m in d["members"]}
        assert all(decode_consumer_assignment(_buf(m["memberAssignment"])) for m in d["members"])
    else:
        assert (d["state"], d["protocol"], d["isSimpleConsumerGroup"]) == (3, "roundrobin", False)  # 3 = STABLE
        got = {m["clientId"]: (m["clientHost"], {topic: sorted(tp["partition"] for tp in
                                                               m["assignment"]["topicPartitions"])})
               for m in d["members"]}
    assert got == {n: ("/127.0.0.1", {topic: sorted(s)}) for n, s in owned.items()}
    assert all(m["memberId"].startswith(m["clientId"] + "-") for m in d["members"])

    listed = {g["groupId"]: g for g in res[1]["ok"]["groups"]}
    assert listed[group]["protocolType"] == "consumer"
    [offs] = res[2]["ok"]
    assert offs["topic"] == topic
    assert sorted((p["partition"], p["offset"]) for p in offs["partitions"]) == [(p, "10") for p in range(4)]
    first_metadata = [p["metadata"] for p in sorted(offs["partitions"], key=lambda p: p["partition"])]

    for i, code, typ in ((3, 68, "NON_EMPTY_GROUP"), (4, 69, "GROUP_ID_NOT_FOUND")):
        err = res[i]["error"]
        assert err["name"] == "KafkaJSDeleteGroupsError", err
        [g] = err["groups"]
        assert (g["groupId"], g["errorCode"], g["error"]["code"]) == ([group, unknown][i - 3], code, code), err
        assert g["error"]["type"] in (typ, "ERR_" + typ)
    if client == "ckjs":
        assert group in {g["groupId"] for g in res[5]["ok"]["groups"]}
        assert group not in {g["groupId"] for g in res[6]["ok"]["groups"]}

    for m in ms:
        m.close()
    ops = [["describeGroups", [group]], ["deleteGroups", [group]], ["fetchOffsets", {"groupId": group, "topics": [topic]}],
           ["describeGroups", [group]]]
    res = js_admin(client, b.bootstrap, ops)
    [d] = res[0]["ok"]["groups"]
    assert (d["state"], d["members"]) == (("Empty" if client == "kafkajs" else 5), [])
    assert [(g["groupId"], g["errorCode"]) for g in res[1]["ok"]] == [(group, 0)], res[1]
    if client == "kafkajs":  # asks for the topic's partitions: -1 = no committed offset
        [offs] = res[2]["ok"]
        assert sorted((p["partition"], p["offset"]) for p in offs["partitions"]) == [(p, "-1") for p in range(4)]
    else:  # ckjs fetches all of the group's offsets (none left) and filters by topic
        assert res[2]["ok"] == [], res[2]
    [d] = res[3]["ok"]["groups"]
    assert (d["state"], d["members"]) == (("Dead" if client == "kafkajs" else 4), [])

    if client == "kafkajs":
        # kafkajs commits with null metadata; the broker stores "" as Kafka
        # does (checked on the wire in test_20), and kafkajs's admin
        # fetchOffsets maps "" back to null (`metadata || null`).
        assert first_metadata == [None, None, None, None], first_metadata
