"""8. ListOffsets: earliest, latest, by timestamp, max timestamp.

Partition 0 holds timestamps 1000, 2000, ..., 10000 at offsets 0..9 (the
first five in one batch, the rest one batch each). Partition 1 holds
timestamps 5000, 9000, 7000 (offsets 0..2) so that the max-timestamp record
is not the last one.
"""

import asyncio

import pytest

from clients import Rec, create_topic, produce
from helpers import uid

# target timestamp -> (offset, timestamp) of the first record with ts >= target; None = no such record
BY_TIME_P0 = {
    0: (0, 1000), 999: (0, 1000), 1000: (0, 1000), 1001: (1, 2000), 2500: (2, 3000),
    5000: (4, 5000), 5001: (5, 6000), 7500: (7, 8000), 9999: (9, 10000), 10000: (9, 10000),
    10001: None, 10**12: None,
}
BY_TIME_P1 = {5000: (0, 5000), 6000: (1, 9000), 8000: (1, 9000), 9000: (1, 9000), 9001: None}


@pytest.fixture(scope="module")
def ts_topic(broker):
    name = uid("compat-ts")
    create_topic(broker.bootstrap, name, 2)
    first = [Rec(key=b"k%d" % i, value=b"v%d" % i, timestamp=1000 * (i + 1), partition=0) for i in range(5)]
    dels = produce("confluent-kafka", broker.bootstrap, name, first, linger_ms=100)
    assert [(d.error, d.offset) for d in dels] == [(None, i) for i in range(5)]
    rest = [Rec(key=b"k%d" % i, value=b"v%d" % i, timestamp=1000 * (i + 1), partition=0) for i in range(5, 10)]
    dels = produce("confluent-kafka", broker.bootstrap, name, rest, flush_each=True)
    assert [(d.error, d.offset) for d in dels] == [(None, i) for i in range(5, 10)]
    p1 = [Rec(key=b"p1-%d" % i, value=b"x", timestamp=ts, partition=1) for i, ts in enumerate([5000, 9000, 7000])]
    dels = produce("confluent-kafka", broker.bootstrap, name, p1, flush_each=True)
    assert [(d.error, d.offset) for d in dels] == [(None, 0), (None, 1), (None, 2)]
    return name


def test_kafka_python(broker, ts_topic):
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.admin import OffsetSpec

    tp0, tp1 = TopicPartition(ts_topic, 0), TopicPartition(ts_topic, 1)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        assert c.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
        assert c.end_offsets([tp0, tp1]) == {tp0: 10, tp1: 3}
        for tp, table in ((tp0, BY_TIME_P0), (tp1, BY_TIME_P1)):
            for target, expected in table.items():
                res = c.offsets_for_times({tp: target})
                got = res[tp]
                if expected is None:
                    assert got is None, (tp, target, got)
                else:
                    assert (got.offset, got.timestamp) == expected, (tp, target)
    finally:
        c.close(autocommit=False)

    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        res = a.list_partition_offsets({tp0: OffsetSpec.EARLIEST, tp1: OffsetSpec.EARLIEST})
        assert (res[tp0].offset, res[tp1].offset) == (0, 0)
        res = a.list_partition_offsets({tp0: OffsetSpec.LATEST, tp1: OffsetSpec.LATEST})
        assert (res[tp0].offset, res[tp1].offset) == (10, 3)
        res = a.list_partition_offsets({tp0: OffsetSpec.MAX_TIMESTAMP, tp1: OffsetSpec.MAX_TIMESTAMP})
        assert (res[tp0].offset, res[tp0].timestamp) == (9, 10000)
        assert (res[tp1].offset, res[tp1].timestamp) == (1, 9000)
        res = a.list_partition_offsets({tp0: 2500, tp1: 6000})
        assert (res[tp0].offset, res[tp0].timestamp) == (2, 3000)
        assert (res[tp1].offset, res[tp1].timestamp) == (1, 9000)
        res = a.list_partition_offsets({tp0: 10001})
        assert res[tp0].offset == -1
    finally:
        a.close()


def test_aiokafka(broker, ts_topic):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    tp0, tp1 = TopicPartition(ts_topic, 0), TopicPartition(ts_topic, 1)

    async def run():
        c = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
        await c.start()
        try:
            assert await c.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
            assert await c.end_offsets([tp0, tp1]) == {tp0: 10, tp1: 3}
            for tp, table in ((tp0, BY_TIME_P0), (tp1, BY_TIME_P1)):
                for target, expected in table.items():
                    got = (await c.offsets_for_times({tp: target}))[tp]
                    if expected is None:
                        assert got is None, (tp, target, got)
                    else:
                        assert (got.offset, got.timestamp) == expected, (tp, target)
        finally:
            await c.stop()

    asyncio.run(asyncio.wait_for(run(), 120))


def test_confluent_kafka(broker, ts_topic):
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "compat-lo",
                  "enable.auto.commit": False})
    try:
        assert c.get_watermark_offsets(TopicPartition(ts_topic, 0), timeout=10, cached=False) == (0, 10)
        assert c.get_watermark_offsets(TopicPartition(ts_topic, 1), timeout=10, cached=False) == (0, 3)
        for p, table in ((0, BY_TIME_P0), (1, BY_TIME_P1)):
            for target, expected in table.items():
                [res] = c.offsets_for_times([TopicPartition(ts_topic, p, target)], timeout=10)
                assert res.error is None
                assert res.offset == (expected[0] if expected else -1), (p, target)
    finally:
        c.close()

    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    tp0, tp1 = TopicPartition(ts_topic, 0), TopicPartition(ts_topic, 1)

    def lo(spec0, spec1):
        fs = a.list_offsets({tp0: spec0, tp1: spec1}, request_timeout=30)
        out = {}
        for tp, f in fs.items():
            r = f.result(30)
            out[tp.partition] = (r.offset, r.timestamp)
        return out

    assert {k: v[0] for k, v in lo(OffsetSpec.earliest(), OffsetSpec.earliest()).items()} == {0: 0, 1: 0}
    assert {k: v[0] for k, v in lo(OffsetSpec.latest(), OffsetSpec.latest()).items()} == {0: 10, 1: 3}
    assert lo(OffsetSpec.max_timestamp(), OffsetSpec.max_timestamp()) == {0: (9, 10000), 1: (1, 9000)}
    assert lo(OffsetSpec.for_timestamp(2500), OffsetSpec.for_timestamp(8000)) == {0: (2, 3000), 1: (1, 9000)}
    assert lo(OffsetSpec.for_timestamp(10001), OffsetSpec.for_timestamp(9001))[0][0] == -1


def test_empty_partition(broker, topic):
    """On an empty partition earliest == latest == 0 and a time lookup finds nothing."""
    from kafka import KafkaConsumer, TopicPartition
    create_topic(broker.bootstrap, topic, 1)
    tp = TopicPartition(topic, 0)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 0}
        assert c.offsets_for_times({tp: 0}) == {tp: None}
    finally:
        c.close(autocommit=False)
