"""Helpers for the consumer-group compat tests (test_20/21/22).

Three parts:

1. Raw wire-protocol encoders/decoders for the group APIs (JoinGroup v5/v9,
   SyncGroup v3/v5, Heartbeat v3, LeaveGroup v3, DescribeGroups v4/v5,
   ListGroups v3, OffsetFetch v8, DeleteGroups v1), built on the primitives
   of kafka_raw.py and written from the protocol spec.

2. A group-member *worker* that runs in its own process
   (`python groups_helpers.py worker '<json config>'`) with kafka-python,
   aiokafka or confluent-kafka. It subscribes to one topic, and after each
   batch it commits the batch's offsets synchronously, then prints one JSON
   line per event on stdout:
       {"ev": "assign"|"revoke"|"lost", "parts": [..], "owned": [..]}
       {"ev": "batch", "recs": [[partition, offset, value], ..], "committed": bool}
       {"ev": "closed"} / {"ev": "deadline"} / {"ev": "error", ...}
   It reads commands on stdin: "close" (commit nothing more, close the
   consumer - a dynamic member sends LeaveGroup) and exits. With "limit" it
   processes (and commits) exactly that many records, then closes by itself.
   The parent side is `Worker`, which can also SIGKILL the process.

3. Small utilities: a producer of unique values, high watermarks, a
   group's committed offsets (raw OffsetFetch v8), waiting.

Every wait is bounded by a deadline.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import kafka_raw as kr  # noqa: E402
from kafka_raw import Reader, array, bytes_, compact_string, int8, int32, string, uvarint  # noqa: E402

# --------------------------------------------------------------------------
# API keys and error codes

OFFSET_COMMIT = 8
OFFSET_FETCH = 9
FIND_COORDINATOR = 10
JOIN_GROUP = 11
HEARTBEAT = 12
LEAVE_GROUP = 13
SYNC_GROUP = 14
DESCRIBE_GROUPS = 15
LIST_GROUPS = 16
DELETE_GROUPS = 42
OFFSET_DELETE = 47

NONE = 0
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
GROUP_SUBSCRIBED_TO_TOPIC = 86


def compact_bytes(b: bytes | None) -> bytes:
    if b is None:
        return uvarint(0)
    return uvarint(len(b) + 1) + b


def compact_array(items: list[bytes] | None) -> bytes:
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(items)


TAGS = uvarint(0)  # empty tagged-field section


def _compact_bytes_read(r: Reader):
    n = r.uvarint()
    if n == 0:
        return None
    return r.raw(n - 1)


class RawGroupClient:
    """One connection to the (single) broker, which is every group's coordinator."""

    def __init__(self, bootstrap: str, client_id: str = "compat-raw", timeout: float = 20.0):
        self.conn = kr.Conn(bootstrap, timeout=timeout)
        self.client_id = client_id

    def close(self):
        self.conn.close()

    def _call(self, api_key, version, body, flexible):
        corr = self.conn.corr()
        hdr = kr.request_header(api_key, version, corr, client_id=self.client_id, flexible=flexible)
        return Reader(self.conn.request(hdr + body, corr, flexible_response_header=flexible))

    # -- FindCoordinator v1 ------------------------------------------------
    def find_coordinator(self, key: str, key_type: int = 0):
        r = self._call(FIND_COORDINATOR, 1, string(key) + int8(key_type), False)
        out = {"throttle_time_ms": r.int32(), "error_code": r.int16(), "error_message": r.string(),
               "node_id": r.int32(), "host": r.string(), "port": r.int32()}
        return out

    # -- JoinGroup v5 (non-flexible) ---------------------------------------
    def join_v5(self, group, member_id, protocol_type, protocols, session_timeout_ms=10000,
                rebalance_timeout_ms=10000, group_instance_id=None):
        body = (string(group) + int32(session_timeout_ms) + int32(rebalance_timeout_ms) + string(member_id)
                + string(group_instance_id) + string(protocol_type)
                + array([string(n) + bytes_(m) for n, m in protocols]))
        r = self._call(JOIN_GROUP, 5, body, False)
        out = {"throttle_time_ms": r.int32(), "error_code": r.int16(), "generation_id": r.int32(),
               "protocol_name": r.string(), "leader": r.string(), "member_id": r.string()}
        out["members"] = r.array(lambda: {"member_id": r.string(), "group_instance_id": r.string(),
                                          "metadata": r.bytes_()})
        out["leftover"] = r.remaining()
        return out

    # -- JoinGroup v9 (flexible) -------------------------------------------
    def join_v9(self, group, member_id, protocol_type, protocols, session_timeout_ms=10000,
                rebalance_timeout_ms=10000, group_instance_id=None, reason=None):
        body = (compact_string(group) + int32(session_timeout_ms) + int32(rebalance_timeout_ms)
                + compact_string(member_id) + compact_string(group_instance_id) + compact_string(protocol_type)
                + compact_array([compact_string(n) + compact_bytes(m) + TAGS for n, m in protocols])
                + compact_string(reason) + TAGS)
        r = self._call(JOIN_GROUP, 9, body, True)
        out = {"throttle_time_ms": r.int32(), "error_code": r.int16(), "generation_id": r.int32(),
               "protocol_type": r.compact_string(), "protocol_name": r.compact_string(),
               "leader": r.compact_string(), "skip_assignment": bool(r.int8()),
               "member_id": r.compact_string()}

        def member():
            m = {"member_id": r.compact_string(), "group_instance_id": r.compact_string(),
                 "metadata": _compact_bytes_read(r)}
            r.tagged_fields()
            return m

        out["members"] = r.compact_array(member)
        r.tagged_fields()
        out["leftover"] = r.remaining()
        return out

    def join(self, version, group, protocol_type, protocols, **kw):
        """KIP-394 two-step join: the first JoinGroup (empty member id) must be
        answered with MEMBER_ID_REQUIRED and a member id; rejoin with it."""
        fn = self.join_v9 if version == 9 else self.join_v5
        first = fn(group, "", protocol_type, protocols, **kw)
        if first["error_code"] != MEMBER_ID_REQUIRED:
            return first, first
        assert first["member_id"], first
        second = fn(group, first["member_id"], protocol_type, protocols, **kw)
        return first, second

    # -- SyncGroup v3 / v5 --------------------------------------------------
    def sync_v3(self, group, generation_id, member_id, assignments, group_instance_id=None):
        body = (string(group) + int32(generation_id) + string(member_id) + string(group_instance_id)
                + array([string(m) + bytes_(a) for m, a in assignments]))
        r = self._call(SYNC_GROUP, 3, body, False)
        out = {"throttle_time_ms": r.int32(), "error_code": r.int16(), "assignment": r.bytes_()}
        out["leftover"] = r.remaining()
        return out

    def sync_v5(self, group, generation_id, member_id, assignments, protocol_type, protocol_name,
                group_instance_id=None):
        body = (compact_string(group) + int32(generation_id) + compact_string(member_id)
                + compact_string(group_instance_id) + compact_string(protocol_type)
                + compact_string(protocol_name)
                + compact_array([compact_string(m) + compact_bytes(a) + TAGS for m, a in assignments]) + TAGS)
        r = self._call(SYNC_GROUP, 5, body, True)
        out = {"throttle_time_ms": r.int32(), "error_code": r.int16(), "protocol_type": r.compact_string(),
               "protocol_name": r.compact_string(), "assignment": _compact_bytes_read(r)}
        r.tagged_fields()
        out["leftover"] = r.remaining()
        return out

    # -- Heartbeat v3 / LeaveGroup v3 ----------------------------------------
    def heartbeat_v3(self, group, generation_id, member_id, group_instance_id=None):
        body = string(group) + int32(generation_id) + string(member_id) + string(group_instance_id)
        r = self._call(HEARTBEAT, 3, body, False)
        return {"throttle_time_ms": r.int32(), "error_code": r.int16(), "leftover": r.remaining()}

    def leave_v3(self, group, members):
        """members: [(member_id, group_instance_id)]"""
        body = string(group) + array([string(m) + string(i) for m, i in members])
        r = self._call(LEAVE_GROUP, 3, body, False)
        out = {"throttle_time_ms": r.int32(), "error_code": r.int16()}
        out["members"] = r.array(lambda: {"member_id": r.string(), "group_instance_id": r.string(),
                                          "error_code": r.int16()})
        out["leftover"] = r.remaining()
        return out

    # -- DescribeGroups v4 (non-flexible) / v5 (flexible) ---------------------
    def describe_v4(self, groups):
        body = array([string(g) for g in groups]) + int8(0)
        r = self._call(DESCRIBE_GROUPS, 4, body, False)
        out = {"throttle_time_ms": r.int32()}

        def member():
            return {"member_id": r.string(), "group_instance_id": r.string(), "client_id": r.string(),
                    "client_host": r.string(), "member_metadata": r.bytes_(),
                    "member_assignment": r.bytes_()}

        def group():
            return {"error_code": r.int16(), "group_id": r.string(), "group_state": r.string(),
                    "protocol_type": r.string(), "protocol_data": r.string(),
                    "members": r.array(member), "authorized_operations": r.int32()}

        out["groups"] = r.array(group)
        out["leftover"] = r.remaining()
        return out

    def describe_v5(self, groups):
        body = compact_array([compact_string(g) for g in groups]) + int8(0) + TAGS
        r = self._call(DESCRIBE_GROUPS, 5, body, True)
        out = {"throttle_time_ms": r.int32()}

        def member():
            m = {"member_id": r.compact_string(), "group_instance_id": r.compact_string(),
                 "client_id": r.compact_string(), "client_host": r.compact_string(),
                 "member_metadata": _compact_bytes_read(r), "member_assignment": _compact_bytes_read(r)}
            r.tagged_fields()
            return m

        def group():
            g = {"error_code": r.int16(), "group_id": r.compact_string(), "group_state": r.compact_string(),
                 "protocol_type": r.compact_string(), "protocol_data": r.compact_string(),
                 "members": r.compact_array(member), "authorized_operations": r.int32()}
            r.tagged_fields()
            return g

        out["groups"] = r.compact_array(group)
        r.tagged_fields()
        out["leftover"] = r.remaining()
        return out

    # -- ListGroups v3 (flexible, no filter) ----------------------------------
    def list_groups_v3(self):
        r = self._call(LIST_GROUPS, 3, TAGS, True)
        out = {"throttle_time_ms": r.int32(), "error_code": r.int16()}

        def group():
            g = {"group_id": r.compact_string(), "protocol_type": r.compact_string()}
            r.tagged_fields()
            return g

        out["groups"] = r.compact_array(group)
        r.tagged_fields()
        out["leftover"] = r.remaining()
        return out

    # -- OffsetFetch v8 (flexible, several groups) ----------------------------
    def offset_fetch_v8(self, groups):
        """groups: {group_id: None (all topics) | {topic: [partitions]}}"""
        items = []
        for g, topics in groups.items():
            t = None if topics is None else [
                compact_string(name) + compact_array([int32(p) for p in parts]) + TAGS
                for name, parts in topics.items()]
            items.append(compact_string(g) + compact_array(t) + TAGS)
        body = compact_array(items) + int8(0) + TAGS
        r = self._call(OFFSET_FETCH, 8, body, True)
        out = {"throttle_time_ms": r.int32()}

        def part():
            p = {"partition_index": r.int32(), "committed_offset": r.int64(),
                 "committed_leader_epoch": r.int32(), "metadata": r.compact_string(),
                 "error_code": r.int16()}
            r.tagged_fields()
            return p

        def topic():
            t = {"name": r.compact_string(), "partitions": r.compact_array(part)}
            r.tagged_fields()
            return t

        def group():
            g = {"group_id": r.compact_string(), "topics": r.compact_array(topic), "error_code": r.int16()}
            r.tagged_fields()
            return g

        out["groups"] = r.compact_array(group)
        r.tagged_fields()
        out["leftover"] = r.remaining()
        return out

    # -- DeleteGroups v1 --------------------------------------------------------
    def delete_groups_v1(self, groups):
        r = self._call(DELETE_GROUPS, 1, array([string(g) for g in groups]), False)
        out = {"throttle_time_ms": r.int32()}
        out["results"] = r.array(lambda: (r.string(), r.int16()))
        out["leftover"] = r.remaining()
        return out


