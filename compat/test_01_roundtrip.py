"""1. Round trip of record edge cases between every producer/consumer pair.

Asserts per record: offset, key, value, headers (order and duplicates kept),
CreateTime timestamp, and that nothing extra arrives.
"""

import pytest

from clients import CLIENTS, Rec, consume, create_topic, produce

T0 = 1_700_000_000_000

BIN = bytes(range(256))


def records(producer):
    recs = [
        Rec(key=b"k1", value=b"v1", timestamp=T0),
        Rec(key=None, value=b"null key", timestamp=T0 + 1),
        Rec(key=b"tombstone", value=None, timestamp=T0 + 2),
        Rec(key=b"", value=b"", timestamp=T0 + 3),
        Rec(key=b"", value=None, timestamp=T0 + 4),
        Rec(key=None, value=b"", timestamp=T0 + 5),
        Rec(key=b"hdr", value=b"headers", timestamp=T0 + 6, headers=[
            ("dup", b"first"), ("other", b"x"), ("dup", b"second"), ("bin", BIN),
            ("empty", b""), ("\u00fcnic\u00f8de-\u043a\u043b\u044e\u0447", b"\xf0\x9f\x90\x9b"), ("dup", b"third"),
        ]),
        Rec(key=BIN, value=BIN * 40, timestamp=T0 + 7),
        # timestamps need not be monotonic inside a batch
        Rec(key=b"old", value=b"2001", timestamp=1_000_000_000_000),
        # (1 ms, not 0: librdkafka treats timestamp 0 as "now")
        Rec(key=b"epoch", value=b"one ms", timestamp=1),
        Rec(key=b"late", value=b"v", timestamp=T0 + 10_000_000),
    ]
    if producer != "kafka-python":
        # kafka-python's producer refuses None header values; the others send
        # a header value of length -1.
        recs.append(Rec(key=b"nullhdr", value=b"n", timestamp=T0 + 8,
                        headers=[("a", None), ("b", b"B"), ("a", None), ("c", b"")]))
    return recs


@pytest.mark.parametrize("consumer", CLIENTS)
@pytest.mark.parametrize("producer", CLIENTS)
def test_roundtrip(broker, topic, producer, consumer):
    create_topic(broker.bootstrap, topic, 1)
    recs = records(producer)
    for r in recs:
        r.partition = 0
    dels = produce(producer, broker.bootstrap, topic, recs)
    assert [(d.error, d.partition, d.offset) for d in dels] == [(None, 0, i) for i in range(len(recs))]

    got = consume(consumer, broker.bootstrap, topic, len(recs))
    assert [g.offset for g in got] == list(range(len(recs)))
    assert [g.partition for g in got] == [0] * len(recs)
    for g, r in zip(got, recs):
        assert g.key == r.key, "offset %d key" % g.offset
        assert g.value == r.value, "offset %d value" % g.offset
        assert g.headers == (r.headers or []), "offset %d headers" % g.offset
        assert g.timestamp == r.timestamp, "offset %d timestamp" % g.offset
        assert g.timestamp_type == "create", "offset %d timestamp type" % g.offset


@pytest.mark.parametrize("producer", CLIENTS)
def test_roundtrip_one_batch_per_record(broker, topic, producer):
    """Same records, each flushed alone (one RecordBatch per record): offsets
    continue across batches."""
    create_topic(broker.bootstrap, topic, 1)
    recs = records(producer)
    for r in recs:
        r.partition = 0
    dels = produce(producer, broker.bootstrap, topic, recs, flush_each=True)
    assert [(d.error, d.offset) for d in dels] == [(None, i) for i in range(len(recs))]
    dels2 = produce(producer, broker.bootstrap, topic, recs[:3], flush_each=True)
    n = len(recs)
    assert [(d.error, d.offset) for d in dels2] == [(None, n), (None, n + 1), (None, n + 2)]
    got = consume("confluent-kafka", broker.bootstrap, topic, n + 3)
    assert [g.offset for g in got] == list(range(n + 3))
    assert [(g.key, g.value, g.headers, g.timestamp) for g in got] == \
        [(r.key, r.value, r.headers or [], r.timestamp) for r in recs + recs[:3]]
