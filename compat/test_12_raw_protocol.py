"""12. Hand-built frames over a raw socket (see kafka_raw.py)."""

import struct
import time

import kafka_raw as kr
from clients import Rec, consume, create_topic, end_offset, produce


def api_versions_v0(bootstrap):
    with kr.Conn(bootstrap) as c:
        corr = c.corr()
        body = c.request(kr.api_versions_request(0, corr), corr)
    return kr.parse_api_versions_v0(body)


def assert_serves_clients(broker, topic):
    err, apis, left = api_versions_v0(broker.bootstrap)
    assert (err, left) == (0, 0)
    dels = produce("kafka-python", broker.bootstrap, topic, [Rec(key=b"ok", value=b"still serving", partition=0)])
    assert dels[0].error is None
    got = consume("kafka-python", broker.bootstrap, topic, dels[0].offset + 1)
    assert got[-1].value == b"still serving"


def test_api_versions_v0(broker):
    err, apis, left = api_versions_v0(broker.bootstrap)
    assert err == 0
    assert left == 0, "trailing bytes after a v0 ApiVersions response"
    for key in (kr.PRODUCE, kr.FETCH, kr.LIST_OFFSETS, kr.METADATA, kr.API_VERSIONS,
                kr.CREATE_TOPICS, kr.DELETE_TOPICS):
        assert key in apis, "api key %d not advertised" % key
        lo, hi = apis[key]
        assert 0 <= lo <= hi, (key, lo, hi)
    assert apis[kr.API_VERSIONS][0] == 0 and apis[kr.API_VERSIONS][1] >= 3
    assert apis[kr.PRODUCE][0] <= 3 <= apis[kr.PRODUCE][1], "Produce v3 must be supported"
    assert apis[kr.METADATA][0] <= 4 <= apis[kr.METADATA][1], "Metadata v4 must be supported"


def test_api_versions_unsupported_version(broker):
    """ApiVersions v127 -> UNSUPPORTED_VERSION (35) answered in the v0 layout,
    still listing the supported APIs (including ApiVersions itself)."""
    with kr.Conn(broker.bootstrap) as c:
        corr = 0x1234567
        c.send_raw(kr.frame(kr.api_versions_request(127, corr)))
        resp = c.recv_frame()
    r = kr.Reader(resp)
    assert r.int32() == corr
    err, apis, left = kr.parse_api_versions_v0(resp[4:])
    assert err == kr.UNSUPPORTED_VERSION
    assert left == 0, "response is not in the v0 layout (%d trailing bytes)" % left
    assert kr.API_VERSIONS in apis
    assert apis[kr.API_VERSIONS][0] == 0
    assert kr.PRODUCE in apis and kr.FETCH in apis and kr.METADATA in apis


def test_huge_frame_closes_connection(broker, topic):
    """A size prefix of 2,000,000,000 must not be buffered: the broker closes
    the connection and keeps serving everyone else."""
    create_topic(broker.bootstrap, topic, 1)
    with kr.Conn(broker.bootstrap) as c:
        # the start of an ApiVersions request behind an absurd size
        c.send_raw(struct.pack(">i", 2_000_000_000) + kr.api_versions_request(0, 1))
        try:
            c.send_raw(b"\x00" * 65536)
        except OSError:
            pass  # already closed: fine
        assert c.wait_closed(15.0), "broker did not close a connection announcing a 2 GB frame"
    assert broker.alive()
    assert_serves_clients(broker, topic)