def offsets_by_group(resp):
    """OffsetFetch v8 response -> {group: (error, {(topic, p): (offset, metadata, error)})}"""
    out = {}
    for g in resp["groups"]:
        parts = {}
        for t in g["topics"] or []:
            for p in t["partitions"] or []:
                parts[(t["name"], p["partition_index"])] = (p["committed_offset"], p["metadata"],
                                                            p["error_code"])
        out[g["group_id"]] = (g["error_code"], parts)
    return out


def offset_fetch(bootstrap, group, topic, partitions):
    """A raw OffsetFetch v8 (on a new connection to bootstrap) of one
    group's offsets of topic's partitions 0..partitions-1: the parsed
    answer (fully read)."""
    c = RawGroupClient(bootstrap)
    try:
        resp = c.offset_fetch_v8({group: {topic: list(range(partitions))}})
    finally:
        c.close()
    assert resp["leftover"] == 0, resp
    return resp


def committed_entries(bootstrap, group, topic, partitions):
    """The group's committed offsets of topic's partitions 0..partitions-1
    (offset_fetch; the group must answer without error):
    {partition: (offset, metadata, error)}, offset -1 = none."""
    resp = offset_fetch(bootstrap, group, topic, partitions)
    err, parts = offsets_by_group(resp)[group]
    assert err == NONE, resp
    return {p: parts[(topic, p)] for p in range(partitions)}


