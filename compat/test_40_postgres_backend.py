"""A broker on the production backends: the offset index and metadata in
PostgreSQL (`--metadata postgres://…`), record batches in a local directory
or in S3 (`--object-store s3://…`). Produce, consume, group commits, and a
kill -9 with restart that finds everything at the same offsets.

scripts/test.sh starts a throwaway PostgreSQL and an S3-compatible server
and exports STREAMHOUSE_TEST_POSTGRES_URL, STREAMHOUSE_TEST_S3_BUCKET and
AWS_*; each test gets its own database (the pg_url fixture) and key prefix
(backends.s3_args).
"""

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from backends import s3_args, sql
from helpers import uid


def consume(c, count, timeout=30.0):
    """[(value, partition, offset)] polled from c until count records or
    the timeout (errors are skipped)."""
    got = []
    end = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < end:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append((m.value(), m.partition(), m.offset()))
    return got


@pytest.mark.parametrize("objects", ["local", "s3"])
def test_produce_consume_commit_and_kill9_on_postgres(broker_factory, pg_url, objects):
    extra = s3_args() if objects == "s3" else []
    b = broker_factory("--metadata", pg_url, "--group-initial-rebalance-delay-ms", "300", *extra)
    topic = uid("pg")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)]).values():
        f.result(15)

    acked = {}
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 2, "enable.idempotence": False})

    def on_delivery(err, msg):
        assert err is None, err
        acked[msg.value()] = (msg.partition(), msg.offset())

    values = [b"v%04d" % i for i in range(600)]
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i % 3, on_delivery=on_delivery)
    assert p.flush(30) == 0
    assert len(acked) == 600
    for part in range(3):
        assert sorted(o for (pp, o) in acked.values() if pp == part) == list(range(200))

    # The index and the offsets are rows in PostgreSQL.
    assert sql(pg_url, "SELECT sum(next_offset) FROM partitions") == "600"
    assert int(sql(pg_url, "SELECT count(*) FROM batches")) >= 3

    group = "pg-group-" + topic
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got = consume(c, 600)
    c.commit(asynchronous=False)
    c.close()
    assert sorted(got) == sorted((v, pp, o) for v, (pp, o) in acked.items())
    assert sql(pg_url, "SELECT sum(committed_offset) FROM group_offsets WHERE group_id = '%s'" % group) == "600"

    b.kill9()
    b.restart()
    # Everything acknowledged is still there, at the same offsets, and the
    # group resumes at its committed offsets.
    p2 = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": False})
    more = {}
    p2.produce(topic, value=b"after-restart", partition=0,
               on_delivery=lambda e, m: more.update(r=(e, m.partition(), m.offset())))
    assert p2.flush(30) == 0
    assert more["r"] == (None, 0, 200)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    resumed = consume(c, 1)
    assert resumed == [(b"after-restart", 0, 200)]
    assert c.poll(2.0) is None
    c.close()

    replay = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "replay-" + topic, "enable.auto.commit": False})
    replay.assign([TopicPartition(topic, part, 0) for part in range(3)])
    again = consume(replay, 601)
    replay.close()
    expected = sorted([(v, pp, o) for v, (pp, o) in acked.items()] + [(b"after-restart", 0, 200)])
    assert sorted(again) == expected
