"""11. Crash durability: kill -9 the broker while an acks=all producer is
sending 2,000 records, restart it on the same data dir, and check:

  * every acknowledged record is present at its acknowledged offset with its
    exact value,
  * offsets are contiguous from 0 up to the high watermark,
  * every record present is one that was sent (no partial or garbage data),
  * the producer (which keeps retrying across the restart) ends up with all
    2,000 records acknowledged,
  * after the restart the broker appends the next record at the next offset.

Runs three times with different (seeded, printed) kill moments, each right
after a burst of records was handed to the client so that some are in flight;
and twice more with spills of inline flushes running all the time.
"""

import random
import sqlite3
import threading
import time

import pytest

from clients import Rec, consume, create_topic, end_offset, produce

TOTAL = 2000
CHUNK = 40
CHUNK_PAUSE = 0.04  # 50 chunks -> ~2 s of sending


def value_of(i):
    # distinct, self-describing, 10 B .. 6 KB (about 6 MB in all, so that
    # several batches are in flight when the broker dies)
    return (b"rec-%05d|" % i) + bytes([65 + i % 26]) * ((i * 7919) % 6000)


class AckTracker:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # i -> (partition, offset)
        self.failed = {}  # i -> error string
        self.sent = 0


def producer_thread(bootstrap, topic, tracker, stop, kill_chunk, at_kill_chunk):
    from confluent_kafka import Producer
    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": False,
        "linger.ms": 5,
        "message.timeout.ms": 90000,
        "retries": 2147483647,
        "retry.backoff.ms": 100,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "socket.timeout.ms": 10000,
    })

    def cb_for(i):
        def cb(err, msg):
            with tracker.lock:
                if err is None:
                    tracker.acked[i] = (msg.partition(), msg.offset())
                else:
                    tracker.failed[i] = str(err)
        return cb

    for n, start in enumerate(range(0, TOTAL, CHUNK)):
        if stop.is_set():
            break
        for i in range(start, start + CHUNK):
            p.produce(topic, value=value_of(i), key=b"%d" % i, partition=0, on_delivery=cb_for(i))
        tracker.sent = start + CHUNK
        p.poll(0)
        if n == kill_chunk:
            at_kill_chunk.set()  # the test kills the broker now, with this chunk in flight
        time.sleep(CHUNK_PAUSE)
    deadline = time.monotonic() + 120
    while len(p) > 0 and time.monotonic() < deadline:
        p.poll(0.1)
    p.flush(1)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("seed", [11, 22, 33])
def test_kill9_during_acks_all_produce(fresh_broker, topic, seed):
    kill9_during_produce(fresh_broker, topic, seed)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("seed", [44, 55])
def test_kill9_while_inline_flushes_are_spilled(broker_factory, topic, seed):
    """The same crash while small flushes, committed inline in the metadata
    store, are being spilled into objects all the time (a spill every
    20 ms, of at most 256 KiB). Afterwards the restarted broker spills what
    was left inline, and every record still reads back the same."""
    b = broker_factory("--spill-interval-ms", "20", "--spill-bytes-max", "262144", "--inline-bytes-max", "65536")
    got_before = kill9_during_produce(b, topic, seed)
    deadline = time.monotonic() + 30
    while inline_left(b) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert inline_left(b) == 0, "inline flushes were not spilled after the restart"
    # Everything read before the spill, then the record appended after the
    # restart.
    got_after = consume("kafka-python", b.bootstrap, topic, len(got_before) + 1, timeout=120, linger=1.0)
    expected = [(g.offset, g.key, g.value) for g in got_before] + [(len(got_before), b"after", b"after-restart")]
    assert [(g.offset, g.key, g.value) for g in got_after] == expected


def inline_left(b):
    """Inline flushes the broker still holds in its SQLite metadata store."""
    con = sqlite3.connect("file:%s?mode=ro" % (b.data_dir / "meta.sqlite"), uri=True, timeout=5)
    try:
        return con.execute("SELECT COUNT(*) FROM inline_objects").fetchone()[0]
    finally:
        con.close()


