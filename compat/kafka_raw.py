"""A tiny hand-written Kafka wire-protocol encoder/decoder for raw-socket tests.

Only what the compat tests need: request header v1 (and v2 for flexible
requests), ApiVersions v0 (+ an arbitrary version number), Metadata v4 and
v12, Produce v3, Fetch v4 and v5, and RecordBatch v2 (encoding, and
decoding what a Fetch returns) with a pure-Python CRC-32C.

Everything here is written from the protocol spec (kafka.apache.org/protocol)
and is independent of the client libraries, so it can be used to send frames
that a real client would never send.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

# --------------------------------------------------------------------------
# API keys / error codes used by the tests

PRODUCE = 0
FETCH = 1
LIST_OFFSETS = 2
METADATA = 3
API_VERSIONS = 18
CREATE_TOPICS = 19
DELETE_TOPICS = 20

NONE = 0
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
UNSUPPORTED_VERSION = 35

# --------------------------------------------------------------------------
# CRC-32C (Castagnoli), reflected polynomial 0x82F63B78

_CRC32C_POLY = 0x82F63B78


def _make_crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _CRC32C_POLY if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --------------------------------------------------------------------------
# primitive encoders


def int8(v):
    return struct.pack(">b", v)


def int16(v):
    return struct.pack(">h", v)


def int32(v):
    return struct.pack(">i", v)


def int64(v):
    return struct.pack(">q", v)


def uint32(v):
    return struct.pack(">I", v)


def string(s: str | None) -> bytes:
    """STRING / NULLABLE_STRING: int16 length + utf-8 bytes (-1 = null)."""
    if s is None:
        return int16(-1)
    b = s.encode("utf-8")
    return int16(len(b)) + b


def bytes_(b: bytes | None) -> bytes:
    """BYTES / NULLABLE_BYTES: int32 length + data (-1 = null)."""
    if b is None:
        return int32(-1)
    return int32(len(b)) + b


def array(items: list[bytes]) -> bytes:
    return int32(len(items)) + b"".join(items)


def uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v: int) -> bytes:
    """Zig-zag encoded signed varint (varint / varlong in the spec)."""
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode("utf-8")
    return uvarint(len(b) + 1) + b


# --------------------------------------------------------------------------
# decoding


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("short read at %d (need %d of %d)" % (self.pos, size, len(self.data)))
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return v

    def int8(self):
        return self._take(">b")

    def int16(self):
        return self._take(">h")

    def int32(self):
        return self._take(">i")

    def int64(self):
        return self._take(">q")

    def uint32(self):
        return self._take(">I")

    def raw(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("short read")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def string(self):
        n = self.int16()
        if n < 0:
            return None
        return self.raw(n).decode("utf-8")

    def bytes_(self):
        n = self.int32()
        if n < 0:
            return None
        return self.raw(n)

    def array(self, fn):
        n = self.int32()
        if n < 0:
            return None
        return [fn() for _ in range(n)]

    def uvarint(self):
        shift = 0
        result = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def remaining(self):
        return len(self.data) - self.pos

    # compact (flexible-version) encodings
    def compact_string(self):
        n = self.uvarint()
        if n == 0:
            return None
        return self.raw(n - 1).decode("utf-8")

    def compact_array(self, fn):
        n = self.uvarint()
        if n == 0:
            return None
        return [fn() for _ in range(n - 1)]

    def uuid(self):
        return self.raw(16)

    def tagged_fields(self):
        tags = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            tags[tag] = self.raw(self.uvarint())
        return tags


# --------------------------------------------------------------------------
# RecordBatch v2


@dataclass
class RawRecord:
    key: bytes | None
    value: bytes | None
    headers: list = field(default_factory=list)  # [(str, bytes|None)]
    timestamp_delta: int = 0
    offset_delta: int | None = None  # default: index in batch


def encode_record(rec: RawRecord, index: int) -> bytes:
    body = bytearray()
    body += int8(0)  # attributes (unused)
    body += varint(rec.timestamp_delta)
    body += varint(index if rec.offset_delta is None else rec.offset_delta)
    if rec.key is None:
        body += varint(-1)
    else:
        body += varint(len(rec.key)) + rec.key
    if rec.value is None:
        body += varint(-1)
    else:
        body += varint(len(rec.value)) + rec.value
    body += varint(len(rec.headers))
    for hk, hv in rec.headers:
        hkb = hk.encode("utf-8")
        body += varint(len(hkb)) + hkb
        if hv is None:
            body += varint(-1)
        else:
            body += varint(len(hv)) + hv
    return varint(len(body)) + bytes(body)


def record_batch(records: list[RawRecord], base_offset: int = 0, base_timestamp: int | None = None,
                 attributes: int = 0, producer_id: int = -1, producer_epoch: int = -1,
                 base_sequence: int = -1, partition_leader_epoch: int = -1,
                 corrupt_crc: bool = False) -> bytes:
    """Build an uncompressed RecordBatch (magic 2).

    The CRC-32C covers everything from the attributes field to the end.
    With corrupt_crc=True the stored CRC is deliberately wrong (bit-flipped).
    """
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    recs = b"".join(encode_record(r, i) for i, r in enumerate(records))
    last_offset_delta = max(
        (r.offset_delta if r.offset_delta is not None else i) for i, r in enumerate(records)) if records else 0
    max_ts = base_timestamp + max((r.timestamp_delta for r in records), default=0)
    after_crc = (
        int16(attributes)
        + int32(last_offset_delta)
        + int64(base_timestamp)
        + int64(max_ts)
        + int64(producer_id)
        + int16(producer_epoch)
        + int32(base_sequence)
        + int32(len(records))
        + recs
    )
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0x5A5A5A5A
    # batchLength counts from partitionLeaderEpoch to the end
    after_length = int32(partition_leader_epoch) + int8(2) + uint32(crc) + after_crc
    return int64(base_offset) + int32(len(after_length)) + after_length


def parse_record_batches(data: bytes) -> list[dict]:
    """The complete RecordBatch v2 in data (the records of a Fetch answer; a
    partial batch at the end is left out), each a dict: base_offset,
    last_offset, size (bytes, with the 12-byte offset + length prefix),
    attributes, crc_ok, max_timestamp, producer_id, producer_epoch,
    base_sequence, count, and records [(offset, key, value)] (None for a
    compressed batch)."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if pos + 12 + length > len(data):
            break  # a partial batch at the end of the fetch
        raw = data[pos:pos + 12 + length]
        r = Reader(raw)
        r.int64(), r.int32(), r.int32()  # base offset, length, partition leader epoch
        magic = r.int8()
        assert magic == 2, "batch at offset %d: magic %d" % (base, magic)
        crc = r.uint32()
        attributes = r.int16()
        last_offset_delta = r.int32()
        r.int64()  # base timestamp
        max_timestamp = r.int64()
        producer_id, producer_epoch, base_sequence = r.int64(), r.int16(), r.int32()
        count = r.int32()
        records = None
        if attributes & 0x07 == 0:
            records = []
            for _ in range(count):
                size = r.varint()
                start = r.pos
                r.int8()  # attributes
                r.varint()  # timestamp delta
                delta = r.varint()
                kl = r.varint()
                key = r.raw(kl) if kl >= 0 else None
                vl = r.varint()
                value = r.raw(vl) if vl >= 0 else None
                r.pos = start + size  # headers
                records.append((base + delta, key, value))
        out.append({"base_offset": base, "last_offset": base + last_offset_delta, "size": 12 + length,
                    "attributes": attributes, "crc_ok": crc32c(raw[21:]) == crc,
                    "max_timestamp": max_timestamp, "producer_id": producer_id,
                    "producer_epoch": producer_epoch, "base_sequence": base_sequence, "count": count,
                    "records": records})
        pos += 12 + length
    return out


