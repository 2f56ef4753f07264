"""13. Prometheus metrics: after producing, GET <metrics_url>/metrics exposes
the broker's request and bytes-in metrics (names as defined in
src/metrics/mod.rs):

  streamhouse_server_requests_total{api="Produce"}   > 0
  streamhouse_produce_bytes_in_total                 >= the value bytes sent
"""

import re
import urllib.request

from clients import Rec, create_topic, produce

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

REQUESTS = "streamhouse_server_requests_total"
BYTES_IN = "streamhouse_produce_bytes_in_total"


def scrape(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        assert r.status == 200
        text = r.read().decode("utf-8")
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = SAMPLE.match(line.strip())
        assert m, "unparseable metrics line: %r" % line
        labels = dict(LABEL.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return text, samples


def test_metrics_after_produce(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    recs = [Rec(key=b"m%d" % i, value=b"x" * 1000, partition=0) for i in range(10)]
    dels = produce("confluent-kafka", broker.bootstrap, topic, recs, flush_each=True)
    assert [d.error for d in dels] == [None] * 10

    text, samples = scrape(broker.metrics_url)
    names = sorted({n for n, _, _ in samples if n.startswith("streamhouse_")})
    assert names, "no streamhouse_ metrics exposed:\n%s" % text[:3000]
    assert REQUESTS in names, names
    assert BYTES_IN in names, names

    produce_requests = [v for n, l, v in samples if n == REQUESTS and l.get("api") == "Produce"]
    assert len(produce_requests) == 1, [s for s in samples if s[0] == REQUESTS]
    assert produce_requests[0] > 0

    [bytes_in] = [v for n, _l, v in samples if n == BYTES_IN]
    assert bytes_in >= 10 * 1000, "bytes in %s < the 10,000 value bytes produced" % bytes_in

    # TYPE lines: both are counters
    assert re.search(r"^# TYPE %s counter$" % REQUESTS, text, re.M), text[:2000]
    assert re.search(r"^# TYPE %s counter$" % BYTES_IN, text, re.M), text[:2000]
