"""31. Broker-core behaviours through the GROUP consumers of the Node.js
clients: kafkajs 2.2.4 and @confluentinc/kafka-javascript 1.10.1 ("ckjs",
its KafkaJS-compatible API). Producing and consuming both go through
compat/js/core.js; consumers subscribe with a fresh group id and consume in
consumer.run / eachMessage (fromBeginning, autoCommit off).

  * round trip: keys, null key, null value, empty key/value, headers
    (duplicate keys, binary), explicit CreateTime timestamps, exact offsets
    (ckjs's producer turns a zero-length key/value Buffer into null - asserted;
    an empty key/value from confluent-kafka is read back as empty by both)
  * codecs: kafkajs gzip (built in), snappy (kafkajs-snappy), lz4 (kafkajs-lz4);
    kafkajs has no usable zstd codec here (@kafkajs/zstd's native cppzst does
    not compile against node 20's headers) - asserted to fail with kafkajs's
    own "ZSTD compression not implemented". ckjs: gzip/snappy/lz4/zstd
    natively (compat/js/install.sh installs libzstd-dev and liblz4-dev before
    building its librdkafka and rebuilds a build whose features lack a
    codec; the test asserts the client's own feature list holds all four)
  * a 1,000,000-byte value
  * keyed partitioning over 16 partitions = murmur2 (kafkajs DefaultPartitioner,
    ckjs partitioner murmur2_random), checked on what the group consumer receives
  * acks -1, 1, 0
  * 1,000 records in one partition, in order
  * consumer.seek inside eachMessage
  * commitOffsets, then a new consumer of the same group resumes exactly there
"""

from __future__ import annotations

import random
import time
import hashlib

import pytest

from clients import Rec, create_topic, end_offset, produce
from conftest import _new_broker, _teardown
from groups_helpers import committed
from helpers import ckjs_features, put_numbered, run_node, uid
from murmur2 import partition_for
from record_sets import payloads

FAST = ["--group-initial-rebalance-delay-ms", "300"]
JS_CLIENTS = ["kafkajs", "ckjs"]
T0 = 1_700_000_000_000
BIN = bytes(range(256))

pytestmark = pytest.mark.usefixtures("js_clients")


@pytest.fixture(scope="module")
def gbroker(tmp_path_factory):
    b = _new_broker(tmp_path_factory, FAST)
    yield b
    _teardown(b)


def hx(b):
    return None if b is None else b.hex()


def run_core(cfg, timeout=120):
    return run_node("core.js", cfg, timeout, cfg["op"])


def js_produce(client, bootstrap, topic, sends, acks=-1, compression="none", expect_ok=True):
    """sends: list of lists of msg dicts. Returns the events."""
    rc, evs, info = run_core(dict(client=client, bootstrap=bootstrap, op="produce", topic=topic, acks=acks,
                                  compression=compression, sends=sends))
    assert rc == 0, info
    if expect_ok:
        assert [(e["ev"], e.get("i")) for e in evs] == [("sent", i) for i in range(len(sends))], info
    return evs


def js_consume(client, bootstrap, topic, group, count, *, linger_ms=800, max_seconds=60, seeks=(), commits=()):
    rc, evs, info = run_core(dict(client=client, bootstrap=bootstrap, op="consume", topic=topic, group=group,
                                  count=count, lingerMs=linger_ms, maxSeconds=max_seconds, seeks=list(seeks),
                                  commits=list(commits)), timeout=max_seconds + 60)
    assert rc == 0 and evs and evs[-1] == {"ev": "done", "n": count}, info
    assert not [e for e in evs if e["ev"] == "error"], info
    return [e for e in evs if e["ev"] == "msg"], evs


def msg(k, v, h=None, ts=None, p=None):
    return {"k": hx(k), "v": hx(v), "h": h, "ts": None if ts is None else str(ts), "p": p}


def base_offsets(evs):
    """[(partition, baseOffset)] of every send's RecordMetadata."""
    return [[(r["partition"], int(r["baseOffset"])) for r in e["res"]] for e in evs if e["ev"] == "sent"]


# --------------------------------------------------------------------------


