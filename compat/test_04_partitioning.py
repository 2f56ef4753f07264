"""4. 16 partitions created through each client's admin API; keyed records
land in partition toPositive(murmur2(key)) % 16 with each client's default
Java-compatible partitioner (confluent-kafka: partitioner=murmur2_random)."""

import pytest

from clients import CLIENTS, Rec, consume, create_topic, produce, topic_partitions
from murmur2 import partition_for

N = 16


def keys():
    ks = [b"key-%d" % i for i in range(300)]
    ks += [bytes([i, 255 - i, i ^ 0x5A]) for i in range(0, 256, 7)]  # binary keys
    ks += [b"x", b"yy", b"zzz", "\u00e9l\u00e9phant".encode()]  # every tail length
    return ks


@pytest.mark.parametrize("client", CLIENTS)
def test_murmur2_partitioning(broker, topic, client):
    create_topic(broker.bootstrap, topic, N, client=client)
    assert topic_partitions(broker.bootstrap, topic) == {p: 1 for p in range(N)}
    ks = keys()
    recs = [Rec(key=k, value=b"value-%d" % i) for i, k in enumerate(ks)]
    dels = produce(client, broker.bootstrap, topic, recs, linger_ms=20)
    assert [d.error for d in dels] == [None] * len(ks)
    expected = [partition_for(k, N) for k in ks]
    assert [d.partition for d in dels] == expected

    # offsets within each partition are 0.. in send order
    per_part = {}
    for i, d in enumerate(dels):
        per_part.setdefault(d.partition, []).append((d.offset, i))
    for p, lst in per_part.items():
        assert [o for o, _ in lst] == list(range(len(lst))), "partition %d offsets" % p

    got = consume("kafka-python", broker.bootstrap, topic, len(ks), partitions=range(N), linger=0.5)
    assert len(got) == len(ks)
    assert sorted((g.partition, g.offset) for g in got) == sorted((d.partition, d.offset) for d in dels)
    for g in got:
        assert g.partition == partition_for(g.key, N), g
    assert {g.partition for g in got} == set(expected)
    by_value = {r.value: r.key for r in recs}
    assert all(by_value[g.value] == g.key for g in got)
