"""7. seek to an offset / the beginning / the end; auto.offset.reset earliest
and latest, for a consumer with no position (kafka-python, aiokafka with
group_id=None) and for an out-of-range start offset (all three clients)."""

import time

import pytest

from clients import CLIENTS, Rec, create_topic, open_consumer, produce


def put(broker, topic, start, n):
    recs = [Rec(key=b"k%d" % i, value=b"v%d" % i, partition=0) for i in range(start, start + n)]
    dels = produce("confluent-kafka", broker.bootstrap, topic, recs)
    assert [(d.error, d.offset) for d in dels] == [(None, i) for i in range(start, start + n)]


def offs(got):
    return [g.offset for g in got]


def vals(got):
    return [g.value for g in got]


def wait_position(c, client, topic, expected, timeout=30.0):
    """Block until the consumer's fetch position for partition 0 is resolved
    to `expected`, consuming nothing meanwhile."""
    if client == "confluent-kafka":
        assert c.wait_fetch_position(topic, 0, expected, timeout) == []
        return
    deadline = time.monotonic() + timeout
    pos = None
    while time.monotonic() < deadline:
        pos = c.position(topic, 0)
        if pos == expected:
            return
        assert c.poll(0, timeout=0.2) == []
    raise AssertionError("position %r never became %d" % (pos, expected))


@pytest.mark.parametrize("client", CLIENTS)
def test_seek(broker, topic, client):
    create_topic(broker.bootstrap, topic, 1)
    put(broker, topic, 0, 10)
    c = open_consumer(client, broker.bootstrap)
    try:
        c.assign(topic, [0], start=0)
        got = c.poll(10, linger=0.3)
        assert offs(got) == list(range(10))

        c.seek(topic, 0, 5)
        got = c.poll(5, linger=0.3)
        assert offs(got) == [5, 6, 7, 8, 9]
        assert vals(got) == [b"v5", b"v6", b"v7", b"v8", b"v9"]

        c.seek(topic, 0, 9)
        got = c.poll(1, linger=0.3)
        assert offs(got) == [9]

        c.seek_to_beginning(topic, 0)
        got = c.poll(10, linger=0.3)
        assert offs(got) == list(range(10))
        assert vals(got) == [b"v%d" % i for i in range(10)]

        c.seek(topic, 0, 3)
        got = c.poll(7, linger=0.3)
        assert offs(got) == list(range(3, 10))

        c.seek_to_end(topic, 0)
        wait_position(c, client, topic, 10)
        assert c.poll(0, timeout=0.5) == []
        put(broker, topic, 10, 3)
        got = c.poll(3, linger=0.5)
        assert offs(got) == [10, 11, 12]
        assert vals(got) == [b"v10", b"v11", b"v12"]
    finally:
        c.close()


@pytest.mark.parametrize("reset", ["earliest", "latest"])
@pytest.mark.parametrize("client", ["kafka-python", "aiokafka"])
def test_reset_without_position(broker, topic, client, reset):
    """group_id=None + assign(): no committed offset, so auto.offset.reset decides."""
    create_topic(broker.bootstrap, topic, 1)
    put(broker, topic, 0, 5)
    c = open_consumer(client, broker.bootstrap, reset=reset)
    try:
        c.assign(topic, [0])
        expected_start = 0 if reset == "earliest" else 5
        assert c.position(topic, 0) == expected_start
        put(broker, topic, 5, 2)
        got = c.poll(7 - expected_start, linger=0.5)
        assert offs(got) == list(range(expected_start, 7))
        assert vals(got) == [b"v%d" % i for i in range(expected_start, 7)]
    finally:
        c.close()


@pytest.mark.parametrize("reset", ["earliest", "latest"])
@pytest.mark.parametrize("client", CLIENTS)
def test_reset_on_out_of_range(broker, topic, client, reset):
    """Start offset beyond the log end: the broker answers OFFSET_OUT_OF_RANGE
    and the client applies auto.offset.reset."""
    create_topic(broker.bootstrap, topic, 1)
    put(broker, topic, 0, 5)
    c = open_consumer(client, broker.bootstrap, reset=reset)
    try:
        c.assign(topic, [0], start=1_000_000)
        if reset == "earliest":
            got = c.poll(5, linger=0.5)
            assert offs(got) == [0, 1, 2, 3, 4]
            put(broker, topic, 5, 2)
            got = c.poll(2, linger=0.5)
            assert offs(got) == [5, 6]
        else:
            wait_position(c, client, topic, 5)
            put(broker, topic, 5, 2)
            got = c.poll(2, linger=0.5)
            assert offs(got) == [5, 6]
            assert vals(got) == [b"v5", b"v6"]
    finally:
        c.close()


@pytest.mark.parametrize("start", ["beginning", "end"])
def test_confluent_logical_start_offsets(broker, topic, start):
    """confluent-kafka assign() with OFFSET_BEGINNING / OFFSET_END."""
    create_topic(broker.bootstrap, topic, 1)
    put(broker, topic, 0, 5)
    c = open_consumer("confluent-kafka", broker.bootstrap)
    try:
        c.assign(topic, [0], start=start)
        if start == "end":
            assert c.wait_fetch_position(topic, 0, 5) == []
            put(broker, topic, 5, 2)
            got = c.poll(2, linger=0.5)
            assert offs(got) == [5, 6]
        else:
            got = c.poll(5, linger=0.5)
            assert offs(got) == [0, 1, 2, 3, 4]
    finally:
        c.close()