def roundtrip_msgs():
    hdr = {"dup": [b"first".hex(), b"second".hex(), b"third".hex()], "other": b"x".hex(), "bin": BIN.hex(),
           "empty": "", "\u00fcnic\u00f8de": "f09f909b"}
    return [
        msg(b"k1", b"v1", ts=T0, p=0),
        msg(None, b"null key", ts=T0 + 1, p=0),
        msg(b"tombstone", None, ts=T0 + 2, p=0),
        msg(b"", b"", ts=T0 + 3, p=0),
        msg(b"hdr", b"headers", h=hdr, ts=T0 + 6, p=0),
        msg(BIN, BIN * 40, ts=T0 + 7, p=0),
        msg(b"old", b"2001", ts=1_000_000_000_000, p=0),
        msg(b"late", b"v", ts=T0 + 10_000_000, p=0),
    ]


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_group_roundtrip(gbroker, client):
    topic = uid("g31-rt")
    create_topic(gbroker.bootstrap, topic, 1)
    msgs = roundtrip_msgs()
    evs = js_produce(client, gbroker.bootstrap, topic, [msgs])
    assert base_offsets(evs) == [[(0, 0)]]
    if client == "ckjs":
        # ckjs's producer (node-rdkafka binding) sends a zero-length Buffer key
        # or value as null (length -1): a client-side behaviour, seen on the
        # wire by every consumer (kafka-python assign() reads (None, None) at
        # that offset too). The empty record below comes from confluent-kafka.
        msgs[3] = dict(msgs[3], k=None, v=None)
    # an empty key + empty value written by confluent-kafka (Python): the JS
    # group consumer must hand back empty buffers, not null
    dels = produce("confluent-kafka", gbroker.bootstrap, topic, [Rec(key=b"", value=b"", timestamp=T0 + 20,
                                                                     partition=0)])
    assert [(d.error, d.offset) for d in dels] == [(None, len(msgs))]
    msgs.append(msg(b"", b"", ts=T0 + 20, p=0))
    got, _ = js_consume(client, gbroker.bootstrap, topic, uid("g31-rt"), len(msgs))
    assert [(g["p"], g["o"]) for g in got] == [(0, i) for i in range(len(msgs))]
    for g, m in zip(got, msgs):
        assert (g["k"], g["v"]) == (m["k"], m["v"]), g
        assert g["h"] == (m["h"] or {}), g
        assert g["ts"] == m["ts"], g


# --------------------------------------------------------------------------

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# The codecs each client can produce. kafkajs: core.js registers snappy and
# lz4 codecs, zstd has none (see the module docstring). ckjs: every codec of
# its librdkafka, whose build compat/js/install.sh makes with libzstd and
# liblz4 and checks (its builtin features hold gzip, snappy, lz4, zstd).
PRODUCES = {"kafkajs": ["none", "gzip", "snappy", "lz4"], "ckjs": CODECS}


def codec_msgs(seed, p):
    # The same 100 records the Python codec tests send (compat/record_sets.py).
    return [msg(r.key, r.value, h={"i": r.headers[0][1].hex()}, ts=r.timestamp, p=p) for r in payloads(seed)]


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_group_codecs(gbroker, client):
    if client == "ckjs":
        # what the client itself says it was built with
        assert {"gzip", "snappy", "lz4", "zstd"} <= set(ckjs_features()), ckjs_features()
    topic = uid("g31-codec")
    create_topic(gbroker.bootstrap, topic, len(CODECS))
    sent = {}
    for p, codec in enumerate(CODECS):
        msgs = codec_msgs("%s/%s" % (client, codec), p)
        if codec not in PRODUCES[client]:
            evs = js_produce(client, gbroker.bootstrap, topic, [msgs], compression=codec, expect_ok=False)
            assert [(e["ev"], e["name"], e["message"]) for e in evs] == \
                [("send_error", "KafkaJSNotImplemented", "ZSTD compression not implemented")], evs
            assert end_offset(gbroker.bootstrap, topic, p) == (0, 0)
            continue
        evs = js_produce(client, gbroker.bootstrap, topic, [msgs], compression=codec)
        assert base_offsets(evs) == [[(p, 0)]], codec
        sent[p] = msgs
    assert [CODECS[p] for p in sent] == PRODUCES[client]
    n = sum(len(v) for v in sent.values())
    got, _ = js_consume(client, gbroker.bootstrap, topic, uid("g31-codec"), n)
    for p, msgs in sent.items():
        mine = [g for g in got if g["p"] == p]
        assert [g["o"] for g in mine] == list(range(100)), CODECS[p]
        assert [(g["k"], g["v"], g["h"], g["ts"]) for g in mine] == \
            [(m["k"], m["v"], m["h"], m["ts"]) for m in msgs], CODECS[p]
    assert len(got) == n


# --------------------------------------------------------------------------


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_group_1mb_value(gbroker, client):
    topic = uid("g31-big")
    create_topic(gbroker.bootstrap, topic, 1)
    big = random.Random(client).randbytes(1_000_000)
    evs = js_produce(client, gbroker.bootstrap, topic, [[msg(b"big", big, p=0)], [msg(b"after", b"small", p=0)]])
    assert base_offsets(evs) == [[(0, 0)], [(0, 1)]]
    got, _ = js_consume(client, gbroker.bootstrap, topic, uid("g31-big"), 2)
    assert [(g["p"], g["o"], g["k"]) for g in got] == [(0, 0, b"big".hex()), (0, 1, b"after".hex())]
    assert got[0]["v"] == {"len": 1_000_000, "sha256": hashlib.sha256(big).hexdigest()}
    assert got[1]["v"] == b"small".hex()


