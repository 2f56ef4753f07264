"""6. 10,000 records to one partition are consumed in exact order with
offsets 0..9999 (each client produces and consumes its own topic)."""

import pytest

from clients import CLIENTS, Rec, consume, create_topic, produce

COUNT = 10_000


@pytest.mark.parametrize("client", CLIENTS)
def test_10k_in_order(broker, topic, client):
    create_topic(broker.bootstrap, topic, 1)
    recs = [Rec(key=None if i % 7 == 0 else b"%d" % (i % 13), value=b"record-%05d" % i, partition=0)
            for i in range(COUNT)]
    dels = produce(client, broker.bootstrap, topic, recs, linger_ms=5, timeout=120)
    assert [d.error for d in dels] == [None] * COUNT
    assert [d.offset for d in dels] == list(range(COUNT))
    got = consume(client, broker.bootstrap, topic, COUNT, timeout=120, linger=0.5)
    assert len(got) == COUNT
    assert [g.offset for g in got] == list(range(COUNT))
    assert [g.value for g in got] == [r.value for r in recs]
    assert [g.key for g in got] == [r.key for r in recs]