# --------------------------------------------------------------------------
# requests


def request_header(api_key: int, api_version: int, correlation_id: int,
                   client_id: str | None = "compat-raw", flexible: bool = False) -> bytes:
    """Request header v1 (v2 when flexible: v1 + empty tagged fields)."""
    h = int16(api_key) + int16(api_version) + int32(correlation_id) + string(client_id)
    if flexible:
        h += uvarint(0)
    return h


def frame(payload: bytes) -> bytes:
    return int32(len(payload)) + payload


def api_versions_request(version: int, correlation_id: int) -> bytes:
    """ApiVersions request of any version.

    v0-v2 have an empty body and header v1. v3+ are flexible (header v2) with
    client_software_name / client_software_version; Kafka brokers answer any
    version they do not support with an error in the v0 layout.
    """
    if version >= 3:
        body = compact_string("compat-raw") + compact_string("0.0.1") + uvarint(0)
        return request_header(API_VERSIONS, version, correlation_id, flexible=True) + body
    return request_header(API_VERSIONS, version, correlation_id)


def parse_api_versions_v0(body: bytes):
    """Response body (after correlation id) in v0 layout.

    Returns (error_code, {api_key: (min, max)}, leftover_bytes).
    """
    r = Reader(body)
    err = r.int16()
    apis = {}
    for _ in range(r.int32()):
        k, lo, hi = r.int16(), r.int16(), r.int16()
        apis[k] = (lo, hi)
    return err, apis, r.remaining()


