#!/usr/bin/env python3
"""StreamHouse produce/consume benchmark (confluent-kafka / librdkafka).

    python bench/bench.py --start-broker              # fresh broker in a temp dir
    python bench/bench.py --bootstrap 127.0.0.1:9092 --data-dir ./data

Creates a topic, produces --records values of --size bytes with --acks,
measures produce throughput (MB/s, records/s) and produce-ack latency
(per-message send -> delivery callback, p50/p99/max; with the default
unlimited rate this includes time queued in librdkafka, use --rate for
latency at a fixed offered load), then consumes
everything back from the beginning and measures consume throughput. If the
broker's data dir is known (--data-dir, or --start-broker), it counts the
object files written under <data-dir>/objects during the run and reports
objects per GB produced.

Run it with the repo's venv (scripts/test.sh creates it):
    .venv/bin/python bench/bench.py --start-broker
Only 127.0.0.1 brokers are expected; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

try:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:  # pragma: no cover
    sys.exit("confluent-kafka is not installed: run scripts/test.sh once (it creates .venv), "
             "then use .venv/bin/python bench/bench.py")


# ---------------------------------------------------------------- broker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25):
            return True
    except OSError:
        return False


def die_with_parent():
    """preexec_fn: the broker gets SIGKILL if this script dies."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class LocalBroker:
    def __init__(self, binary: str, workdir: Path, extra_args: list[str]):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.metrics_port = free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.log_path = workdir / "broker.log"
        self.extra_args = extra_args
        self.proc = None

    def start(self, timeout=30.0):
        if not os.path.exists(self.binary):
            sys.exit("broker binary %s not found: cargo build --release (or set STREAMHOUSE_BIN)" % self.binary)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [self.binary, "--listen", self.bootstrap, "--data-dir", str(self.data_dir),
                "--metrics-listen", "127.0.0.1:%d" % self.metrics_port] + self.extra_args
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHOUSE_")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, cwd=str(self.workdir), preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit("broker exited (rc=%s); log:\n%s" % (self.proc.returncode, self.log_tail()))
            if port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        sys.exit("broker did not accept connections within %.0fs; log:\n%s" % (timeout, self.log_tail()))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


# ---------------------------------------------------------------- objects


def object_files(data_dir: Path | None) -> dict[str, int]:
    if data_dir is None:
        return {}
    root = data_dir / "objects"
    if not root.exists():
        return {}
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            try:
                out[p] = os.path.getsize(p)
            except OSError:
                pass  # deleted meanwhile (GC)
    return out


# ---------------------------------------------------------------- helpers


