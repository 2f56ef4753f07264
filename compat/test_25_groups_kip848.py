"""KIP-848 consumer groups (group.protocol=consumer) with confluent-kafka
(librdkafka 2.16): the broker assigns with its "uniform" assignor, members
reconcile through ConsumerGroupHeartbeat, offsets commit with member epochs.
"""

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 4


def make_topic(bootstrap, name):
    a = AdminClient({"bootstrap.servers": bootstrap})
    for f in a.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)]).values():
        f.result(15)
    return a


def produce(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False})
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i % PARTITIONS)
    assert p.flush(20) == 0


def consumer(bootstrap, group, topic, client_id):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "client.id": client_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    c.subscribe([topic])
    return c


def assigned(c):
    return sorted(tp.partition for tp in c.assignment())


def drain(c, want, deadline_s=30):
    got = []
    end = time.monotonic() + deadline_s
    while len(got) < want and time.monotonic() < end:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append(m.value())
    return got


def test_two_members_split_the_partitions_and_resume_from_commits(broker, topic):
    admin = make_topic(broker.bootstrap, topic)
    group = "kip848-" + topic
    first = [b"a%03d" % i for i in range(100)]
    produce(broker.bootstrap, topic, first)

    c1 = consumer(broker.bootstrap, group, topic, "m1")
    try:
        assert sorted(drain(c1, 100)) == sorted(first)
        assert assigned(c1) == [0, 1, 2, 3]
        c1.commit(asynchronous=False)

        c2 = consumer(broker.bootstrap, group, topic, "m2")
        try:
            end = time.monotonic() + 40
            a1, a2 = assigned(c1), assigned(c2)
            while time.monotonic() < end and not (a1 and a2 and len(a1) + len(a2) == PARTITIONS):
                c1.poll(0.2)
                c2.poll(0.2)
                a1, a2 = assigned(c1), assigned(c2)
            assert set(a1).isdisjoint(a2), (a1, a2)
            assert sorted(a1 + a2) == [0, 1, 2, 3]
            assert (len(a1), len(a2)) == (2, 2)

            d = admin.describe_consumer_groups([group])[group].result(15)
            assert d.state.name == "STABLE"
            assert d.partition_assignor == "uniform"
            members = sorted((m.client_id, m.host, sorted(tp.partition for tp in m.assignment.topic_partitions)) for m in d.members)
            assert members == [("m1", "/127.0.0.1", a1), ("m2", "/127.0.0.1", a2)]
        finally:
            c2.close()

        # m2 left: m1 gets every partition back.
        end = time.monotonic() + 40
        while time.monotonic() < end and assigned(c1) != [0, 1, 2, 3]:
            c1.poll(0.2)
        assert assigned(c1) == [0, 1, 2, 3]
    finally:
        c1.close()

    # A new member resumes exactly after the committed offsets.
    second = [b"b%03d" % i for i in range(20)]
    produce(broker.bootstrap, topic, second)
    c3 = consumer(broker.bootstrap, group, topic, "m3")
    try:
        got = drain(c3, 20)
        assert sorted(got) == sorted(second)
        assert c3.poll(2.0) is None, "nothing before the commit is delivered again"
        committed = c3.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=15)
        assert [tp.offset for tp in committed] == [25, 25, 25, 25]
    finally:
        c3.close()


def test_a_classic_member_cannot_join_a_consumer_protocol_group(broker, topic):
    make_topic(broker.bootstrap, topic)
    group = "kip848-mixed-" + topic
    c1 = consumer(broker.bootstrap, group, topic, "new-protocol")
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and not assigned(c1):
            c1.poll(0.2)
        assert assigned(c1) == [0, 1, 2, 3]
        classic = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "session.timeout.ms": 6000})
        classic.subscribe([topic])
        err = None
        end = time.monotonic() + 20
        while time.monotonic() < end and err is None:
            m = classic.poll(0.5)
            if m is not None and m.error() is not None:
                err = m.error()
        classic.close()
        assert err is not None and err.code() == KafkaError.INCONSISTENT_GROUP_PROTOCOL, err
    finally:
        c1.close()