# --------------------------------------------------------------------------


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_group_murmur2_partitioning(gbroker, client):
    n = 16
    topic = uid("g31-part")
    create_topic(gbroker.bootstrap, topic, n)
    keys = [b"key-%d" % i for i in range(200)] + [b"x", b"yy", b"zzz", "\u00e9l\u00e9phant".encode(),
                                                  bytes([1, 255, 0, 128, 7])]
    msgs = [msg(k, b"value-%d" % i) for i, k in enumerate(keys)]
    js_produce(client, gbroker.bootstrap, topic, [msgs])
    got, _ = js_consume(client, gbroker.bootstrap, topic, uid("g31-part"), len(keys))
    assert sorted(bytes.fromhex(g["k"]) for g in got) == sorted(keys)
    for g in got:
        assert g["p"] == partition_for(bytes.fromhex(g["k"]), n), g
    for p in range(n):
        mine = [m["v"] for m in msgs if partition_for(bytes.fromhex(m["k"]), n) == p]
        assert [(g["o"], g["v"]) for g in got if g["p"] == p] == list(enumerate(mine)), p
    assert {g["p"] for g in got} == set(range(n))


# --------------------------------------------------------------------------


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_group_acks(gbroker, client):
    topic = uid("g31-acks")
    create_topic(gbroker.bootstrap, topic, 1)
    allm = []
    for acks in (-1, 1, 0):
        msgs = [msg(b"k%d" % i, b"acks%d-%d" % (acks, i), p=0) for i in range(100)]
        evs = js_produce(client, gbroker.bootstrap, topic, [msgs], acks=acks)
        if acks != 0:
            assert base_offsets(evs) == [[(0, len(allm))]], acks
        allm += msgs
        deadline = time.monotonic() + 30
        while end_offset(gbroker.bootstrap, topic)[1] < len(allm) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert end_offset(gbroker.bootstrap, topic) == (0, len(allm)), acks
    got, _ = js_consume(client, gbroker.bootstrap, topic, uid("g31-acks"), 300)
    assert [g["o"] for g in got] == list(range(300))
    assert [(g["k"], g["v"]) for g in got] == [(m["k"], m["v"]) for m in allm]


# --------------------------------------------------------------------------


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_group_1000_in_order(gbroker, client):
    topic = uid("g31-order")
    create_topic(gbroker.bootstrap, topic, 1)
    msgs = [msg(b"o%d" % (i % 7), b"ordered-%06d" % i, p=0) for i in range(1000)]
    evs = js_produce(client, gbroker.bootstrap, topic, [msgs[:500], msgs[500:]])
    assert base_offsets(evs) == [[(0, 0)], [(0, 500)]]
    got, _ = js_consume(client, gbroker.bootstrap, topic, uid("g31-order"), 1000)
    assert [g["o"] for g in got] == list(range(1000))
    assert [g["v"] for g in got] == [m["v"] for m in msgs]


# --------------------------------------------------------------------------


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_group_seek(gbroker, client):
    """consumer.seek inside eachMessage, each time at the last record (offset 9)."""
    topic = uid("g31-seek")
    create_topic(gbroker.bootstrap, topic, 1)
    put_numbered(gbroker.bootstrap, topic, 0, 10)
    seeks = [{"at": 10, "p": 0, "offset": 5}, {"at": 15, "p": 0, "offset": 0}, {"at": 25, "p": 0, "offset": 8}]
    expected = list(range(10)) + list(range(5, 10)) + list(range(10)) + [8, 9]
    got, evs = js_consume(client, gbroker.bootstrap, topic, uid("g31-seek"), len(expected), linger_ms=1500,
                          seeks=seeks)
    assert [(g["p"], g["o"]) for g in got] == [(0, o) for o in expected]
    assert [g["v"] for g in got] == [(b"v%d" % o).hex() for o in expected]
    assert [e["at"] for e in evs if e["ev"] == "seeked"] == [10, 15, 25]


@pytest.mark.parametrize("client", JS_CLIENTS)
def test_js_group_commit_and_resume(gbroker, client):
    topic, group = uid("g31-resume"), uid("g31-resume")
    create_topic(gbroker.bootstrap, topic, 1)
    put_numbered(gbroker.bootstrap, topic, 0, 20)
    got, evs = js_consume(client, gbroker.bootstrap, topic, group, 20, commits=[{"at": 20, "p": 0, "offset": 7}])
    assert [g["o"] for g in got] == list(range(20))
    assert [e["offset"] for e in evs if e["ev"] == "committed"] == [7]
    assert committed(gbroker.bootstrap, group, topic) == {0: 7}

    got, evs = js_consume(client, gbroker.bootstrap, topic, group, 13, commits=[{"at": 13, "p": 0, "offset": 20}])
    assert [(g["o"], g["v"]) for g in got] == [(i, (b"v%d" % i).hex()) for i in range(7, 20)]
    assert committed(gbroker.bootstrap, group, topic) == {0: 20}

    put_numbered(gbroker.bootstrap, topic, 20, 5)
    got, _ = js_consume(client, gbroker.bootstrap, topic, group, 5)
    assert [(g["o"], g["v"]) for g in got] == [(i, (b"v%d" % i).hex()) for i in range(20, 25)]
    assert committed(gbroker.bootstrap, group, topic) == {0: 20}  # autoCommit off
