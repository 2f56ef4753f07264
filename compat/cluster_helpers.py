"""Raw requests to one particular broker of a cluster, and waiting for the
brokers of a cluster to agree (test_41, test_44, test_45).

metadata_v12(bootstrap, topics)      Metadata v12 from that broker, parsed
create_topic_raw(bootstrap, t, n)    CreateTopics v4 sent to that very broker
                                     (an admin client would go to the controller)
wait_until(fn, timeout, what)        polls fn() until truthy; connection errors
                                     while a broker comes or goes count as "not yet"
wait_cluster(brokers, topic, n)      until every broker lists exactly `brokers`
                                     (and `topic` with n partitions, each led)
"""

from __future__ import annotations

import time

import kafka_raw as kr


def metadata_v12(bootstrap, topics=None):
    with kr.Conn(bootstrap, timeout=15) as c:
        corr = c.corr()
        body = c.request(kr.metadata_request_v12(topics, False, corr), corr, flexible_response_header=True)
    return kr.parse_metadata_v12(body)


def create_topic_raw(bootstrap, topic, partitions):
    body = (kr.array([kr.string(topic) + kr.int32(partitions) + kr.int16(1) + kr.array([]) + kr.array([])])
            + kr.int32(15000)  # timeout_ms
            + kr.int8(0))  # validate_only
    with kr.Conn(bootstrap, timeout=20) as c:
        corr = c.corr()
        r = kr.Reader(c.request(kr.request_header(kr.CREATE_TOPICS, 4, corr) + body, corr))
    r.int32()  # throttle
    res = r.array(lambda: (r.string(), r.int16(), r.string()))
    assert [(name, err) for name, err, _msg in res] == [(topic, 0)], "CreateTopics through %s: %r" % (bootstrap, res)


def wait_until(fn, timeout, what, interval=0.05):
    end = time.monotonic() + timeout
    while True:
        try:
            if fn():
                return
        except (OSError, ConnectionError, ValueError):
            pass
        if time.monotonic() > end:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_cluster(brokers, topic=None, partitions=None, timeout=20.0):
    want = {(b.node_id, "127.0.0.1", b.port) for b in brokers}

    def ok():
        for b in brokers:
            md = metadata_v12(b.bootstrap, None if topic is None else [topic])
            if {(x["node_id"], x["host"], x["port"]) for x in md["brokers"]} != want:
                return False
            if topic is not None:
                ts = [t for t in md["topics"] if t["name"] == topic and t["error_code"] == 0]
                if not ts or len([p for p in ts[0]["partitions"] if p["error_code"] == 0]) != partitions:
                    return False
        return True

    wait_until(ok, timeout, "brokers %s to agree on the cluster%s" % (
        [b.node_id for b in brokers], "" if topic is None else " and topic %s" % topic), 0.1)