def test_negative_frame_size_closes_connection(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    with kr.Conn(broker.bootstrap) as c:
        c.send_raw(struct.pack(">i", -5) + b"\x00" * 16)
        assert c.wait_closed(15.0), "broker did not close a connection with a negative frame size"
    assert_serves_clients(broker, topic)


def test_produce_v3_roundtrip(broker, topic):
    """Positive control for the hand-built RecordBatch: accepted, offsets
    assigned, and read back exactly by a real client."""
    create_topic(broker.bootstrap, topic, 1)
    recs = [
        kr.RawRecord(b"k0", b"v0", [("h", b"1"), ("h", None)], 0),
        kr.RawRecord(None, b"v1", [], 10),
        kr.RawRecord(b"k2", None, [("bin", bytes(range(256)))], 20),
    ]
    with kr.Conn(broker.bootstrap) as c:
        corr = c.corr()
        res, throttle, left = kr.parse_produce_v3(
            c.request(kr.produce_request_v3(topic, 0, kr.record_batch(recs, base_timestamp=5_000_000), corr), corr))
        assert left == 0
        assert res == {(topic, 0): (0, 0, -1)}
        corr = c.corr()
        res, _, _ = kr.parse_produce_v3(
            c.request(kr.produce_request_v3(topic, 0, kr.record_batch(recs[:1], base_timestamp=6_000_000), corr), corr))
        assert res == {(topic, 0): (0, 3, -1)}
    got = consume("kafka-python", broker.bootstrap, topic, 4)
    assert [(g.offset, g.key, g.value, g.headers, g.timestamp) for g in got] == [
        (0, b"k0", b"v0", [("h", b"1"), ("h", None)], 5_000_000),
        (1, None, b"v1", [], 5_000_010),
        (2, b"k2", None, [("bin", bytes(range(256)))], 5_000_020),
        (3, b"k0", b"v0", [("h", b"1"), ("h", None)], 6_000_000),
    ]


def test_produce_bad_crc(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    recs = [kr.RawRecord(b"k", b"v%d" % i) for i in range(3)]
    with kr.Conn(broker.bootstrap) as c:
        corr = c.corr()
        res, _, left = kr.parse_produce_v3(
            c.request(kr.produce_request_v3(topic, 0, kr.record_batch(recs, corrupt_crc=True), corr), corr))
        assert left == 0
        assert res == {(topic, 0): (kr.CORRUPT_MESSAGE, -1, -1)}, res
        # same connection still works and nothing was appended
        corr = c.corr()
        res, _, _ = kr.parse_produce_v3(
            c.request(kr.produce_request_v3(topic, 0, kr.record_batch(recs), corr), corr))
        assert res[(topic, 0)][:2] == (0, 0)
    assert end_offset(broker.bootstrap, topic) == (0, 3)


def test_produce_truncated_batch(broker, topic):
    """A batch whose length field claims more bytes than present is refused
    without appending anything. Kafka answers CORRUPT_MESSAGE (2) or, from
    its v3+ "exactly one batch" check, INVALID_RECORD (87)."""
    create_topic(broker.bootstrap, topic, 1)
    good = kr.record_batch([kr.RawRecord(b"k", b"v" * 100)])
    truncated = good[:-30]
    with kr.Conn(broker.bootstrap) as c:
        corr = c.corr()
        res, _, _ = kr.parse_produce_v3(c.request(kr.produce_request_v3(topic, 0, truncated, corr), corr))
        assert res[(topic, 0)][0] in (kr.CORRUPT_MESSAGE, 87), res
    assert end_offset(broker.bootstrap, topic) == (0, 0)


def gzip_batch(records, claimed_count):
    """A gzip RecordBatch (attributes 1) of `records` whose header claims
    `claimed_count` records; the CRC is right, so only looking inside can
    tell a lie."""
    import gzip
    payload = gzip.compress(b"".join(kr.encode_record(r, i) for i, r in enumerate(records)))
    ts = int(time.time() * 1000)
    after_crc = (kr.int16(1) + kr.int32(claimed_count - 1) + kr.int64(ts) + kr.int64(ts) + kr.int64(-1)
                 + kr.int16(-1) + kr.int32(-1) + kr.int32(claimed_count) + payload)
    after_length = kr.int32(-1) + kr.int8(2) + kr.uint32(kr.crc32c(after_crc)) + after_crc
    return kr.int64(0) + kr.int32(len(after_length)) + after_length


def test_produce_compressed_batch_is_checked_inside(broker, topic):
    """Like Kafka's log validator, the broker inflates a compressed batch and
    checks its records: a header claiming more or fewer records than the
    payload holds, or inner offset deltas that skip, is refused (Kafka's
    INVALID_RECORD 87, or CORRUPT_MESSAGE 2 for a payload that ends early)
    and nothing is appended; an honest one is stored."""
    create_topic(broker.bootstrap, topic, 1)
    three = [kr.RawRecord(b"k%d" % i, b"v%d" % i) for i in range(3)]
    skipping = [kr.RawRecord(b"a", b"1"), kr.RawRecord(b"b", b"2", offset_delta=5)]
    lies = [gzip_batch(three, 4), gzip_batch(three, 2), gzip_batch(skipping, 2)]
    with kr.Conn(broker.bootstrap) as c:
        for batch in lies:
            corr = c.corr()
            res, _, _ = kr.parse_produce_v3(c.request(kr.produce_request_v3(topic, 0, batch, corr), corr))
            assert res[(topic, 0)][0] in (kr.CORRUPT_MESSAGE, 87), res
            assert res[(topic, 0)][1:] == (-1, -1), res
        corr = c.corr()
        res, _, _ = kr.parse_produce_v3(c.request(kr.produce_request_v3(topic, 0, gzip_batch(three, 3), corr), corr))
        assert res[(topic, 0)][:2] == (0, 0), res
    # Only the honest batch is in the log.
    assert end_offset(broker.bootstrap, topic) == (0, 3)


def test_produce_unknown_partition(broker, topic):
    create_topic(broker.bootstrap, topic, 2)
    batch = kr.record_batch([kr.RawRecord(b"k", b"v")])
    with kr.Conn(broker.bootstrap) as c:
        for p in (2, 7, 1000):
            corr = c.corr()
            res, _, left = kr.parse_produce_v3(c.request(kr.produce_request_v3(topic, p, batch, corr), corr))
            assert left == 0
            # Kafka answers errors with base_offset -1 and log_append_time -1
            assert res == {(topic, p): (kr.UNKNOWN_TOPIC_OR_PARTITION, -1, -1)}, res
    assert end_offset(broker.bootstrap, topic, 0) == (0, 0)
    assert end_offset(broker.bootstrap, topic, 1) == (0, 0)


def test_produce_acks0_gets_no_response(broker, topic):
    """acks=0: the broker appends but sends no response; the next request on
    the same connection gets the next correlation id."""
    create_topic(broker.bootstrap, topic, 1)
    with kr.Conn(broker.bootstrap) as c:
        c.send_raw(kr.frame(kr.produce_request_v3(topic, 0, kr.record_batch([kr.RawRecord(None, b"a0")]), 77,
                                                  acks=0)))
        corr = 78
        body = c.request(kr.api_versions_request(0, corr), corr)
        assert kr.parse_api_versions_v0(body)[0] == 0
    got = consume("kafka-python", broker.bootstrap, topic, 1)
    assert [(g.offset, g.value) for g in got] == [(0, b"a0")]


def test_pipelined_requests_answered_in_order(broker):
    """Several requests written at once are answered in request order."""
    with kr.Conn(broker.bootstrap) as c:
        payload = b"".join(kr.frame(kr.api_versions_request(v, 100 + i)) for i, v in enumerate([0, 1, 2, 0, 1]))
        c.send_raw(payload)
        corrs = [struct.unpack(">i", c.recv_frame()[:4])[0] for _ in range(5)]
    assert corrs == [100, 101, 102, 103, 104]
