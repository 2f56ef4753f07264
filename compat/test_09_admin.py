"""9. Admin APIs through every client: CreateTopics (partitions + configs),
TOPIC_ALREADY_EXISTS (36), validate_only, DeleteTopics of an unknown topic
(UNKNOWN_TOPIC_OR_PARTITION, 3), delete removes the topic from metadata,
DescribeCluster, and topic auto-creation on produce (on by default, off
with --auto-create-topics-enable false)."""

import asyncio
import time

import pytest

import kafka_raw
from clients import Rec, consume, create_topic, list_topic_names, produce, topic_partitions, wait_topic
from helpers import uid

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
LEADER_NOT_AVAILABLE = 5
TOPIC_ALREADY_EXISTS = 36

CONFIGS = {"retention.ms": "3600000", "max.message.bytes": "200000", "cleanup.policy": "delete"}


def uname(tag):
    return uid("compat-" + tag)


# ---------------------------------------------------------------------------
# one small admin facade per client: each call returns a Kafka error code


class KPAdmin:
    def __init__(self, bootstrap):
        from kafka import KafkaAdminClient
        self.a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)

    def create(self, name, partitions, configs=None, validate_only=False):
        res = self.a.create_topics({name: {"num_partitions": partitions, "replication_factor": 1,
                                           "configs": configs or {}}},
                                   validate_only=validate_only, raise_errors=False)
        [t] = res["topics"]
        assert t["name"] == name
        return t["error_code"]

    def delete(self, name):
        res = self.a.delete_topics([name], raise_errors=False)
        [t] = res["topics"]
        assert t["name"] == name
        return t["error_code"]

    def partitions(self, name):
        [t] = self.a.describe_topics([name])
        assert t["error_code"] == 0, t
        return {p["partition_index"]: p["leader_id"] for p in t["partitions"]}

    def names(self):
        return set(self.a.list_topics())

    def close(self):
        self.a.close()


class AIOAdmin:
    def __init__(self, bootstrap):
        from aiokafka.admin import AIOKafkaAdminClient
        self.loop = asyncio.new_event_loop()

        async def mk():
            a = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            await a.start()
            return a

        self.a = self._run(mk())

    def _run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, 60))

    def create(self, name, partitions, configs=None, validate_only=False):
        from aiokafka.admin import NewTopic
        resp = self._run(self.a.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})],
                                              validate_only=validate_only))
        [t] = resp.topic_errors
        assert t[0] == name
        return t[1]

    def delete(self, name):
        resp = self._run(self.a.delete_topics([name]))
        [t] = resp.topic_error_codes
        assert t[0] == name
        return t[1]

    def partitions(self, name):
        [t] = self._run(self.a.describe_topics([name]))
        assert t["error_code"] == 0, t
        return {p["partition"]: p["leader"] for p in t["partitions"]}

    def names(self):
        return set(self._run(self.a.list_topics()))

    def close(self):
        try:
            self._run(self.a.close())
        finally:
            self.loop.close()


class CKAdmin:
    def __init__(self, bootstrap):
        from confluent_kafka.admin import AdminClient
        self.a = AdminClient({"bootstrap.servers": bootstrap})

    @staticmethod
    def _code(fut):
        from confluent_kafka import KafkaException
        try:
            fut.result(60)
            return 0
        except KafkaException as e:
            return e.args[0].code()

    def create(self, name, partitions, configs=None, validate_only=False):
        from confluent_kafka.admin import NewTopic
        fs = self.a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                            config=configs or {})],
                                  validate_only=validate_only, operation_timeout=30, request_timeout=60)
        return self._code(fs[name])

    def delete(self, name):
        fs = self.a.delete_topics([name], operation_timeout=30, request_timeout=60)
        return self._code(fs[name])

    def partitions(self, name):
        t = self.a.list_topics(name, timeout=30).topics[name]
        assert t.error is None, t.error
        return {p.id: p.leader for p in t.partitions.values()}

    def names(self):
        return set(self.a.list_topics(timeout=30).topics)

    def close(self):
        pass


ADMINS = {"kafka-python": KPAdmin, "aiokafka": AIOAdmin, "confluent-kafka": CKAdmin}


@pytest.fixture(params=list(ADMINS))
def admin(request, broker):
    a = ADMINS[request.param](broker.bootstrap)
    yield a
    a.close()


