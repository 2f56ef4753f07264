"""10. kcat (Debian's build, librdkafka 2.0.2): metadata listing, producing
from stdin with a key delimiter and from a file, consuming to end."""

import json
import re
import subprocess


from clients import create_topic
from helpers import KCAT, run_kcat


def kcat(broker, *args, input=None, timeout=60):
    return run_kcat(broker.bootstrap, *args, input=input, timeout=timeout)[0]


def test_kcat_version_is_librdkafka():
    assert KCAT, "kcat is not installed (scripts/test.sh installs it)"
    out = subprocess.run([KCAT, "-V"], capture_output=True, timeout=30).stdout.decode()
    assert "librdkafka" in out


def test_list_metadata(broker, topic):
    create_topic(broker.bootstrap, topic, 3)
    out = kcat(broker, "-L")
    assert re.search(r"^ 1 brokers:$", out, re.M), out
    assert re.search(r"^  broker 1 at 127\.0\.0\.1:%d( \(controller\))?$" % broker.port, out, re.M), out
    assert re.search(r'^  topic "%s" with 3 partitions:$' % re.escape(topic), out, re.M), out
    for p in range(3):
        assert re.search(r"^    partition %d, leader 1, replicas: 1, isrs: 1$" % p, out, re.M), out

    md = json.loads(kcat(broker, "-L", "-J"))
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(1, "127.0.0.1:%d" % broker.port)]
    [t] = [t for t in md["topics"] if t["topic"] == topic]
    assert [(p["partition"], p["leader"]) for p in t["partitions"]] == [(0, 1), (1, 1), (2, 1)]


def test_produce_stdin_with_keys_and_consume(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    lines = ["k%d:value number %d" % (i, i) for i in range(50)]
    kcat(broker, "-P", "-t", topic, "-p", "0", "-K:", input=("\n".join(lines) + "\n").encode())

    out = kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.splitlines() == ["value number %d" % i for i in range(50)]

    out = kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o %k %s\n")
    assert out.splitlines() == ["%d k%d value number %d" % (i, i, i) for i in range(50)]

    # start at an absolute offset
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "45", "-e", "-q", "-f", "%o:%s\n")
    assert out.splitlines() == ["%d:value number %d" % (i, i) for i in range(45, 50)]

    # last N messages (negative offset = relative to the end)
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "-3", "-e", "-q", "-f", "%o\n")
    assert out.splitlines() == ["47", "48", "49"]


def test_produce_from_file(broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, 1)
    f1 = tmp_path / "lines.txt"
    lines = ["line %03d \u00e9\u00e8 some text" % i for i in range(200)]
    f1.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kcat(broker, "-P", "-t", topic, "-p", "0", "-l", str(f1))
    out = kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.splitlines() == lines
    out = kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o %s\n")
    assert out.splitlines() == ["%d %s" % (i, l) for i, l in enumerate(lines)]

    # a second file with compression appends at the next offsets
    f2 = tmp_path / "more.txt"
    more = ["more %d" % i for i in range(20)]
    f2.write_text("\n".join(more) + "\n")
    kcat(broker, "-P", "-t", topic, "-p", "0", "-z", "gzip", "-l", str(f2))
    out = kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o %s\n")
    assert out.splitlines() == ["%d %s" % (i, l) for i, l in enumerate(lines + more)]


def test_produce_autocreated_topic(broker, topic):
    kcat(broker, "-P", "-t", topic, "-K:", input=b"a:1\nb:2\nc:3\n")
    out = kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %o %k=%s\n")
    assert out.splitlines() == ["0 0 a=1", "0 1 b=2", "0 2 c=3"]
