"""Record sets shared by the compat tests: the round-trip edge cases and
the per-codec payloads, used with assign()- and group-based consumers."""

import random

from clients import Rec

T0 = 1_700_000_000_000

BIN = bytes(range(256))


def records(producer):
    recs = [
        Rec(key=b"k1", value=b"v1", timestamp=T0),
        Rec(key=None, value=b"null key", timestamp=T0 + 1),
        Rec(key=b"tombstone", value=None, timestamp=T0 + 2),
        Rec(key=b"", value=b"", timestamp=T0 + 3),
        Rec(key=b"", value=None, timestamp=T0 + 4),
        Rec(key=None, value=b"", timestamp=T0 + 5),
        Rec(key=b"hdr", value=b"headers", timestamp=T0 + 6, headers=[
            ("dup", b"first"), ("other", b"x"), ("dup", b"second"), ("bin", BIN),
            ("empty", b""), ("\u00fcnic\u00f8de-\u043a\u043b\u044e\u0447", b"\xf0\x9f\x90\x9b"), ("dup", b"third"),
        ]),
        Rec(key=BIN, value=BIN * 40, timestamp=T0 + 7),
        # timestamps need not be monotonic inside a batch
        Rec(key=b"old", value=b"2001", timestamp=1_000_000_000_000),
        # (1 ms, not 0: librdkafka treats timestamp 0 as "now")
        Rec(key=b"epoch", value=b"one ms", timestamp=1),
        Rec(key=b"late", value=b"v", timestamp=T0 + 10_000_000),
    ]
    if producer != "kafka-python":
        # kafka-python's producer refuses None header values; the others send
        # a header value of length -1.
        recs.append(Rec(key=b"nullhdr", value=b"n", timestamp=T0 + 8,
                        headers=[("a", None), ("b", b"B"), ("a", None), ("c", b"")]))
    return recs


def payloads(seed, partition=0):
    rnd = random.Random(seed)
    out = []
    for i in range(100):
        if i % 3 == 0:
            v = (b"compressible-%d-" % i) * rnd.randint(1, 60)
        elif i % 3 == 1:
            v = rnd.randbytes(rnd.randint(0, 3000))
        else:
            v = bytes([i % 256]) * rnd.randint(1, 5000)
        out.append(Rec(key=b"key-%03d" % i, value=v, headers=[("i", str(i).encode())],
                       timestamp=1_600_000_000_000 + i, partition=partition))
    return out
