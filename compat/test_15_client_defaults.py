"""Producers with each client's *default* configuration (beyond the numbered
list of the brief, which pins enable_idempotence=False everywhere else):

  * kafka-python 3.x defaults to enable_idempotence=True, acks=all: it sends
    InitProducerId and batches with a producer id / sequence numbers
  * confluent-kafka with enable.idempotence=true (librdkafka's idempotent
    producer, as many applications configure it)
  * aiokafka defaults (acks=1, no idempotence)
"""

import pytest

from clients import Rec, consume, create_topic

COUNT = 500


def recs():
    return [Rec(key=b"k%d" % i, value=b"default-%d" % i, partition=0) for i in range(COUNT)]


def check(broker, topic, offsets):
    assert offsets == list(range(COUNT))
    got = consume("confluent-kafka", broker.bootstrap, topic, COUNT, linger=0.5)
    assert [g.offset for g in got] == list(range(COUNT))
    assert [g.value for g in got] == [r.value for r in recs()]


def test_kafka_python_default_idempotent(broker, topic):
    from kafka import KafkaProducer
    create_topic(broker.bootstrap, topic, 1)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)  # all defaults
    try:
        assert p.config["enable_idempotence"] is True
        futs = [p.send(topic, key=r.key, value=r.value, partition=0) for r in recs()]
        p.flush(60)
        offsets = [f.get(60).offset for f in futs]
    finally:
        p.close(10)
    check(broker, topic, offsets)


def test_confluent_idempotent(broker, topic):
    from confluent_kafka import Producer
    create_topic(broker.bootstrap, topic, 1)
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    results = {}

    def cb(err, msg):
        results[msg.value()] = (err, msg.offset())

    for r in recs():
        p.produce(topic, key=r.key, value=r.value, partition=0, on_delivery=cb)
        p.poll(0)
    assert p.flush(60) == 0
    assert [results[r.value][0] for r in recs()] == [None] * COUNT
    check(broker, topic, [results[r.value][1] for r in recs()])


def test_aiokafka_defaults(broker, topic):
    import asyncio
    from aiokafka import AIOKafkaProducer
    create_topic(broker.bootstrap, topic, 1)

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await p.start()
        try:
            futs = [await p.send(topic, key=r.key, value=r.value, partition=0) for r in recs()]
            await p.flush()
            return [(await f).offset for f in futs]
        finally:
            await p.stop()

    check(broker, topic, asyncio.run(asyncio.wait_for(run(), 120)))


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_idempotent_producers_do_not_share_sequences(broker, topic, client):
    """Two idempotent producers in turn on one partition: each gets its own
    producer id, and all records land once, in order."""
    create_topic(broker.bootstrap, topic, 1)
    offsets = []
    for round_ in range(2):
        if client == "kafka-python":
            from kafka import KafkaProducer
            p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True)
            futs = [p.send(topic, value=b"r%d-%d" % (round_, i), partition=0) for i in range(50)]
            p.flush(60)
            offsets += [f.get(60).offset for f in futs]
            p.close(10)
        else:
            from confluent_kafka import Producer
            p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
            res = []
            for i in range(50):
                p.produce(topic, value=b"r%d-%d" % (round_, i), partition=0,
                          on_delivery=lambda err, msg: res.append((err, msg.offset())))
            assert p.flush(60) == 0
            assert all(e is None for e, _ in res)
            offsets += [o for _, o in res]
    assert offsets == list(range(100))
    got = consume("kafka-python", broker.bootstrap, topic, 100, linger=0.5)
    assert [g.value for g in got] == [b"r%d-%d" % (r, i) for r in range(2) for i in range(50)]
