"""2. Every compression codec from every producer, read back by every consumer."""

import zlib

import pytest

from clients import CLIENTS, consume, create_topic, produce
from record_sets import payloads

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("codec", CODECS, ids=[c or "none" for c in CODECS])
@pytest.mark.parametrize("producer", CLIENTS)
def test_codec(broker, topic, producer, codec):
    create_topic(broker.bootstrap, topic, 1)
    recs = payloads(zlib.crc32(("%s/%s" % (producer, codec)).encode()))
    # linger so that many records share one compressed batch
    dels = produce(producer, broker.bootstrap, topic, recs, compression=codec, linger_ms=50)
    assert [(d.error, d.offset) for d in dels] == [(None, i) for i in range(100)]
    for consumer in CLIENTS:
        got = consume(consumer, broker.bootstrap, topic, 100, linger=0.3)
        assert [g.offset for g in got] == list(range(100)), consumer
        assert [(g.key, g.value, g.headers, g.timestamp) for g in got] == \
            [(r.key, r.value, r.headers, r.timestamp) for r in recs], consumer