def metadata_request_v4(topics: list[str] | None, allow_auto_topic_creation: bool,
                        correlation_id: int) -> bytes:
    body = (int32(-1) if topics is None else array([string(t) for t in topics]))
    body += int8(1 if allow_auto_topic_creation else 0)
    return request_header(METADATA, 4, correlation_id) + body


def parse_metadata_v4(body: bytes):
    r = Reader(body)
    out = {"throttle_time_ms": r.int32()}
    out["brokers"] = r.array(lambda: {"node_id": r.int32(), "host": r.string(), "port": r.int32(),
                                      "rack": r.string()})
    out["cluster_id"] = r.string()
    out["controller_id"] = r.int32()

    def partition():
        return {"error_code": r.int16(), "partition_index": r.int32(), "leader_id": r.int32(),
                "replica_nodes": r.array(r.int32), "isr_nodes": r.array(r.int32)}

    def topic():
        return {"error_code": r.int16(), "name": r.string(), "is_internal": bool(r.int8()),
                "partitions": r.array(partition)}

    out["topics"] = r.array(topic)
    out["leftover"] = r.remaining()
    return out


def metadata_request_v12(topics: list[str] | None, allow_auto_topic_creation: bool,
                         correlation_id: int) -> bytes:
    """Metadata v12 (flexible, header v2). topics=None asks for all topics."""
    if topics is None:
        body = uvarint(0)  # null compact array
    else:
        body = uvarint(len(topics) + 1) + b"".join(
            b"\x00" * 16 + compact_string(t) + uvarint(0) for t in topics)
    body += int8(1 if allow_auto_topic_creation else 0)  # allow_auto_topic_creation
    body += int8(0)  # include_topic_authorized_operations
    body += uvarint(0)  # tagged fields
    return request_header(METADATA, 12, correlation_id, flexible=True) + body


def parse_metadata_v12(body: bytes):
    """Body after the v1 response header (correlation id + tagged fields)."""
    r = Reader(body)
    out = {"throttle_time_ms": r.int32()}

    def broker():
        b = {"node_id": r.int32(), "host": r.compact_string(), "port": r.int32(), "rack": r.compact_string()}
        r.tagged_fields()
        return b

    out["brokers"] = r.compact_array(broker)
    out["cluster_id"] = r.compact_string()
    out["controller_id"] = r.int32()

    def int32s():
        return r.compact_array(r.int32)

    def partition():
        p = {"error_code": r.int16(), "partition_index": r.int32(), "leader_id": r.int32(),
             "leader_epoch": r.int32(), "replica_nodes": int32s(), "isr_nodes": int32s(),
             "offline_replicas": int32s()}
        r.tagged_fields()
        return p

    def topic():
        t = {"error_code": r.int16(), "name": r.compact_string(), "topic_id": r.uuid(),
             "is_internal": bool(r.int8()), "partitions": r.compact_array(partition),
             "topic_authorized_operations": r.int32()}
        r.tagged_fields()
        return t

    out["topics"] = r.compact_array(topic)
    r.tagged_fields()
    out["leftover"] = r.remaining()
    return out


def produce_request_v3(topic: str, partition: int, records: bytes | None, correlation_id: int,
                       acks: int = -1, timeout_ms: int = 30000) -> bytes:
    body = (
        string(None)  # transactional_id
        + int16(acks)
        + int32(timeout_ms)
        + array([string(topic) + array([int32(partition) + bytes_(records)])])
    )
    return request_header(PRODUCE, 3, correlation_id) + body


