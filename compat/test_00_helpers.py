"""Self-checks of the suite's own helpers (no broker needed): the pure-Python
CRC-32C, murmur2 and RecordBatch encoder and decoder are checked against
published test vectors and against the client libraries' independent
implementations."""

import struct

import pytest

import kafka_raw
from murmur2 import murmur2, partition_for


def test_crc32c_vectors():
    assert kafka_raw.crc32c(b"") == 0
    assert kafka_raw.crc32c(b"123456789") == 0xE3069283
    assert kafka_raw.crc32c(b"\x00" * 32) == 0x8A9136AA
    assert kafka_raw.crc32c(b"\xff" * 32) == 0x62A8AB43
    from kafka.record._crc32c import crc as kp_crc
    data = bytes(range(256)) * 3
    assert kafka_raw.crc32c(data) == kp_crc(data)


# From Kafka's UtilsTest.testMurmur2
MURMUR2_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("data,expected", list(MURMUR2_VECTORS.items()))
def test_murmur2_java_vectors(data, expected):
    assert murmur2(data) == expected


def test_murmur2_matches_kafka_python():
    from kafka.partitioner.default import murmur2 as kp_murmur2
    for i in range(2000):
        key = ("key-%d" % i).encode() * (i % 5 + 1)
        assert murmur2(key) & 0xFFFFFFFF == kp_murmur2(key) & 0xFFFFFFFF
        assert partition_for(key, 16) == (kp_murmur2(key) & 0x7FFFFFFF) % 16


def test_record_batch_encoder_parses_with_kafka_python():
    from kafka.record.default_records import DefaultRecordBatch
    recs = [
        kafka_raw.RawRecord(b"k0", b"v0", [("h", b"1"), ("h", None)], 0),
        kafka_raw.RawRecord(None, b"v1", [], 5),
        kafka_raw.RawRecord(b"k2", None, [("bin", bytes(range(256)))], 9),
    ]
    raw = kafka_raw.record_batch(recs, base_offset=7, base_timestamp=1_000_000)
    batch = DefaultRecordBatch(raw)
    assert batch.validate_crc()
    assert batch.base_offset == 7
    got = [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch]
    assert got == [
        (7, 1_000_000, b"k0", b"v0", [("h", b"1"), ("h", None)]),
        (8, 1_000_005, None, b"v1", []),
        (9, 1_000_009, b"k2", None, [("bin", bytes(range(256)))]),
    ]
    bad = kafka_raw.record_batch(recs, base_timestamp=1_000_000, corrupt_crc=True)
    assert not DefaultRecordBatch(bad).validate_crc()
    # identical except for the 4 CRC bytes at offset 17..21
    good = kafka_raw.record_batch(recs, base_timestamp=1_000_000)
    assert good[:17] == bad[:17] and good[21:] == bad[21:] and good[17:21] != bad[17:21]


def test_record_batch_decoder_reads_kafka_python_batches():
    from kafka.record.default_records import DefaultRecordBatchBuilder

    def build(base_offset, recs, compression_type=0):
        b = DefaultRecordBatchBuilder(magic=2, compression_type=compression_type, is_transactional=False,
                                      producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
        for i, (key, value, ts) in enumerate(recs):
            b.append(i, timestamp=ts, key=key, value=value, headers=[("h", b"x")])
        raw = bytearray(b.build())
        raw[0:8] = struct.pack(">q", base_offset)  # not covered by the CRC
        return bytes(raw)

    first = build(7, [(b"k0", b"v0", 1_000_000), (None, b"v1", 1_000_005), (b"k2", None, 1_000_009)])
    gzipped = build(10, [(b"z", b"zz" * 100, 2_000_000)], compression_type=1)
    last = build(11, [(b"k3", b"", 3_000_000)])
    got = kafka_raw.parse_record_batches(first + gzipped + last + last[:30])  # + a partial batch
    assert [(b["base_offset"], b["last_offset"], b["size"], b["max_timestamp"], b["crc_ok"], b["attributes"] & 7)
            for b in got] == [(7, 9, len(first), 1_000_009, True, 0), (10, 10, len(gzipped), 2_000_000, True, 1),
                              (11, 11, len(last), 3_000_000, True, 0)]
    assert [b["records"] for b in got] == [[(7, b"k0", b"v0"), (8, None, b"v1"), (9, b"k2", None)], None,
                                           [(11, b"k3", b"")]]
    flipped = bytearray(first)
    flipped[-1] ^= 1
    assert [b["crc_ok"] for b in kafka_raw.parse_record_batches(bytes(flipped))] == [False]


def test_varint_roundtrip():
    for v in [0, 1, -1, 63, -64, 64, 300, -300, 2**31 - 1, -2**31, 2**40]:
        r = kafka_raw.Reader(kafka_raw.varint(v))
        assert r.varint() == v and r.remaining() == 0
