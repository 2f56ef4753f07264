"""1. Round trip of record edge cases between every producer/consumer pair.

Asserts per record: offset, key, value, headers (order and duplicates kept),
CreateTime timestamp, and that nothing extra arrives.
"""

import pytest

from clients import CLIENTS, consume, create_topic, produce
from record_sets import records



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