def parse_produce_v3(body: bytes):
    """Returns ({(topic, partition): (error_code, base_offset, log_append_time)}, throttle, leftover)."""
    r = Reader(body)
    out = {}
    for _ in range(r.int32()):
        name = r.string()
        for _ in range(r.int32()):
            idx = r.int32()
            err = r.int16()
            base = r.int64()
            lat = r.int64()
            out[(name, idx)] = (err, base, lat)
    throttle = r.int32()
    return out, throttle, r.remaining()


def fetch_request(version: int, topic: str, partition: int, offset: int, correlation_id: int,
                  max_wait_ms: int = 0, min_bytes: int = 0, max_bytes: int = 50 * 1024 * 1024,
                  partition_max_bytes: int = 1024 * 1024) -> bytes:
    """Fetch v4 or v5 (header v1) of one partition, READ_UNCOMMITTED. v5
    adds the partition's log_start_offset (-1, as a consumer sends it)."""
    if version not in (4, 5):
        raise ValueError("Fetch v%d is not implemented" % version)
    part = int32(partition) + int64(offset)
    if version >= 5:
        part += int64(-1)  # log_start_offset
    body = (
        int32(-1)  # replica_id
        + int32(max_wait_ms)
        + int32(min_bytes)
        + int32(max_bytes)
        + int8(0)  # isolation_level READ_UNCOMMITTED
        + array([string(topic) + array([part + int32(partition_max_bytes)])])
    )
    return request_header(FETCH, version, correlation_id) + body


def parse_fetch(body: bytes, version: int):
    """Fetch v4 / v5 response body. Returns {"throttle_time_ms", "partitions":
    {(topic, partition): {error_code, high_watermark, last_stable_offset,
    log_start_offset (v5+, else None), aborted_transactions, records (bytes,
    b"" when null)}}, "leftover"}."""
    r = Reader(body)
    out = {"throttle_time_ms": r.int32(), "partitions": {}}
    for _ in range(r.int32()):
        name = r.string()
        for _ in range(r.int32()):
            idx = r.int32()
            p = {"error_code": r.int16(), "high_watermark": r.int64(), "last_stable_offset": r.int64(),
                 "log_start_offset": r.int64() if version >= 5 else None}
            p["aborted_transactions"] = r.array(lambda: (r.int64(), r.int64()))
            p["records"] = r.bytes_() or b""
            out["partitions"][(name, idx)] = p
    out["leftover"] = r.remaining()
    return out


def fetch_once(bootstrap: str, version: int, topic: str, partition: int, offset: int, **request_kw):
    """One Fetch (fetch_request arguments) on a new connection, which waits
    up to max_wait_ms + 15 s. Returns (parse_fetch answer, seconds from
    sending the request to the answer)."""
    with Conn(bootstrap, timeout=request_kw.get("max_wait_ms", 0) / 1000 + 15) as c:
        corr = c.corr()
        t0 = time.monotonic()
        body = c.request(fetch_request(version, topic, partition, offset, corr, **request_kw), corr)
        elapsed = time.monotonic() - t0
    return parse_fetch(body, version), elapsed


# --------------------------------------------------------------------------
# connection


class Conn:
    """A blocking TCP connection speaking length-prefixed frames."""

    def __init__(self, bootstrap: str, timeout: float = 15.0):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self.next_corr = 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def corr(self) -> int:
        c = self.next_corr
        self.next_corr += 1
        return c

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by broker after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self.recv_exact(4))
        if size < 4 or size > 64 * 1024 * 1024:
            raise ValueError("implausible response frame size %d" % size)
        return self.recv_exact(size)

    def request(self, payload: bytes, expect_corr: int, flexible_response_header: bool = False) -> bytes:
        """Send a request (without size prefix) and return the response body
        after the response header, checking the correlation id."""
        self.send_raw(frame(payload))
        resp = self.recv_frame()
        r = Reader(resp)
        corr = r.int32()
        if corr != expect_corr:
            raise AssertionError("correlation id %d != expected %d" % (corr, expect_corr))
        if flexible_response_header:
            n = r.uvarint()
            assert n == 0, "unexpected tagged fields in response header"
        return resp[r.pos:]

    def wait_closed(self, timeout: float) -> bool:
        """True if the peer closes (EOF or reset) within timeout, while
        discarding anything it sends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
        return False