def committed(bootstrap, group, topic, partitions=1):
    """committed_entries' offsets alone: {partition: offset}."""
    return {p: e[0] for p, e in committed_entries(bootstrap, group, topic, partitions).items()}


# --------------------------------------------------------------------------
# Consumer protocol (the "consumer" protocol type's metadata/assignment bytes)


def decode_consumer_subscription(data: bytes):
    r = Reader(data)
    version = r.int16()
    topics = r.array(r.string)
    user_data = r.bytes_()
    return {"version": version, "topics": topics, "user_data": user_data}


def decode_consumer_assignment(data: bytes):
    """-> {topic: sorted partitions}; b"" (no assignment) -> {}"""
    if not data:
        return {}
    r = Reader(data)
    r.int16()  # version

    def tp():
        return r.string(), sorted(r.array(r.int32))

    return dict(r.array(tp))


# --------------------------------------------------------------------------
# producing and offsets


def produce_values(bootstrap, topic, values, partitions, timeout=60.0):
    """Produce each value (str) to partition i % partitions (explicit), wait
    for every delivery; returns {value: (partition, offset)}."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, "acks": "all",
                  "enable.idempotence": False, "message.timeout.ms": int(timeout * 1000)})
    out = {}
    errs = []

    def cb(err, msg):
        if err is not None:
            errs.append(str(err))
        else:
            out[msg.value().decode()] = (msg.partition(), msg.offset())

    for i, v in enumerate(values):
        p.produce(topic, value=v.encode(), partition=i % partitions, on_delivery=cb)
        p.poll(0)
    left = p.flush(timeout)
    assert left == 0 and not errs, "produce failed: %d left, errors %r" % (left, errs[:5])
    assert len(out) == len(values)
    return out


class BackgroundProducer:
    """Produces `values` round-robin over partitions from a thread, in chunks
    of `chunk` with `pause` seconds between chunks ("mid-stream" traffic)."""

    def __init__(self, bootstrap, topic, values, partitions, chunk=20, pause=0.05):
        self.args = (bootstrap, topic, list(values), partitions, chunk, pause)
        self.delivered = {}
        self.error = None
        self.sent = 0
        self.t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.t.start()
        return self

    def _run(self):
        from confluent_kafka import Producer
        bootstrap, topic, values, partitions, chunk, pause = self.args
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, "acks": "all",
                      "enable.idempotence": False, "message.timeout.ms": 60000})
        try:
            for i in range(0, len(values), chunk):
                part = values[i:i + chunk]
                for j, v in enumerate(part):
                    # round-robin position kept across chunks
                    p.produce(topic, value=v.encode(), partition=(i + j) % partitions, on_delivery=self._cb)
                left = p.flush(30)
                if left:
                    raise RuntimeError("%d records undelivered after 30s" % left)
                self.sent = i + len(part)
                time.sleep(pause)
        except Exception as e:  # reported by join()
            self.error = e
        finally:
            del p  # destroy the producer (and its threads) now

    def _cb(self, err, msg):
        if err is not None:
            self.error = RuntimeError(str(err))
        else:
            self.delivered[msg.value().decode()] = (msg.partition(), msg.offset())

    def join(self, timeout=60.0):
        self.t.join(timeout)
        assert not self.t.is_alive(), "background producer still running after %.0fs" % timeout
        if self.error:
            raise self.error
        assert len(self.delivered) == len(self.args[2]), (len(self.delivered), len(self.args[2]))
        return self.delivered


def watermarks(bootstrap, topic, partitions, timeout=10.0):
    """{partition: high watermark}"""
    import uuid
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout, cached=False)[1]
                for p in range(partitions)}
    finally:
        c.close()


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns a truthy value (returned); fails with
    `what` and the last value seen otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, v))
        time.sleep(interval)


def raw_describe(bootstrap, group, version=4):
    c = RawGroupClient(bootstrap)
    try:
        resp = c.describe_v5([group]) if version == 5 else c.describe_v4([group])
    finally:
        c.close()
    assert resp["leftover"] == 0, resp
    [g] = resp["groups"]
    return g


# --------------------------------------------------------------------------
# group-member worker: parent side


class Worker:
    """A group member in a child process; see the module docstring."""

    def __init__(self, client, bootstrap, topic, group, name, *, instance_id=None, strategy="range",
                 session_ms=3000, heartbeat_ms=300, max_poll_records=50, max_seconds=120,
                 commit_metadata=None, rebalance_ms=20000, limit=None, extra=None, log_level=None):
        self.name = name
        self.cfg = dict(client=client, bootstrap=bootstrap, topic=topic, group=group, client_id=name,
                        instance_id=instance_id, strategy=strategy, session_ms=session_ms,
                        heartbeat_ms=heartbeat_ms, max_poll_records=max_poll_records,
                        max_seconds=max_seconds, commit_metadata=commit_metadata, rebalance_ms=rebalance_ms,
                        limit=limit, extra=extra or {}, log_level=log_level)
        self.events = []
        self.lock = threading.Lock()
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "worker",
                                      json.dumps(self.cfg)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     cwd=str(HERE))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.killed = False

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "garbage", "line": line.decode(errors="replace")}
            ev["t"] = time.monotonic()
            with self.lock:
                self.events.append(ev)

    def evs(self, kind=None):
        with self.lock:
            return [e for e in self.events if kind is None or e["ev"] == kind]

    def owned(self):
        """Partitions owned after the latest assign/revoke/lost callback."""
        last = [e for e in self.evs() if e["ev"] in ("assign", "revoke", "lost")]
        return set(last[-1]["owned"]) if last else set()

    def callbacks(self):
        return [e for e in self.evs() if e["ev"] in ("assign", "revoke", "lost")]

    def last_callback_t(self):
        cbs = self.callbacks()
        return cbs[-1]["t"] if cbs else None

    def records(self):
        out = []
        for e in self.evs("batch"):
            out += [tuple(r) for r in e["recs"]]
        return out

    def commit_failures(self):
        return [e for e in self.evs("batch") if not e["committed"]]

    def errors(self):
        return [e for e in self.evs() if e["ev"] in ("error", "garbage")]

    def failed_recommits(self):
        return [e for e in self.evs("recommit") if not e["ok"]]

    def send(self, cmd):
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()

    def close(self, timeout=30.0):
        """Ask the member to close (dynamic members leave the group) and wait."""
        self.send("close")
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("%s did not close within %.0fs\n%s" % (self.name, timeout, self.describe()))
        self.reader.join(5)
        assert rc == 0, "%s exited with %s\n%s" % (self.name, rc, self.describe())
        assert self.evs("closed"), self.describe()
        return rc

    def kill9(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.killed = True
        self.reader.join(5)

    def stderr_tail(self, n=4000):
        self.stderr.seek(0)
        return self.stderr.read()[-n:].decode(errors="replace")

    def describe(self):
        return "worker %s (%s) rc=%s events=%s\nstderr:\n%s" % (
            self.name, self.cfg["client"], self.proc.poll(),
            [{k: v for k, v in e.items() if k != "recs"} for e in self.evs()][-30:], self.stderr_tail())

    def cleanup(self):
        if self.proc.poll() is None:
            self.kill9()
        try:
            self.stderr.close()
        except OSError:
            pass


def wait_stable(workers, partitions, timeout=30.0, quiet=1.0):
    """Wait until the members' latest assignments are disjoint, cover all
    `partitions`, each member owns at least one, and no callback fired for
    `quiet` seconds. Returns {name: owned set}. Members need .name,
    .owned(), .last_callback_t(), .proc and .describe(); one with a true
    .killed may have exited."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        owned = {w.name: w.owned() for w in workers}
        sets = list(owned.values())
        union = set().union(*sets) if sets else set()
        disjoint = sum(len(s) for s in sets) == len(union)
        ts = [w.last_callback_t() for w in workers]
        if (union == set(range(partitions)) and disjoint and all(sets) and None not in ts
                and time.monotonic() - max(ts) >= quiet):
            return owned
        for w in workers:
            if w.proc.poll() is not None and not getattr(w, "killed", False):
                raise AssertionError("worker exited early\n" + w.describe())
        last = owned
        time.sleep(0.05)
    raise AssertionError("group never became stable over %d partitions; last owned %r\n%s" % (
        partitions, last, "\n".join(w.describe() for w in workers)))