def wait_gone(admin, bootstrap, name, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name not in admin.names() and name not in list_topic_names(bootstrap):
            return
        time.sleep(0.1)
    raise AssertionError("topic %s still listed %.0fs after delete" % (name, timeout))


def test_create_with_partitions_and_configs(broker, admin):
    name = uname("create")
    assert admin.create(name, 3, CONFIGS) == NONE
    wait_topic(broker.bootstrap, name, 3)
    assert admin.partitions(name) == {0: 1, 1: 1, 2: 1}
    assert name in admin.names()
    # usable: every partition accepts and serves a record
    recs = [Rec(key=b"p%d" % p, value=b"hello %d" % p, partition=p) for p in range(3)]
    dels = produce("confluent-kafka", broker.bootstrap, name, recs)
    assert [(d.error, d.partition, d.offset) for d in dels] == [(None, 0, 0), (None, 1, 0), (None, 2, 0)]
    got = consume("kafka-python", broker.bootstrap, name, 3, partitions=[0, 1, 2])
    assert sorted((g.partition, g.offset, g.value) for g in got) == \
        [(0, 0, b"hello 0"), (1, 0, b"hello 1"), (2, 0, b"hello 2")]


def test_create_duplicate(broker, admin):
    name = uname("dup")
    assert admin.create(name, 2) == NONE
    wait_topic(broker.bootstrap, name, 2)
    assert admin.create(name, 2) == TOPIC_ALREADY_EXISTS
    assert admin.create(name, 5) == TOPIC_ALREADY_EXISTS
    assert admin.partitions(name) == {0: 1, 1: 1}  # unchanged


def test_create_validate_only(broker, admin):
    name = uname("validate")
    assert admin.create(name, 4, CONFIGS, validate_only=True) == NONE
    time.sleep(0.5)
    assert name not in admin.names()
    assert name not in list_topic_names(broker.bootstrap)
    # really created afterwards: no TOPIC_ALREADY_EXISTS
    assert admin.create(name, 4) == NONE
    wait_topic(broker.bootstrap, name, 4)


def test_delete_unknown(broker, admin):
    assert admin.delete(uname("never-existed")) == UNKNOWN_TOPIC_OR_PARTITION


def test_delete(broker, admin):
    name = uname("delete")
    keep = uname("keep")
    assert admin.create(name, 2) == NONE
    assert admin.create(keep, 1) == NONE
    wait_topic(broker.bootstrap, name, 2)
    wait_topic(broker.bootstrap, keep, 1)
    dels = produce("confluent-kafka", broker.bootstrap, name, [Rec(value=b"doomed", partition=0)])
    assert dels[0].error is None
    assert admin.delete(name) == NONE
    wait_gone(admin, broker.bootstrap, name)
    assert keep in admin.names()
    assert admin.delete(name) == UNKNOWN_TOPIC_OR_PARTITION


def test_describe_cluster(broker):
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    desc = a.describe_cluster(request_timeout=30).result(30)
    assert [(n.id, n.host, n.port) for n in desc.nodes] == [(1, "127.0.0.1", broker.port)]
    assert desc.controller is not None
    assert desc.controller.id == 1
    md = a.list_topics(timeout=30)
    assert [(b.id, b.host, b.port) for b in md.brokers.values()] == [(1, "127.0.0.1", broker.port)]
    assert md.controller_id == 1


@pytest.mark.parametrize("version", [4, 12])
def test_metadata_raw_no_topics(broker, version):
    """Metadata for an empty topic list (brokers only): one broker
    (1, 127.0.0.1, port), controller 1, no topics."""
    with kafka_raw.Conn(broker.bootstrap) as c:
        corr = c.corr()
        if version == 4:
            md = kafka_raw.parse_metadata_v4(c.request(kafka_raw.metadata_request_v4([], False, corr), corr))
        else:
            md = kafka_raw.parse_metadata_v12(
                c.request(kafka_raw.metadata_request_v12([], False, corr), corr, flexible_response_header=True))
    assert md["leftover"] == 0
    assert [(b["node_id"], b["host"], b["port"]) for b in md["brokers"]] == [(1, "127.0.0.1", broker.port)]
    assert md["controller_id"] == 1
    assert md["topics"] == []


@pytest.mark.parametrize("version", [4, 12])
def test_metadata_raw_all_topics(broker, version):
    """Metadata with a null topics array (all topics), as admin clients and
    librdkafka's list_topics() send it, in the classic (v4) and the flexible
    (v12) encoding: the broker answers and lists the existing topics."""
    names = [uname("all%d-%d" % (version, i)) for i in range(2)]
    for n in names:
        create_topic(broker.bootstrap, n, 2)
    with kafka_raw.Conn(broker.bootstrap) as c:
        corr = c.corr()
        if version == 4:
            md = kafka_raw.parse_metadata_v4(
                c.request(kafka_raw.metadata_request_v4(None, False, corr), corr))
        else:
            md = kafka_raw.parse_metadata_v12(
                c.request(kafka_raw.metadata_request_v12(None, False, corr), corr, flexible_response_header=True))
    assert md["leftover"] == 0
    assert [(b["node_id"], b["host"], b["port"]) for b in md["brokers"]] == [(1, "127.0.0.1", broker.port)]
    assert md["controller_id"] == 1
    listed = {t["name"]: t for t in md["topics"]}
    for n in names:
        assert n in listed, "topic %s missing from all-topics metadata" % n
        t = listed[n]
        assert t["error_code"] == 0
        assert [(p["partition_index"], p["leader_id"], p["error_code"]) for p in t["partitions"]] == \
            [(0, 1, 0), (1, 1, 0)]


# ---------------------------------------------------------------------------
# auto-creation


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka", "confluent-kafka"])
def test_auto_create_on_produce(broker, client):
    name = uname("auto")
    assert name not in list_topic_names(broker.bootstrap)
    dels = produce(client, broker.bootstrap, name, [Rec(key=b"k", value=b"auto-created")])
    assert [(d.error, d.partition, d.offset) for d in dels] == [(None, 0, 0)]
    assert topic_partitions(broker.bootstrap, name) == {0: 1}  # --num-partitions default 1
    got = consume("confluent-kafka", broker.bootstrap, name, 1)
    assert [(g.offset, g.key, g.value) for g in got] == [(0, b"k", b"auto-created")]


def test_auto_create_via_metadata_request(broker):
    name = uname("automd")
    with kafka_raw.Conn(broker.bootstrap) as c:
        corr = c.corr()
        md = kafka_raw.parse_metadata_v4(c.request(kafka_raw.metadata_request_v4([name], True, corr), corr))
    [t] = md["topics"]
    assert t["name"] == name
    # Kafka answers the creating request with NONE or LEADER_NOT_AVAILABLE
    assert t["error_code"] in (NONE, LEADER_NOT_AVAILABLE)
    wait_topic(broker.bootstrap, name, 1)


def test_num_partitions_flag(broker_factory):
    b = broker_factory("--num-partitions", "4")
    name = uname("auto4")
    dels = produce("confluent-kafka", b.bootstrap, name, [Rec(key=b"k%d" % i, value=b"v") for i in range(20)])
    assert all(d.error is None for d in dels)
    assert topic_partitions(b.bootstrap, name) == {0: 1, 1: 1, 2: 1, 3: 1}


def test_auto_create_disabled(broker_factory):
    from confluent_kafka import KafkaError
    b = broker_factory("--auto-create-topics-enable", "false")
    name = uname("noauto")

    # librdkafka: after topic.metadata.propagation.max.ms the queued message
    # fails with the broker's UNKNOWN_TOPIC_OR_PART
    dels = produce("confluent-kafka", b.bootstrap, name, [Rec(key=b"k", value=b"v")], timeout=30,
                   extra={"topic.metadata.propagation.max.ms": 1000})
    assert [d.error for d in dels] == [KafkaError.UNKNOWN_TOPIC_OR_PART]
    assert KafkaError.UNKNOWN_TOPIC_OR_PART == UNKNOWN_TOPIC_OR_PARTITION

    with kafka_raw.Conn(b.bootstrap) as c:
        corr = c.corr()
        md = kafka_raw.parse_metadata_v4(c.request(kafka_raw.metadata_request_v4([name], True, corr), corr))
        assert [(t["name"], t["error_code"]) for t in md["topics"]] == [(name, UNKNOWN_TOPIC_OR_PARTITION)]
        batch = kafka_raw.record_batch([kafka_raw.RawRecord(b"k", b"v")])
        corr = c.corr()
        res, _, left = kafka_raw.parse_produce_v3(c.request(kafka_raw.produce_request_v3(name, 0, batch, corr), corr))
        assert left == 0
        assert res[(name, 0)][0] == UNKNOWN_TOPIC_OR_PARTITION
    time.sleep(0.5)
    assert name not in list_topic_names(b.bootstrap)

    # explicit creation still works on that broker
    a = KPAdmin(b.bootstrap)
    try:
        assert a.create(name, 1) == NONE
    finally:
        a.close()
    wait_topic(b.bootstrap, name, 1)
    dels = produce("confluent-kafka", b.bootstrap, name, [Rec(key=b"k", value=b"v")])
    assert [(d.error, d.offset) for d in dels] == [(None, 0)]