def kill9_during_produce(b, topic, seed):
    """Kills the broker during an acks=all produce, restarts it, checks
    every acknowledged record; returns what a consumer read afterwards
    (before the final extra record)."""
    rnd = random.Random(seed)
    # kill right after chunk `kill_chunk` was handed to the client, plus a
    # random delay, so that records are in flight when the broker dies
    kill_chunk = rnd.randrange(2, TOTAL // CHUNK - 2)
    kill_delay = rnd.uniform(0.0, 0.012)
    down_for = rnd.uniform(0.1, 1.0)
    print("seed %d: kill -9 %.1f ms after chunk %d (records %d..%d) was produced, restart after %.3fs"
          % (seed, kill_delay * 1000, kill_chunk, kill_chunk * CHUNK, kill_chunk * CHUNK + CHUNK - 1, down_for))

    create_topic(b.bootstrap, topic, 1)
    tracker = AckTracker()
    stop = threading.Event()
    at_kill_chunk = threading.Event()
    th = threading.Thread(target=producer_thread,
                          args=(b.bootstrap, topic, tracker, stop, kill_chunk, at_kill_chunk), daemon=True)
    th.start()
    assert at_kill_chunk.wait(60), "producer never reached the kill point"
    time.sleep(kill_delay)
    b.kill9()
    with tracker.lock:
        acked_before_kill = dict(tracker.acked)
    print("acknowledged before kill: %d, sent so far: %d" % (len(acked_before_kill), tracker.sent))
    time.sleep(down_for)
    b.restart()
    th.join(180)
    assert not th.is_alive(), "producer thread did not finish"

    with tracker.lock:
        acked = dict(tracker.acked)
        failed = dict(tracker.failed)
    print("acknowledged: %d, failed: %d" % (len(acked), len(failed)))

    # acknowledged-before-kill records keep their acknowledged offsets
    for i, po in acked_before_kill.items():
        assert acked[i] == po

    lo, hi = end_offset(b.bootstrap, topic)
    print("high watermark after restart: %d (%d duplicates from retried batches)" % (hi, hi - TOTAL))
    assert lo == 0
    got = consume("kafka-python", b.bootstrap, topic, hi, timeout=120, linger=1.0)
    offsets = [g.offset for g in got]
    assert offsets == list(range(hi)), "offsets are not contiguous 0..%d" % (hi - 1)
    sent_values = {value_of(i) for i in range(TOTAL)}
    at = {g.offset: g for g in got}
    garbage = [g.offset for g in got
               if g.value not in sent_values or g.key != b"%d" % int(g.value[4:9])]
    assert garbage == [], "records present that were never sent, at offsets %s" % garbage[:20]
    for i, (p, off) in acked.items():
        assert p == 0
        assert off in at, "acknowledged record %d (offset %d) is missing; high watermark %d" % (i, off, hi)
        assert at[off].value == value_of(i), "offset %d holds %r, acknowledged %r" % (
            off, at[off].value[:20], value_of(i)[:20])
        assert at[off].key == b"%d" % i
    assert failed == {}, "records failed despite retries across the restart: %s" % list(failed.items())[:5]
    assert sorted(acked) == list(range(TOTAL))
    # duplicates are allowed (a batch written but not acknowledged before the
    # crash is retried), but every distinct value is present
    assert {g.value for g in got} == sent_values
    assert hi >= TOTAL

    # the restarted broker appends at the next offset
    dels = produce("confluent-kafka", b.bootstrap, topic, [Rec(key=b"after", value=b"after-restart", partition=0)])
    assert [(d.error, d.offset) for d in dels] == [(None, hi)]
    after = consume("confluent-kafka", b.bootstrap, topic, 1, start=hi)
    assert [(g.offset, g.value) for g in after] == [(hi, b"after-restart")]
    return got


@pytest.mark.timeout(300)
def test_restart_preserves_everything(fresh_broker, topic):
    """Clean restart (SIGTERM) and crash restart (SIGKILL) keep all acknowledged
    data, topics and partition counts."""
    b = fresh_broker
    create_topic(b.bootstrap, topic, 3)
    recs = [Rec(key=b"k%d" % i, value=b"v%d" % i, partition=i % 3, timestamp=1_000_000 + i) for i in range(300)]
    dels = produce("confluent-kafka", b.bootstrap, topic, recs)
    assert all(d.error is None for d in dels)

    def check(n_extra):
        got = consume("kafka-python", b.bootstrap, topic, 300 + n_extra, partitions=[0, 1, 2], timeout=60)
        per = {}
        for g in got:
            per.setdefault(g.partition, []).append(g)
        for p in range(3):
            exp = [r for r in recs if r.partition == p] + [Rec(key=b"x%d" % j, value=b"extra", partition=p)
                                                         for j in range(n_extra) if j % 3 == p]
            assert [g.offset for g in per.get(p, [])] == list(range(len(exp)))
            assert [(g.key, g.value) for g in per[p]] == [(r.key, r.value) for r in exp]

    b.stop()
    b.restart()
    check(0)
    b.kill9()
    b.restart()
    check(0)
    extra = [Rec(key=b"x%d" % j, value=b"extra", partition=j % 3) for j in range(3)]
    dels = produce("kafka-python", b.bootstrap, topic, extra)
    assert [(d.error, d.offset) for d in dels] == [(None, 100), (None, 100), (None, 100)]
    b.kill9()
    b.restart()
    check(3)
