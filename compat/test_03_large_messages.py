"""3. A 1,000,000-byte value round trip; records over the broker's or the
topic's max.message.bytes are rejected with MESSAGE_TOO_LARGE (10)."""

import random

import pytest

from clients import CLIENTS, Rec, consume, create_topic, end_offset, produce

MESSAGE_TOO_LARGE = 10
CLIENT_LIMIT = 2_000_000  # client-side limits raised so only the broker can refuse


@pytest.mark.parametrize("producer", CLIENTS)
def test_1mb_value_roundtrip(broker, topic, producer):
    create_topic(broker.bootstrap, topic, 1)
    big = random.Random(producer).randbytes(1_000_000)
    recs = [Rec(key=b"big", value=big, partition=0), Rec(key=b"after", value=b"small", partition=0)]
    dels = produce(producer, broker.bootstrap, topic, recs, max_request_size=CLIENT_LIMIT, linger_ms=0,
                   flush_each=True)
    assert [(d.error, d.offset) for d in dels] == [(None, 0), (None, 1)]
    for consumer in CLIENTS:
        got = consume(consumer, broker.bootstrap, topic, 2, linger=0.3)
        assert [g.offset for g in got] == [0, 1], consumer
        assert got[0].key == b"big" and len(got[0].value) == 1_000_000 and got[0].value == big, consumer
        assert (got[1].key, got[1].value) == (b"after", b"small"), consumer


@pytest.mark.parametrize("producer", CLIENTS)
def test_over_topic_max_message_bytes_rejected(broker, topic, producer):
    create_topic(broker.bootstrap, topic, 1, configs={"max.message.bytes": "2000"})
    dels = produce(producer, broker.bootstrap, topic,
                   [Rec(key=b"k", value=b"x" * 5000, partition=0)],
                   max_request_size=CLIENT_LIMIT, linger_ms=0, timeout=30)
    assert len(dels) == 1
    if producer == "confluent-kafka":
        from confluent_kafka import KafkaError
        assert dels[0].error == KafkaError.MSG_SIZE_TOO_LARGE, dels[0]
    assert dels[0].error == MESSAGE_TOO_LARGE, dels[0]
    # nothing was appended: the next (small) record gets offset 0
    assert end_offset(broker.bootstrap, topic) == (0, 0)
    ok = produce(producer, broker.bootstrap, topic, [Rec(key=b"k", value=b"y" * 100, partition=0)])
    assert [(d.error, d.offset) for d in ok] == [(None, 0)]
    got = consume("kafka-python", broker.bootstrap, topic, 1)
    assert [(g.offset, g.value) for g in got] == [(0, b"y" * 100)]


@pytest.mark.parametrize("producer", CLIENTS)
def test_over_broker_default_limit_rejected(broker, topic, producer):
    """Default message.max.bytes is 1048588: a 1,100,000-byte record is refused."""
    create_topic(broker.bootstrap, topic, 1)
    dels = produce(producer, broker.bootstrap, topic,
                   [Rec(key=b"k", value=b"z" * 1_100_000, partition=0)],
                   max_request_size=CLIENT_LIMIT, linger_ms=0, timeout=30)
    assert [d.error for d in dels] == [MESSAGE_TOO_LARGE], dels
    assert end_offset(broker.bootstrap, topic) == (0, 0)
