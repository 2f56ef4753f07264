"""5. acks=0, acks=1 and acks=all from every producer: all records arrive,
in order (acks=0: polled until the count is reached, with a deadline)."""

import pytest

from clients import CLIENTS, Rec, consume, create_topic, produce

COUNT = 300


@pytest.mark.parametrize("acks", [0, 1, "all"], ids=["acks0", "acks1", "acksall"])
@pytest.mark.parametrize("client", CLIENTS)
def test_acks(broker, topic, client, acks):
    create_topic(broker.bootstrap, topic, 1)
    recs = [Rec(key=b"k%d" % i, value=b"acks-%s-%d" % (str(acks).encode(), i), partition=0)
            for i in range(COUNT)]
    dels = produce(client, broker.bootstrap, topic, recs, acks=acks)
    assert [d.error for d in dels] == [None] * COUNT
    if acks != 0:
        assert [d.offset for d in dels] == list(range(COUNT))
    got = consume("confluent-kafka", broker.bootstrap, topic, COUNT, timeout=60, linger=0.5)
    assert [g.offset for g in got] == list(range(COUNT))
    assert [(g.key, g.value) for g in got] == [(r.key, r.value) for r in recs]
    # the connection is still usable after acks=0 (no stray responses)
    more = produce(client, broker.bootstrap, topic, [Rec(key=b"after", value=b"after", partition=0)], acks="all")
    assert [(d.error, d.offset) for d in more] == [(None, COUNT)]