def pct(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


def create_topic(bootstrap, name, partitions, timeout=60.0):
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                         operation_timeout=30, request_timeout=timeout)
    fs[name].result(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = a.list_topics(topic=name, timeout=10).topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and \
                all(p.leader >= 0 for p in t.partitions.values()):
            return
        time.sleep(0.1)
    sys.exit("topic %s did not become ready" % name)


def run_produce(args, topic):
    conf = {
        "bootstrap.servers": args.bootstrap,
        "acks": args.acks,
        "linger.ms": args.linger_ms,
        "compression.type": args.compression,
        "enable.idempotence": False,
        "message.timeout.ms": int(args.timeout * 1000),
        "queue.buffering.max.messages": 200000,
        "queue.buffering.max.kbytes": 1048576,
        "batch.size": args.batch_size,
        "message.max.bytes": max(1_000_000, args.size + 1024),
    }
    p = Producer(conf)
    rnd = random.Random(42)
    payloads = [rnd.randbytes(args.size) for _ in range(64)]
    n = args.records
    send_ts = [0.0] * n
    lat = []
    errors = []
    last_ack = [0.0]
    perf = time.perf_counter

    def make_cb(i):
        def cb(err, _msg):
            now = perf()
            if err is not None:
                errors.append(str(err))
            else:
                lat.append(now - send_ts[i])
            last_ack[0] = now
        return cb

    deadline = time.monotonic() + args.timeout
    t0 = perf()
    for i in range(n):
        v = payloads[i & 63]
        while True:
            try:
                send_ts[i] = perf()
                p.produce(topic, value=v, on_delivery=make_cb(i))
                break
            except BufferError:
                p.poll(0.005)
                if time.monotonic() > deadline:
                    sys.exit("produce timed out (queue full for %.0fs)" % args.timeout)
        if args.rate > 0:
            # Open-loop pacing: record i+1 is due at t0 + (i+1) / rate. Wait
            # inside poll() so delivery reports are taken as they arrive;
            # sleeping instead would add the sleep to every ack latency.
            due = t0 + (i + 1) / args.rate
            while (ahead := due - perf()) > 0:
                p.poll(ahead)
        elif i % 100 == 0:
            p.poll(0)
    remaining = p.flush(max(1.0, deadline - time.monotonic()))
    t1 = last_ack[0] or perf()
    if remaining:
        sys.exit("%d messages still undelivered after %.0fs" % (remaining, args.timeout))
    lat.sort()
    elapsed = max(t1 - t0, 1e-9)
    return {
        "records": n,
        "acked": len(lat),
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": elapsed,
        "mb_per_s": n * args.size / elapsed / 1e6,
        "records_per_s": n / elapsed,
        "lat_p50_ms": pct(lat, 0.50) * 1000,
        "lat_p99_ms": pct(lat, 0.99) * 1000,
        "lat_max_ms": (lat[-1] * 1000) if lat else float("nan"),
    }


def run_consume(args, topic, expected):
    c = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "bench-" + uuid.uuid4().hex[:8],  # required by librdkafka; only assign() is used
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "fetch.wait.max.ms": 100,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
    })
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(args.partitions)])
        got = 0
        nbytes = 0
        deadline = time.monotonic() + args.timeout
        t0 = time.perf_counter()
        t_last = t0
        while got < expected and time.monotonic() < deadline:
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                got += 1
                nbytes += len(m.value() or b"")
                t_last = time.perf_counter()
        elapsed = max(t_last - t0, 1e-9)
    finally:
        c.close()
    return {"records": got, "bytes": nbytes, "seconds": elapsed, "mb_per_s": nbytes / elapsed / 1e6,
            "records_per_s": got / elapsed, "complete": got == expected}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--start-broker", action="store_true", help="start a fresh broker in a temp dir")
    ap.add_argument("--broker-bin", default=os.environ.get("STREAMHOUSE_BIN")
                    or str(REPO_ROOT / "target" / "release" / "streamhouse"))
    ap.add_argument("--broker-arg", action="append", default=[],
                    help="extra broker flag for --start-broker (repeatable, e.g. --broker-arg=--flush-linger-ms=5)")
    ap.add_argument("--data-dir", help="the broker's data dir, to count objects (implied by --start-broker)")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=1024, help="value size in bytes")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--acks", default="all", choices=["0", "1", "all", "-1"])
    ap.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    ap.add_argument("--linger-ms", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=1_000_000)
    ap.add_argument("--rate", type=float, default=0,
                    help="produce at most this many records/s (0 = as fast as possible; ack latency "
                         "then includes time queued in the client)")
    ap.add_argument("--timeout", type=float, default=600.0, help="bound for each phase, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir of --start-broker")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    args = ap.parse_args()

    broker = None
    tmp = None
    data_dir = Path(args.data_dir) if args.data_dir else None
    if args.start_broker:
        tmp = Path(tempfile.mkdtemp(prefix="streamhouse-bench-"))
        broker = LocalBroker(args.broker_bin, tmp, args.broker_arg)
        broker.start()
        args.bootstrap = broker.bootstrap
        data_dir = broker.data_dir
        print("started broker %s (data %s)" % (broker.bootstrap, data_dir), flush=True)
    host = args.bootstrap.rsplit(":", 1)[0]
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        sys.exit("bench only talks to a broker on this machine (got %s)" % args.bootstrap)

    try:
        topic = "bench-" + uuid.uuid4().hex[:12]
        create_topic(args.bootstrap, topic, args.partitions)
        before = object_files(data_dir)
        print("producing %d x %d B to %s (%d partitions, acks=%s, compression=%s, linger.ms=%d) ..."
              % (args.records, args.size, topic, args.partitions, args.acks, args.compression, args.linger_ms),
              flush=True)
        prod = run_produce(args, topic)
        after = object_files(data_dir)
        print("consuming ...", flush=True)
        cons = run_consume(args, topic, prod["acked"])
    finally:
        if broker:
            broker.stop()

    new_objs = {p: s for p, s in after.items() if p not in before}
    produced_gb = prod["records"] * args.size / 1e9
    objs = {
        "data_dir": str(data_dir) if data_dir else None,
        "objects_written": len(new_objs) if data_dir else None,
        "object_bytes": sum(new_objs.values()) if data_dir else None,
        "objects_per_gb": (len(new_objs) / produced_gb) if data_dir and produced_gb else None,
        "objects_total": len(after) if data_dir else None,
    }

    def row(k, v):
        print("  %-30s %s" % (k, v))

    print()
    print("StreamHouse benchmark (%s, librdkafka %s)" % (args.bootstrap, __import__("confluent_kafka").libversion()[0]))
    print("  " + "-" * 52)
    row("records x size", "%d x %d B = %.1f MB" % (args.records, args.size, args.records * args.size / 1e6))
    row("partitions / acks / codec", "%d / %s / %s" % (args.partitions, args.acks, args.compression))
    row("offered rate", "%s" % ("%.0f records/s" % args.rate if args.rate > 0 else "unlimited"))
    print("  produce " + "-" * 44)
    row("throughput", "%.1f MB/s, %.0f records/s" % (prod["mb_per_s"], prod["records_per_s"]))
    row("ack latency p50 / p99 / max", "%.2f / %.2f / %.2f ms" % (prod["lat_p50_ms"], prod["lat_p99_ms"],
                                                                 prod["lat_max_ms"]))
    row("acknowledged / errors", "%d / %d %s" % (prod["acked"], prod["errors"],
                                                 ("e.g. " + prod["first_errors"][0]) if prod["errors"] else ""))
    row("elapsed", "%.2f s" % prod["seconds"])
    print("  consume " + "-" * 44)
    row("throughput", "%.1f MB/s, %.0f records/s" % (cons["mb_per_s"], cons["records_per_s"]))
    row("records read", "%d of %d%s" % (cons["records"], prod["acked"], "" if cons["complete"] else "  INCOMPLETE"))
    row("elapsed", "%.2f s" % cons["seconds"])
    print("  objects " + "-" * 44)
    if data_dir:
        row("objects written", "%d (%.1f MB)" % (objs["objects_written"], objs["object_bytes"] / 1e6))
        row("objects per GB produced", "%.1f" % objs["objects_per_gb"])
        row("objects in store now", "%d" % objs["objects_total"])
    else:
        row("objects", "n/a (pass --data-dir or --start-broker)")
    print()

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "produce": prod, "consume": cons, "objects": objs}, f, indent=2)

    if tmp and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp:
        print("kept %s" % tmp)
    ok = prod["errors"] == 0 and cons["complete"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
