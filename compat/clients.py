"""Uniform adapters over kafka-python, aiokafka and confluent-kafka.

Tests describe records to send as `Rec` and get back `Delivery` (per record,
in send order) and consumed records as `Got`. Consumers never join a group:
kafka-python / aiokafka use group_id=None + assign(); confluent-kafka has a
group.id string (librdkafka requires one) but only assign() with explicit
start offsets and enable.auto.commit=false.

Every wait is bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

CLIENTS = ["kafka-python", "aiokafka", "confluent-kafka"]

BIG_FETCH = 8 * 1024 * 1024


@dataclass
class Rec:
    value: bytes | None
    key: bytes | None = None
    headers: list | None = None  # [(str, bytes|None)]
    timestamp: int | None = None  # CreateTime ms
    partition: int | None = None  # None = client's partitioner


@dataclass
class Delivery:
    partition: int | None
    offset: int | None
    error: int | None = None  # Kafka error code; None = success
    error_str: str = ""


@dataclass
class Got:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list = field(default_factory=list)
    timestamp: int | None = None
    timestamp_type: str | None = None  # "create" | "append"

    def kv(self):
        return (self.key, self.value)


def _norm_headers(h):
    if not h:
        return []
    return [(k, (bytes(v) if v is not None else None)) for k, v in h]


def _acks(acks):
    if acks in ("all", -1, "-1"):
        return -1
    return int(acks)


# ===========================================================================
# producers


def produce(client: str, bootstrap: str, topic: str, recs: list[Rec], *, acks="all",
            compression=None, max_request_size=None, linger_ms=5, flush_each=False,
            timeout=60.0, extra=None) -> list[Delivery]:
    """Send recs in order with one producer; returns one Delivery per rec."""
    fn = {"kafka-python": _kp_produce, "aiokafka": _aio_produce, "confluent-kafka": _ck_produce}[client]
    return fn(bootstrap, topic, recs, acks=acks, compression=compression,
              max_request_size=max_request_size, linger_ms=linger_ms, flush_each=flush_each,
              timeout=timeout, extra=extra or {})


def _kp_produce(bootstrap, topic, recs, *, acks, compression, max_request_size, linger_ms,
                flush_each, timeout, extra):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    cfg = dict(bootstrap_servers=bootstrap, acks=_acks(acks), enable_idempotence=False,
               compression_type=compression, linger_ms=linger_ms, request_timeout_ms=30000,
               delivery_timeout_ms=max(int(timeout * 1000), 30000 + linger_ms + 1000), max_block_ms=30000)
    if max_request_size:
        cfg["max_request_size"] = max_request_size
    cfg.update(extra)
    p = KafkaProducer(**cfg)
    out = []
    try:
        futs = []
        for r in recs:
            futs.append(p.send(topic, value=r.value, key=r.key, headers=r.headers or None,
                               partition=r.partition, timestamp_ms=r.timestamp))
            if flush_each:
                p.flush(timeout=timeout)
        p.flush(timeout=timeout)
        for f in futs:
            try:
                md = f.get(timeout=timeout)
                out.append(Delivery(md.partition, md.offset))
            except KafkaError as e:
                out.append(Delivery(None, None, getattr(e, "errno", -1), repr(e)))
    finally:
        p.close(timeout=10)
    return out


def _aio_produce(bootstrap, topic, recs, *, acks, compression, max_request_size, linger_ms,
                 flush_each, timeout, extra):
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    async def run():
        cfg = dict(bootstrap_servers=bootstrap, acks=_acks(acks), compression_type=compression,
                   linger_ms=linger_ms, request_timeout_ms=30000, enable_idempotence=False)
        if max_request_size:
            cfg["max_request_size"] = max_request_size
        cfg.update(extra)
        p = AIOKafkaProducer(**cfg)
        await p.start()
        out = []
        try:
            futs = []
            for r in recs:
                fut = await p.send(topic, value=r.value, key=r.key, partition=r.partition,
                                   timestamp_ms=r.timestamp, headers=r.headers or None)
                futs.append(fut)
                if flush_each:
                    await asyncio.wait_for(p.flush(), timeout)
            await asyncio.wait_for(p.flush(), timeout)
            for f in futs:
                try:
                    md = await asyncio.wait_for(f, timeout)
                    if md is None:  # aiokafka resolves acks=0 sends with None
                        out.append(Delivery(None, None))
                    else:
                        out.append(Delivery(md.partition, md.offset))
                except KafkaError as e:
                    out.append(Delivery(None, None, getattr(e, "errno", -1), repr(e)))
        finally:
            await asyncio.wait_for(p.stop(), 30)
        return out

    return asyncio.run(run())


def ck_producer_conf(bootstrap, acks="all", compression=None, max_request_size=None, linger_ms=5,
                     timeout=60.0):
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": "all" if _acks(acks) == -1 else str(_acks(acks)),
        "compression.type": compression or "none",
        "linger.ms": linger_ms,
        "enable.idempotence": False,
        "partitioner": "murmur2_random",
        "message.timeout.ms": int(timeout * 1000),
        "socket.timeout.ms": 30000,
    }
    if max_request_size:
        conf["message.max.bytes"] = max_request_size
    return conf


def _ck_produce(bootstrap, topic, recs, *, acks, compression, max_request_size, linger_ms,
                flush_each, timeout, extra):
    from confluent_kafka import Producer

    conf = ck_producer_conf(bootstrap, acks, compression, max_request_size, linger_ms, timeout)
    conf.update(extra)
    p = Producer(conf)
    results = [None] * len(recs)

    def cb_for(i):
        def cb(err, msg):
            if err is not None:
                results[i] = Delivery(None, None, err.code(), str(err))
            else:
                results[i] = Delivery(msg.partition(), msg.offset())
        return cb

    for i, r in enumerate(recs):
        kw = dict(value=r.value, key=r.key, on_delivery=cb_for(i))
        if r.headers:
            kw["headers"] = r.headers
        if r.timestamp is not None:
            kw["timestamp"] = r.timestamp
        if r.partition is not None:
            kw["partition"] = r.partition
        deadline = time.monotonic() + timeout
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise
                p.poll(0.05)
        p.poll(0)
        if flush_each:
            p.flush(timeout)
    left = p.flush(timeout)
    assert left == 0, "confluent-kafka: %d messages still undelivered after %.0fs" % (left, timeout)
    missing = [i for i, d in enumerate(results) if d is None]
    assert not missing, "no delivery report for records %s" % missing[:10]
    return results


# ===========================================================================
# consumers (manual assignment only)


def _done(out, count, linger, deadline, box):
    """Poll-loop exit test: stop at the deadline, or `linger` seconds after
    `count` records have arrived (box[0] holds the linger end time)."""
    now = time.monotonic()
    if len(out) >= count:
        if box[0] is None:
            box[0] = now + linger
        if now >= box[0]:
            return True
    return now >= deadline


class KPConsumer:
    name = "kafka-python"

    def __init__(self, bootstrap, reset="earliest", **extra):
        from kafka import KafkaConsumer

        cfg = dict(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                   auto_offset_reset=reset, max_partition_fetch_bytes=BIG_FETCH,
                   fetch_max_bytes=4 * BIG_FETCH, fetch_max_wait_ms=200, request_timeout_ms=30000)
        cfg.update(extra)
        self.c = KafkaConsumer(**cfg)

    def _tp(self, topic, p):
        from kafka import TopicPartition
        return TopicPartition(topic, p)

    def assign(self, topic, partitions, start=None):
        self.c.assign([self._tp(topic, p) for p in partitions])
        if start is not None:
            for p in partitions:
                self.seek(topic, p, start)

    def seek(self, topic, p, offset):
        self.c.seek(self._tp(topic, p), offset)

    def seek_to_beginning(self, topic, p):
        self.c.seek_to_beginning(self._tp(topic, p))

    def seek_to_end(self, topic, p):
        self.c.seek_to_end(self._tp(topic, p))

    def position(self, topic, p, timeout=30.0):
        return self.c.position(self._tp(topic, p), timeout_ms=int(timeout * 1000))

    def poll(self, count, timeout=30.0, linger=0.0):
        out = []
        deadline = time.monotonic() + timeout
        box = [None]
        while True:
            batch = self.c.poll(timeout_ms=200)
            for tp in sorted(batch, key=lambda t: t.partition):
                for m in batch[tp]:
                    out.append(Got(m.partition, m.offset, m.key, m.value, _norm_headers(m.headers),
                                   m.timestamp, "create" if m.timestamp_type == 0 else "append"))
            if _done(out, count, linger, deadline, box):
                return out

    def close(self):
        self.c.close(autocommit=False)


class AIOConsumer:
    name = "aiokafka"

    def __init__(self, bootstrap, reset="earliest", **extra):
        from aiokafka import AIOKafkaConsumer

        self.loop = asyncio.new_event_loop()

        async def mk():
            cfg = dict(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                       auto_offset_reset=reset, max_partition_fetch_bytes=BIG_FETCH,
                       fetch_max_bytes=4 * BIG_FETCH, fetch_max_wait_ms=200, request_timeout_ms=30000)
            cfg.update(extra)
            c = AIOKafkaConsumer(**cfg)
            await c.start()
            return c

        self.c = self._run(mk(), 60)

    def _run(self, coro, timeout):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def _tp(self, topic, p):
        from aiokafka import TopicPartition
        return TopicPartition(topic, p)

    def _call(self, fn, *args):
        """Run a synchronous aiokafka method inside the loop (it creates futures)."""
        async def call():
            return fn(*args)
        return self._run(call(), 30)

    def assign(self, topic, partitions, start=None):
        self._call(self.c.assign, [self._tp(topic, p) for p in partitions])
        if start is not None:
            for p in partitions:
                self.seek(topic, p, start)

    def seek(self, topic, p, offset):
        self._call(self.c.seek, self._tp(topic, p), offset)

    def seek_to_beginning(self, topic, p):
        self._run(self.c.seek_to_beginning(self._tp(topic, p)), 30)

    def seek_to_end(self, topic, p):
        self._run(self.c.seek_to_end(self._tp(topic, p)), 30)

    def position(self, topic, p, timeout=30.0):
        return self._run(self.c.position(self._tp(topic, p)), timeout)

    def poll(self, count, timeout=30.0, linger=0.0):
        out = []

        async def run():
            deadline = time.monotonic() + timeout
            box = [None]
            while True:
                batch = await self.c.getmany(timeout_ms=200)
                for tp in sorted(batch, key=lambda t: t.partition):
                    for m in batch[tp]:
                        out.append(Got(m.partition, m.offset, m.key, m.value, _norm_headers(m.headers),
                                       m.timestamp, "create" if m.timestamp_type == 0 else "append"))
                if _done(out, count, linger, deadline, box):
                    return

        self._run(run(), timeout + linger + 30)
        return out

    def close(self):
        try:
            self._run(self.c.stop(), 30)
        finally:
            self.loop.close()


class CKConsumer:
    """confluent-kafka consumer. Start offsets must be explicit (an int or
    "beginning"/"end"): assign() without an offset would ask the group
    coordinator for a committed offset."""

    name = "confluent-kafka"

    def __init__(self, bootstrap, reset="earliest", **extra):
        from confluent_kafka import Consumer

        self.stats = {}
        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": "compat-" + uuid.uuid4().hex[:12],
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": reset,
            "max.partition.fetch.bytes": BIG_FETCH,
            "fetch.wait.max.ms": 200,
            "statistics.interval.ms": 200,
            "stats_cb": self._on_stats,
            "socket.timeout.ms": 30000,
        }
        conf.update(extra)
        self.c = Consumer(conf)

    def _on_stats(self, raw):
        try:
            self.stats = json.loads(raw)
        except ValueError:
            pass

    @staticmethod
    def _off(start):
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END
        if start == "beginning":
            return OFFSET_BEGINNING
        if start == "end":
            return OFFSET_END
        return int(start)

    def assign(self, topic, partitions, start=None):
        from confluent_kafka import TopicPartition
        if start is None:
            raise ValueError("confluent-kafka adapter needs an explicit start offset "
                             "(no committed offsets without group support)")
        self.c.assign([TopicPartition(topic, p, self._off(start)) for p in partitions])

    def seek(self, topic, p, offset):
        from confluent_kafka import TopicPartition
        self.c.seek(TopicPartition(topic, p, self._off(offset)))

    def seek_to_beginning(self, topic, p):
        self.seek(topic, p, "beginning")

    def seek_to_end(self, topic, p):
        self.seek(topic, p, "end")

    def fetch_state(self, topic, p):
        part = self.stats.get("topics", {}).get(topic, {}).get("partitions", {}).get(str(p), {})
        return part.get("fetch_state"), part.get("next_offset")

    def wait_fetch_position(self, topic, p, expected, timeout=30.0):
        """Poll (consuming nothing is expected) until librdkafka's statistics
        show the partition actively fetching at `expected`. Returns whatever
        records arrived meanwhile (tests assert it is empty)."""
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got += self._consume_once(0.1)
            state, nxt = self.fetch_state(topic, p)
            if state == "active" and nxt == expected:
                return got
        raise AssertionError("confluent-kafka fetcher for %s[%d] never reached offset %d "
                             "(last state %r)" % (topic, p, expected, self.fetch_state(topic, p)))

    def position(self, topic, p, timeout=30.0):
        from confluent_kafka import TopicPartition
        return self.c.position([TopicPartition(topic, p)])[0].offset

    def _consume_once(self, t):
        from confluent_kafka import KafkaException
        out = []
        for m in self.c.consume(num_messages=1000, timeout=t):
            if m.error():
                raise KafkaException(m.error())
            ts_type, ts = m.timestamp()
            out.append(Got(m.partition(), m.offset(), m.key(), m.value(), _norm_headers(m.headers()),
                           ts, {1: "create", 2: "append"}.get(ts_type)))
        return out

    def poll(self, count, timeout=30.0, linger=0.0):
        out = []
        deadline = time.monotonic() + timeout
        box = [None]
        while True:
            out += self._consume_once(0.2)
            if _done(out, count, linger, deadline, box):
                return out

    def close(self):
        self.c.close()


CONSUMERS = {"kafka-python": KPConsumer, "aiokafka": AIOConsumer, "confluent-kafka": CKConsumer}


def open_consumer(client, bootstrap, reset="earliest", **extra):
    return CONSUMERS[client](bootstrap, reset=reset, **extra)


def consume(client, bootstrap, topic, count, partitions=(0,), start=0, timeout=60.0, linger=0.5):
    """Consume from explicit start offset until `count` records arrived (or
    the deadline), then keep polling `linger` seconds to catch extras."""
    c = open_consumer(client, bootstrap)
    try:
        c.assign(topic, list(partitions), start=start)
        return c.poll(count, timeout=timeout, linger=linger)
    finally:
        c.close()


# ===========================================================================
# admin


def create_topic(bootstrap, name, partitions=1, configs=None, client="kafka-python", timeout=30.0):
    """Create a topic and wait until metadata shows all its partitions with a
    leader. Raises on any error."""
    if client == "kafka-python":
        from kafka import KafkaAdminClient
        a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            res = a.create_topics({name: {"num_partitions": partitions, "replication_factor": 1,
                                          "configs": configs or {}}}, raise_errors=False)
            errs = {t["name"]: t["error_code"] for t in res["topics"]}
            assert errs == {name: 0}, "CreateTopics %s failed: %r" % (name, res)
        finally:
            a.close()
    elif client == "confluent-kafka":
        from confluent_kafka.admin import AdminClient, NewTopic
        a = AdminClient({"bootstrap.servers": bootstrap})
        fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                       config=configs or {})], operation_timeout=timeout)
        fs[name].result(timeout)
    elif client == "aiokafka":
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        async def run():
            a = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            await a.start()
            try:
                resp = await a.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
                errs = [(t[0], t[1]) for t in resp.topic_errors]
                assert errs == [(name, 0)], "CreateTopics %s failed: %r" % (name, resp)
            finally:
                await a.close()

        asyncio.run(asyncio.wait_for(run(), timeout + 30))
    else:
        raise ValueError(client)
    wait_topic(bootstrap, name, partitions, timeout)


def topic_partitions(bootstrap, name, timeout=10.0):
    """{partition: leader} for `name` from an all-topics Metadata request
    (which never auto-creates), or None if the topic is not listed."""
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": bootstrap})
    md = a.list_topics(timeout=timeout)
    t = md.topics.get(name)
    if t is None:
        return None
    if t.error is not None:
        return {"error": t.error.code()}
    return {p.id: p.leader for p in t.partitions.values()}


def list_topic_names(bootstrap, timeout=10.0):
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": bootstrap})
    return set(a.list_topics(timeout=timeout).topics)


def wait_topic(bootstrap, name, partitions, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = topic_partitions(bootstrap, name)
        if last == {p: 1 for p in range(partitions)}:
            return
        time.sleep(0.1)
    raise AssertionError("topic %s never showed %d partitions led by node 1: %r" % (name, partitions, last))


def end_offset(bootstrap, topic, partition=0, timeout=10.0):
    """High watermark via confluent-kafka (ListOffsets latest)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-wm-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout, cached=False)
        return lo, hi
    finally:
        c.close()
