"""Fetch long polls: answered as soon as min_bytes are there (woken by the
commit, not by a timer), and only after max_wait_ms when they are not.

Raw Fetch v4 over a socket (kafka_raw.py), so the test controls
max_wait_ms and min_bytes exactly. The time bounds are functional (did it
wait / did it wake), set far from the values under test so a slow machine
cannot flip them.
"""

import threading
import time

import kafka_raw as kr
from clients import create_topic


def produce_one(bootstrap, topic, value):
    with kr.Conn(bootstrap) as c:
        corr = c.corr()
        batch = kr.record_batch([kr.RawRecord(None, value, [], 0)], base_timestamp=1_000)
        res, _, _ = kr.parse_produce_v3(c.request(kr.produce_request_v3(topic, 0, batch, corr), corr))
        assert res[(topic, 0)][0] == kr.NONE


def timed_fetch(bootstrap, topic, offset, max_wait_ms, min_bytes):
    """One Fetch v4 of partition 0: (seconds, {(topic, partition): (error,
    high_watermark, records bytes)})."""
    resp, elapsed = kr.fetch_once(bootstrap, 4, topic, 0, offset, max_wait_ms=max_wait_ms, min_bytes=min_bytes)
    return elapsed, {k: (p["error_code"], p["high_watermark"], p["records"]) for k, p in resp["partitions"].items()}


def test_a_waiting_fetch_is_woken_by_the_commit(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    result = {}
    t = threading.Thread(target=lambda: result.update(r=timed_fetch(broker.bootstrap, topic, 0, 20_000, 1)))
    t.start()
    time.sleep(0.5)
    produce_one(broker.bootstrap, topic, b"wake up")
    t.join(25)
    assert not t.is_alive()
    elapsed, parts = result["r"]
    err, hw, records = parts[(topic, 0)]
    assert (err, hw) == (0, 1)
    assert b"wake up" in records
    # Woken by the commit: far sooner than the 20 s max_wait.
    assert elapsed < 10, elapsed


def test_an_idle_fetch_waits_for_max_wait_then_answers_empty(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    elapsed, parts = timed_fetch(broker.bootstrap, topic, 0, 1_500, 1)
    assert parts[(topic, 0)] == (0, 0, b"")
    assert elapsed >= 1.4, elapsed


def test_min_bytes_not_reached_waits_then_returns_what_there_is(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    produce_one(broker.bootstrap, topic, b"small")
    elapsed, parts = timed_fetch(broker.bootstrap, topic, 0, 1_500, 1024 * 1024)
    err, hw, records = parts[(topic, 0)]
    assert (err, hw) == (0, 1)
    assert b"small" in records
    assert elapsed >= 1.4, elapsed


def test_an_error_answers_at_once(broker, topic):
    elapsed, parts = timed_fetch(broker.bootstrap, "no-such-topic-" + topic, 0, 20_000, 1)
    assert parts[("no-such-topic-" + topic, 0)][0] == kr.UNKNOWN_TOPIC_OR_PARTITION
    assert elapsed < 10, elapsed