def wait_consumed(workers, expected_values, timeout=30.0):
    """Wait until the union of consumed values covers expected_values."""
    expected = set(expected_values)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {r[2] for w in workers for r in w.records()}
        if expected <= got:
            return
        time.sleep(0.05)
    got = {r[2] for w in workers for r in w.records()}
    missing = sorted(expected - got)
    raise AssertionError("%d of %d records never consumed (e.g. %r)\n%s" % (
        len(missing), len(expected), missing[:10], "\n".join(w.describe() for w in workers)))


# --------------------------------------------------------------------------
# group-member worker: child side


def _emit(ev, **kw):
    kw["ev"] = ev
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


class _Pending:
    """Offsets whose synchronous commit failed (a commit racing a rebalance:
    ILLEGAL_GENERATION / REBALANCE_IN_PROGRESS). They are committed again
    after the next poll (when the member has rejoined) or, at the latest,
    from the revoke callback of their partition - the usual
    commit-on-revoke pattern - so no processed record is handed to the next
    owner again."""

    def __init__(self):
        self.offsets = {}

    def add(self, offs):
        for p, o in offs.items():
            self.offsets[p] = max(self.offsets.get(p, -1), o)

    def take(self, parts=None):
        keys = [p for p in self.offsets if parts is None or p in parts]
        return {p: self.offsets.pop(p) for p in keys}

    def commit_on_revoke(self, commit, parts):
        offs = self.take(parts)
        if offs:
            try:
                commit(offs)
                _emit("recommit", offsets=offs, ok=True, where="revoke")
            except Exception as e:  # noqa: BLE001
                _emit("recommit", offsets=offs, ok=False, where="revoke", error=repr(e))


class _Owned:
    def __init__(self):
        self.parts = set()

    def assign(self, parts, incremental):
        parts = sorted(parts)
        if incremental:
            self.parts |= set(parts)
        else:
            self.parts = set(parts)
        _emit("assign", parts=parts, owned=sorted(self.parts))

    def revoke(self, parts, kind="revoke"):
        parts = sorted(parts)
        self.parts -= set(parts)
        _emit(kind, parts=parts, owned=sorted(self.parts))


class _KPMember:
    def __init__(self, cfg):
        from kafka import ConsumerRebalanceListener, KafkaConsumer
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
        from kafka.coordinator.assignors.range import RangePartitionAssignor
        from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
        from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

        strat = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                 "sticky": StickyPartitionAssignor, "cooperative-sticky": CooperativeStickyAssignor}
        self.cfg = cfg
        self.owned = _Owned()
        self.pending = _Pending()
        owned = self.owned
        coop = cfg["strategy"] == "cooperative-sticky"

        member = self

        class L(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                parts = [tp.partition for tp in revoked]
                member.pending.commit_on_revoke(member.commit, parts)
                owned.revoke(parts)

            def on_partitions_assigned(self, assigned):
                owned.assign([tp.partition for tp in assigned], incremental=coop)

            def on_partitions_lost(self, lost):
                owned.revoke([tp.partition for tp in lost], kind="lost")

        kw = dict(bootstrap_servers=cfg["bootstrap"], group_id=cfg["group"], client_id=cfg["client_id"],
                  enable_auto_commit=False, auto_offset_reset="earliest",
                  session_timeout_ms=cfg["session_ms"], heartbeat_interval_ms=cfg["heartbeat_ms"],
                  max_poll_records=cfg["max_poll_records"], max_poll_interval_ms=cfg["rebalance_ms"],
                  fetch_max_wait_ms=100, request_timeout_ms=30000,
                  partition_assignment_strategy=[strat[cfg["strategy"]]])
        if cfg["instance_id"]:
            kw["group_instance_id"] = cfg["instance_id"]
        kw.update(cfg.get("extra") or {})
        self.c = KafkaConsumer(**kw)
        self.c.subscribe([cfg["topic"]], listener=L())

    def poll(self):
        out = []
        batch = self.c.poll(timeout_ms=100)
        for tp in sorted(batch, key=lambda t: t.partition):
            for m in batch[tp]:
                out.append((m.partition, m.offset, m.value.decode()))
        return out

    def commit(self, next_offsets):
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata
        meta = self.cfg["commit_metadata"] or ""
        self.c.commit({TopicPartition(self.cfg["topic"], int(p)): OffsetAndMetadata(o, meta, -1)
                       for p, o in next_offsets.items()})

    def close(self):
        self.c.close(autocommit=False)


class _AIOMember:
    def __init__(self, cfg):
        import asyncio

        from aiokafka import AIOKafkaConsumer
        from aiokafka.abc import ConsumerRebalanceListener
        from aiokafka.coordinator.assignors.range import RangePartitionAssignor
        from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
        from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

        strat = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                 "sticky": StickyPartitionAssignor}
        self.cfg = cfg
        self.loop = asyncio.new_event_loop()
        owned = self.owned = _Owned()
        self.pending = _Pending()
        member = self

        class L(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                parts = [tp.partition for tp in revoked]
                offs = member.pending.take(parts)
                if offs:
                    try:
                        await member.c.commit(member._offsets(offs))
                        _emit("recommit", offsets=offs, ok=True, where="revoke")
                    except Exception as e:  # noqa: BLE001
                        _emit("recommit", offsets=offs, ok=False, where="revoke", error=repr(e))
                owned.revoke(parts)

            async def on_partitions_assigned(self, assigned):
                owned.assign([tp.partition for tp in assigned], incremental=False)

        async def mk():
            kw = dict(bootstrap_servers=cfg["bootstrap"], group_id=cfg["group"], client_id=cfg["client_id"],
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      session_timeout_ms=cfg["session_ms"], heartbeat_interval_ms=cfg["heartbeat_ms"],
                      max_poll_records=cfg["max_poll_records"], max_poll_interval_ms=cfg["rebalance_ms"],
                      rebalance_timeout_ms=cfg["rebalance_ms"], fetch_max_wait_ms=100,
                      request_timeout_ms=30000, partition_assignment_strategy=(strat[cfg["strategy"]],))
            if cfg["instance_id"]:
                kw["group_instance_id"] = cfg["instance_id"]
            kw.update(cfg.get("extra") or {})
            c = AIOKafkaConsumer(**kw)
            c.subscribe([cfg["topic"]], listener=L())
            await c.start()
            return c

        self.c = self._run(mk())

    def _run(self, coro, timeout=60):
        import asyncio
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def poll(self):
        out = []
        batch = self._run(self.c.getmany(timeout_ms=100))
        for tp in sorted(batch, key=lambda t: t.partition):
            for m in batch[tp]:
                out.append((m.partition, m.offset, m.value.decode()))
        return out

    def _offsets(self, next_offsets):
        from aiokafka import TopicPartition
        meta = self.cfg["commit_metadata"] or ""
        return {TopicPartition(self.cfg["topic"], int(p)): (o, meta) for p, o in next_offsets.items()}

    def commit(self, next_offsets):
        self._run(self.c.commit(self._offsets(next_offsets)))

    def close(self):
        self._run(self.c.stop())
        self.loop.close()


class _CKMember:
    def __init__(self, cfg):
        from confluent_kafka import Consumer
        self.cfg = cfg
        owned = self.owned = _Owned()
        self.pending = _Pending()
        coop = cfg["strategy"] == "cooperative-sticky"
        conf = {"bootstrap.servers": cfg["bootstrap"], "group.id": cfg["group"], "client.id": cfg["client_id"],
                "enable.auto.commit": False, "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest", "session.timeout.ms": cfg["session_ms"],
                "heartbeat.interval.ms": cfg["heartbeat_ms"], "max.poll.interval.ms": cfg["rebalance_ms"],
                "fetch.wait.max.ms": 100, "partition.assignment.strategy": cfg["strategy"],
                "topic.metadata.refresh.interval.ms": 2000}
        if cfg["instance_id"]:
            conf["group.instance.id"] = cfg["instance_id"]
        conf.update(cfg.get("extra") or {})
        self.c = Consumer(conf)

        def on_assign(c, parts):
            owned.assign([tp.partition for tp in parts], incremental=coop)

        def on_revoke(c, parts):
            ps = [tp.partition for tp in parts]
            self.pending.commit_on_revoke(self.commit, ps)
            owned.revoke(ps)

        def on_lost(c, parts):
            owned.revoke([tp.partition for tp in parts], kind="lost")

        self.c.subscribe([cfg["topic"]], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)

    def poll(self):
        from confluent_kafka import KafkaException
        out = []
        for m in self.c.consume(num_messages=self.cfg["max_poll_records"], timeout=0.1):
            if m.error():
                raise KafkaException(m.error())
            out.append((m.partition(), m.offset(), m.value().decode()))
        return out

    def commit(self, next_offsets):
        from confluent_kafka import TopicPartition
        meta = self.cfg["commit_metadata"]
        tps = [TopicPartition(self.cfg["topic"], int(p), o, meta) if meta else
               TopicPartition(self.cfg["topic"], int(p), o) for p, o in next_offsets.items()]
        res = self.c.commit(offsets=tps, asynchronous=False)
        bad = [tp for tp in res if tp.error is not None]
        if bad:
            raise RuntimeError("commit partition errors: %r" % bad)

    def close(self):
        self.c.close()


def worker_main(cfg):
    cmds = queue.Queue()

    def read_stdin():
        for line in sys.stdin:
            cmds.put(line.strip())
        cmds.put("eof")

    threading.Thread(target=read_stdin, daemon=True).start()
    if cfg.get("log_level"):  # client library logging to stderr (diagnostics)
        import logging
        logging.basicConfig(level=cfg["log_level"], stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    impl = {"kafka-python": _KPMember, "aiokafka": _AIOMember, "confluent-kafka": _CKMember}[cfg["client"]](cfg)
    _emit("started")
    done = 0
    deadline = time.monotonic() + cfg["max_seconds"]
    while time.monotonic() < deadline:
        try:
            cmd = cmds.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd in ("close", "eof"):
            offs = impl.pending.take()
            if offs:
                try:
                    impl.commit(offs)
                    _emit("recommit", offsets=offs, ok=True, where="close")
                except Exception as e:  # noqa: BLE001
                    _emit("recommit", offsets=offs, ok=False, where="close", error=repr(e))
            impl.close()
            _emit("closed")
            return 0
        try:
            recs = impl.poll()
        except Exception as e:  # noqa: BLE001 - reported to the parent
            _emit("error", where="poll", error=repr(e))
            time.sleep(0.2)
            continue
        if impl.pending.offsets:
            offs = impl.pending.take([p for p in impl.owned.parts])
            if offs:
                try:
                    impl.commit(offs)
                    _emit("recommit", offsets=offs, ok=True, where="poll")
                except Exception as e:  # noqa: BLE001
                    impl.pending.add(offs)
                    _emit("recommit", offsets=offs, ok=False, where="poll", error=repr(e))
        if not recs:
            continue
        if cfg.get("limit") is not None:
            recs = recs[:cfg["limit"] - done]  # the rest is not processed (nor committed)
        nxt = {}
        for p, o, _v in recs:
            nxt[p] = max(nxt.get(p, -1), o + 1)
        try:
            impl.commit(nxt)
            _emit("batch", recs=recs, committed=True)
        except Exception as e:  # noqa: BLE001
            impl.pending.add(nxt)
            _emit("batch", recs=recs, committed=False, error=repr(e))
        done += len(recs)
        if cfg.get("limit") is not None and done >= cfg["limit"]:
            impl.close()
            _emit("closed")
            return 0
    impl.close()
    _emit("deadline")
    return 3


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        sys.exit(worker_main(json.loads(sys.argv[2])))
    print("usage: groups_helpers.py worker '<json config>'", file=sys.stderr)
    sys.exit(2)


