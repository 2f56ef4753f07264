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

End-to-end latency (--e2e): a consumer thread, assigned to every partition at
its end offset before producing starts, reads while the producer runs; each
value carries the producer's clock (perf_counter_ns, 8 bytes big-endian) taken
just before produce(), so latency = time the consumer receives the message -
time produce() was called. Meaningful with --rate (fixed offered load):
    .venv/bin/python bench/bench.py --start-broker --rate 1000 --records 15000 --e2e --linger-ms 0

Transactions (--txn-records N): the producer is transactional and sends the
records in transactions of N (begin, produce N, commit); reported: committed
transactions per second and commit_transaction() latency p50/p99 (the
coordinator's markers are written before EndTxn is answered). The consume
phase reads with librdkafka's default isolation, read_committed:
    .venv/bin/python bench/bench.py --start-broker --records 20000 --txn-records 100

Broker-side figures: the broker's Prometheus /metrics (started with
--metrics-listen by --start-broker; otherwise pass --metrics-url) is scraped
before and after the produce phase, and the deltas are reported: flushes,
objects and bytes written, metadata commits (per flush: must be 1.0), S3 PUTs
(per second, per GB, per flush; S3 metrics exist only with an s3:// object
store), mean flush / PUT / commit latency, and how many PUTs and commits
took over 50 ms and 200 ms (where latency stalls come from), hedged requests
sent and won, flushes committed ahead of a slower one and PUT-budget waits
(docs/design/0005). With --pg-url, PostgreSQL's
pg_stat_database.xact_commit is read the same way (all transactions of that
database: flush commits, but also broker heartbeats and reads), the WAL bytes
written per produced byte, and the inline_objects table's churn with the time
one VACUUM of it takes afterwards.

Cost: $/month at the measured rate, from the counted S3 PUTs and GETs,
PostgreSQL write transactions and 7 days of storage at list prices (the
--price-* flags), next to a peer's licence fee per GiB written
(--peer-price-per-gib); bench/cost.py runs this at 1, 10 and 100 MB/s.

Object-store latency (--latency-model s3-standard|s3-express, --latency-seed):
the broker delays every object-store request as the model says
(object_store/latency.rs), to measure tails as on a cloud store.

PostgreSQL + S3 in one command (--backend pg-s3): creates a fresh database
bench_<id> next to $STREAMHOUSE_TEST_POSTGRES_URL and uses the prefix
s3://$STREAMHOUSE_TEST_S3_BUCKET/bench-<id> (endpoint and credentials from the
AWS_* environment, path-style addressing when AWS_ENDPOINT_URL/AWS_ENDPOINT is
set); both are removed afterwards unless --keep:
    . /tmp/svc.sh   # or any environment exporting those variables
    .venv/bin/python bench/bench.py --start-broker --backend pg-s3 --records 200000
The same by hand, with --broker-arg (AWS_* must be set for S3):
    .venv/bin/python bench/bench.py --start-broker \\
        --broker-arg=--metadata --broker-arg=postgres://USER:PASS@127.0.0.1:5432/benchdb \\
        --broker-arg=--object-store --broker-arg=s3://streamhouse/bench-XYZ \\
        --broker-arg=--s3-path-style --broker-arg=true \\
        --pg-url postgres://USER:PASS@127.0.0.1:5432/benchdb
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
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


# ---------------------------------------------------------------- broker metrics


SAMPLE_RE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Scrape:
    """One read of a Prometheus text endpoint: (name, labels, value) samples."""

    def __init__(self, samples):
        self.samples = samples

    @classmethod
    def of(cls, url, timeout=5.0):
        """None (and a warning) when the endpoint cannot be read."""
        if not url:
            return None
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                text = r.read().decode("utf-8", "replace")
        except OSError as e:
            print("warning: cannot read broker metrics at %s: %s" % (url, e), flush=True)
            return None
        samples = []
        for line in text.splitlines():
            m = SAMPLE_RE.match(line)
            if m and not line.startswith("#"):
                try:
                    samples.append((m.group(1), dict(LABEL_RE.findall(m.group(2) or "")), float(m.group(3))))
                except ValueError:
                    pass
        return cls(samples)

    def get(self, name, **labels):
        """Sum of the series called name whose labels include the given ones."""
        return sum(v for n, l, v in self.samples
                   if n == name and all(l.get(k) == want for k, want in labels.items()))


def broker_deltas(before: Scrape | None, after: Scrape | None, produced_bytes, seconds):
    """Counters over the produce phase and the figures derived from them."""
    if before is None or after is None:
        return None

    def d(name, **labels):
        return after.get(name, **labels) - before.get(name, **labels)

    def ratio(a, b):
        return a / b if b else None

    gb = produced_bytes / 1e9
    flushes = d("streamhouse_writer_flush_duration_seconds_count")
    commits = d("streamhouse_metadata_commit_duration_seconds_count")
    puts = d("streamhouse_s3_requests_total", operation="put")
    put_errors = puts - d("streamhouse_s3_requests_total", operation="put", outcome="ok")
    objects = d("streamhouse_writer_objects_written_total")
    return {
        "flushes": flushes,
        "objects_written": objects,
        "object_bytes": d("streamhouse_writer_object_bytes_written_total"),
        "metadata_commits": commits,
        "commits_per_flush": ratio(commits, flushes),
        # Only S3 object stores count requests; merges and GC also PUT/DELETE.
        "s3_puts": puts,
        "s3_put_errors": put_errors,
        "s3_puts_per_s": ratio(puts, seconds),
        "s3_puts_per_gb": ratio(puts, gb),
        "s3_puts_per_flush": ratio(puts, flushes),
        "s3_requests": d("streamhouse_s3_requests_total"),
        "s3_gets": d("streamhouse_s3_requests_total", operation="get"),
        "s3_gets_per_s": ratio(d("streamhouse_s3_requests_total", operation="get"), seconds),
        # Hedged requests and flushes committed ahead of a slow one
        # (docs/design/0005-write-path-tails.md), and the PUT budget.
        "hedges_sent": {op: d("streamhouse_object_hedges_sent_total", op=op) for op in ("put", "get")},
        "hedges_won": {op: d("streamhouse_object_hedges_won_total", op=op) for op in ("put", "get")},
        "committed_ahead": d("streamhouse_writer_flushes_committed_ahead_total"),
        "budget_waits": d("streamhouse_object_put_budget_waits_total"),
        "objects_per_gb": ratio(objects, gb),
        # Small flushes committed in the metadata store, and the objects
        # spills gathered them into (docs/design/0004-inline-flushes.md).
        "inline_flushes": d("streamhouse_writer_inline_flushes_total"),
        "inline_bytes": d("streamhouse_writer_inline_bytes_total"),
        "spill_objects": d("streamhouse_spill_objects_total"),
        "spill_bytes": d("streamhouse_spill_bytes_total"),
        "mean_flush_s": ratio(d("streamhouse_writer_flush_duration_seconds_sum"), flushes),
        "mean_put_s": ratio(d("streamhouse_writer_object_put_duration_seconds_sum"),
                            d("streamhouse_writer_object_put_duration_seconds_count")),
        "mean_commit_s": ratio(d("streamhouse_metadata_commit_duration_seconds_sum"), commits),
        "mean_flush_bytes": ratio(d("streamhouse_writer_flush_size_bytes_sum"), flushes),
        "mean_flush_batches": ratio(d("streamhouse_writer_flush_batches_sum"), flushes),
        "heartbeats": d("streamhouse_cluster_heartbeat_duration_seconds_count"),
        # Stalls hide in the tail, not the mean: how many PUTs and commits
        # took longer than 50 ms and 200 ms (from the histogram buckets).
        "slow_puts": slow_counts(d, "streamhouse_writer_object_put_duration_seconds"),
        "slow_commits": slow_counts(d, "streamhouse_metadata_commit_duration_seconds"),
        # The S3 requests themselves (each attempt as the SDK saw it, without
        # a latency model's delay): tells a slow server from a slow broker.
        "slow_s3_requests": slow_counts(d, "streamhouse_s3_request_duration_seconds"),
    }


SLOW_BOUNDS = ("0.05", "0.2")


# List prices used by the cost report (override with the --price-* flags).
S3_PUT_PER_1000 = 0.005        # S3 Standard PUT/COPY/POST/LIST, us-east-1
S3_GET_PER_1000 = 0.0004       # S3 Standard GET/SELECT
S3_GB_MONTH = 0.023            # S3 Standard storage, first 50 TB
METADATA_WRITE_PER_MILLION = 0.20  # one Aurora I/O per write transaction: a floor
SECONDS_PER_MONTH = 30 * 86400


def cost_report(args, mb_per_s, bm, pg, seconds):
    """$/month at the measured rate, from the counted requests."""
    if not bm or not mb_per_s:
        return None
    month = SECONDS_PER_MONTH
    gib_month = mb_per_s * 1e6 * month / 2**30
    puts = (bm["s3_puts_per_s"] or 0.0) * month * args.price_put_per_1000 / 1000
    gets = (bm["s3_gets_per_s"] or 0.0) * month * args.price_get_per_1000 / 1000
    storage = mb_per_s * 1e6 * args.cost_retention_days * 86400 / 1e9 * args.price_gb_month
    meta = None
    if pg and seconds:
        meta = pg["write_transactions"] / seconds * month * args.price_metadata_write_per_million / 1e6
    requests = puts + gets + (meta or 0.0)
    return {"mb_per_s": mb_per_s, "gib_written_per_month": gib_month, "puts": puts, "gets": gets,
            "storage": storage, "retention_days": args.cost_retention_days, "metadata_writes": meta,
            "total": requests + storage, "requests_per_gib": requests / gib_month if gib_month else None,
            "peer_price_per_gib": args.peer_price_per_gib,
            "peer_fee": args.peer_price_per_gib * gib_month if args.peer_price_per_gib else None}


def slow_counts(d, histogram):
    """{bound: observations above it} over the phase, from the cumulative
    buckets (count - bucket{le=bound})."""
    total = d(histogram + "_count")
    return {b: total - d(histogram + "_bucket", le=b) for b in SLOW_BOUNDS}


# ---------------------------------------------------------------- postgres / s3


def mask(url):
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url or "")


def psql(url, sql, timeout=30.0):
    """Runs one statement with psql; returns its unaligned output."""
    try:
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                           capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, PGCONNECT_TIMEOUT="10"))
    except FileNotFoundError:
        sys.exit("psql not found (needed for --pg-url / --backend pg-s3)")
    except subprocess.TimeoutExpired:
        raise RuntimeError("psql timed out after %.0fs: %s" % (timeout, sql))
    if r.returncode != 0:
        raise RuntimeError("psql failed on %s: %s" % (mask(url), r.stderr.strip()))
    return r.stdout.strip()


def pg_inline_table(url):
    """The inline_objects table and its TOAST table, after a run: inserts,
    deletes, dead rows, autovacuum runs and size; then one VACUUM of it,
    timed (what the table's churn costs PostgreSQL), or None."""
    if not url:
        return None
    try:
        out = psql(url, "SELECT sum(n_tup_ins), sum(n_tup_del), sum(n_dead_tup), sum(autovacuum_count), "
                        "pg_total_relation_size('inline_objects') FROM pg_stat_all_tables "
                        "WHERE relid = 'inline_objects'::regclass "
                        "OR relid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'inline_objects'::regclass)")
        ins, dels, dead, autovacuums, size = (int(x or 0) for x in out.split("|"))
        started = time.perf_counter()
        psql(url, "VACUUM inline_objects", timeout=120)
        vacuum_s = time.perf_counter() - started
        return {"inserted": ins, "deleted": dels, "dead": dead, "autovacuums": autovacuums,
                "size_bytes": size, "vacuum_s": vacuum_s}
    except (RuntimeError, ValueError) as e:
        print("warning: cannot read inline_objects statistics: %s" % e, flush=True)
        return None


def pg_counters(url):
    """(xact_commit of the database, next transaction id of the cluster, WAL
    position of the cluster in bytes), or None.

    xact_commit counts every committed transaction of the database (reads too),
    but a backend publishes it lazily: at most once a second while busy and up
    to PG_STATS_SETTLE_S after it went idle. The next xid is exact and immediate
    but cluster-wide, and only counts transactions that wrote."""
    if not url:
        return None
    try:
        out = psql(url, "SELECT xact_commit, pg_snapshot_xmax(pg_current_snapshot()), "
                        "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint "
                        "FROM pg_stat_database WHERE datname = current_database()")
        commits, next_xid, wal = out.split("|")
        return int(commits), int(next_xid), int(wal)
    except (RuntimeError, ValueError) as e:
        print("warning: cannot read pg_stat_database: %s" % e, flush=True)
        return None


PG_STATS_SETTLE_S = 11.0  # PostgreSQL's PGSTAT_IDLE_INTERVAL (10 s) + margin


class PgS3Backend:
    """A fresh PostgreSQL database and S3 prefix for one --start-broker run."""

    def __init__(self):
        self.admin_url = os.environ.get("STREAMHOUSE_TEST_POSTGRES_URL")
        self.bucket = os.environ.get("STREAMHOUSE_TEST_S3_BUCKET")
        if not self.admin_url or not self.bucket:
            sys.exit("--backend pg-s3 needs STREAMHOUSE_TEST_POSTGRES_URL and STREAMHOUSE_TEST_S3_BUCKET "
                     "(and AWS_* for the S3 endpoint and credentials)")
        tag = uuid.uuid4().hex[:12]
        self.db = "bench_" + tag
        self.prefix = "bench-" + tag
        self.pg_url = urllib.parse.urlunsplit(urllib.parse.urlsplit(self.admin_url)._replace(path="/" + self.db))
        self.created = False

    def create(self):
        psql(self.admin_url, "CREATE DATABASE %s" % self.db)
        self.created = True

    def broker_args(self):
        args = ["--metadata", self.pg_url, "--object-store", "s3://%s/%s" % (self.bucket, self.prefix)]
        if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT"):
            args += ["--s3-path-style", "true"]  # MinIO / moto style endpoints
        return args

    def describe(self):
        return "PostgreSQL %s + s3://%s/%s" % (mask(self.pg_url), self.bucket, self.prefix)

    def drop(self):
        """Best effort: the database (after the broker stopped) and the objects under the prefix."""
        if self.created:
            try:
                psql(self.admin_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db)
            except RuntimeError as e:
                print("warning: %s" % e)
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            print("note: boto3 not installed, objects under s3://%s/%s are left" % (self.bucket, self.prefix))
            return
        try:
            endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT")
            s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(
                s3={"addressing_style": "path" if endpoint else "auto"},
                connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}))
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + "/"):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        except Exception as e:  # cleanup must not hide the results
            print("warning: could not delete s3://%s/%s: %s" % (self.bucket, self.prefix, e))


# ---------------------------------------------------------------- cpu


def host_cpu():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v) - v[3] - v[4], sum(v)  # idle, iowait
    except (OSError, ValueError, IndexError):
        return None


def proc_cpu_seconds(pid):
    """user + system CPU seconds of a process, from /proc/<pid>/stat."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """CPU used during a phase: the whole host, the broker (if started here) and this client."""

    def __init__(self, broker_pid=None):
        self.broker_pid = broker_pid
        self.start = self._read()

    def _read(self):
        t = os.times()
        return (time.perf_counter(), host_cpu(), proc_cpu_seconds(self.broker_pid) if self.broker_pid else None,
                t.user + t.system)

    def stop(self):
        (w0, h0, b0, c0), (w1, h1, b1, c1) = self.start, self._read()
        wall = max(w1 - w0, 1e-9)
        return {
            "cores": os.cpu_count(),
            "host_busy_pct": (100.0 * (h1[0] - h0[0]) / max(h1[1] - h0[1], 1)) if h0 and h1 else None,
            "broker_cpu_s": (b1 - b0) if b0 is not None and b1 is not None else None,
            "broker_cores": ((b1 - b0) / wall) if b0 is not None and b1 is not None else None,
            "client_cpu_s": c1 - c0,
            "client_cores": (c1 - c0) / wall,
        }


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


STAMP = struct.Struct(">q")  # --e2e: perf_counter_ns() at produce(), first 8 bytes of each value


class E2EConsumer(threading.Thread):
    """Reads the topic while it is being produced and measures, per message,
    the time it is handed to this consumer minus the time produce() was called
    (the stamp in the value; same process, so the same monotonic clock)."""

    def __init__(self, args, topic):
        super().__init__(name="e2e-consumer", daemon=True)
        self.args = args
        self.topic = topic
        self.ready = threading.Event()  # assigned, fetching
        self.expected = None  # set by finish(): records the producer got acked
        self.stop_at = time.monotonic() + 2 * args.timeout + 60
        self.lat_ns = []
        self.received = 0
        self.errors = []

    def finish(self, expected, grace=30.0):
        """The producer is done: stop once expected records arrived, or after grace seconds."""
        self.expected = expected
        self.stop_at = min(self.stop_at, time.monotonic() + min(grace, self.args.timeout))

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by result()
            self.errors.append("%s: %s" % (type(e).__name__, e))
        finally:
            self.ready.set()

    def _run(self):
        c = Consumer({
            "bootstrap.servers": self.args.bootstrap,
            "group.id": "bench-e2e-" + uuid.uuid4().hex[:8],  # only assign() is used
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "fetch.wait.max.ms": 5,
            "fetch.min.bytes": 1,
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
        })
        try:
            # Explicit end offsets (not OFFSET_END, which is resolved later and
            # could skip the first records produced).
            tps = []
            for p in range(self.args.partitions):
                _low, high = c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
                tps.append(TopicPartition(self.topic, p, high))
            c.assign(tps)
            # poll(), not consume(n, timeout): consume() holds the messages
            # until it has n of them or the timeout expires, which would be
            # added to the latency.
            warm_until = time.monotonic() + 1.0  # let the fetchers connect before the clock matters
            while time.monotonic() < warm_until:
                self._take(c.poll(0.1))
            self.ready.set()
            while time.monotonic() < self.stop_at:
                if self.expected is not None and self.received >= self.expected:
                    break
                self._take(c.poll(0.05))
        finally:
            c.close()

    def _take(self, m):
        if m is None:
            return
        now = time.perf_counter_ns()
        if m.error():
            self.errors.append(str(m.error()))
            return
        v = m.value()
        if v is not None and len(v) >= STAMP.size:
            self.lat_ns.append(now - STAMP.unpack_from(v)[0])
        self.received += 1

    def result(self):
        lat = sorted(self.lat_ns)
        return {
            "received": self.received,
            "expected": self.expected,
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "lat_p50_ms": pct(lat, 0.50) / 1e6,
            "lat_p99_ms": pct(lat, 0.99) / 1e6,
            "lat_max_ms": (lat[-1] / 1e6) if lat else float("nan"),
        }


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
    txn = args.txn_records > 0
    if txn:
        conf.update({"transactional.id": "bench-" + uuid.uuid4().hex[:8], "enable.idempotence": True,
                     "transaction.timeout.ms": max(60_000, conf["message.timeout.ms"])})
    p = Producer(conf)
    commit_lat = []
    if txn:
        p.init_transactions(args.timeout)
        p.begin_transaction()
    rnd = random.Random(42)
    payloads = [rnd.randbytes(args.size) for _ in range(64)]
    n = args.records
    send_ts = [0.0] * n
    lat = []
    by_second = {}  # second of the run the record was sent in -> its ack latencies
    errors = []
    last_ack = [0.0]
    perf = time.perf_counter
    stamp = args.e2e

    def make_cb(i):
        def cb(err, _msg):
            now = perf()
            if err is not None:
                errors.append(str(err))
            else:
                lat.append(now - send_ts[i])
                by_second.setdefault(int(send_ts[i] - t0), []).append(now - send_ts[i])
            last_ack[0] = now
        return cb

    deadline = time.monotonic() + args.timeout
    t0 = perf()
    for i in range(n):
        v = payloads[i & 63]
        while True:
            try:
                if stamp:
                    ns = time.perf_counter_ns()  # the clock perf() reads
                    send_ts[i] = ns / 1e9
                    v = STAMP.pack(ns) + payloads[i & 63][STAMP.size:]
                else:
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
            # poll() truncates its timeout to whole milliseconds, so a wait
            # under 1 ms would be poll(0) in a busy loop that takes a whole
            # core from the broker: wait at least 1 ms (the schedule is
            # absolute, so a record sent late does not shift the next ones).
            due = t0 + (i + 1) / args.rate
            while (ahead := due - perf()) > 0:
                p.poll(max(ahead, 0.001))
        elif i % 100 == 0:
            p.poll(0)
        if txn and ((i + 1) % args.txn_records == 0 or i + 1 == n):
            c0 = perf()
            p.commit_transaction(max(1.0, deadline - time.monotonic()))
            commit_lat.append(perf() - c0)
            if i + 1 < n:
                p.begin_transaction()
    remaining = p.flush(max(1.0, deadline - time.monotonic()))
    t1 = last_ack[0] or perf()
    if remaining:
        sys.exit("%d messages still undelivered after %.0fs" % (remaining, args.timeout))
    lat.sort()
    commit_lat.sort()
    elapsed = max(t1 - t0, 1e-9)
    # Where the tail comes from: the seconds with the slowest acks.
    worst = sorted(((max(v), s, len(v)) for s, v in by_second.items()), reverse=True)[:3]
    return {
        "transactions": len(commit_lat),
        "txns_per_s": len(commit_lat) / elapsed,
        "commit_p50_ms": pct(commit_lat, 0.50) * 1000 if commit_lat else None,
        "commit_p99_ms": pct(commit_lat, 0.99) * 1000 if commit_lat else None,
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
        "worst_seconds": [{"second": s, "max_ms": m * 1000, "acks": k} for m, s, k in worst],
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
    ap.add_argument("--latency-model", choices=["s3-standard", "s3-express"],
                    help="with --start-broker: delay every object-store request as that store would "
                         "(the broker's --object-store-latency-model; seeded, see --latency-seed)")
    ap.add_argument("--latency-seed", type=int, default=1)
    ap.add_argument("--broker-arg", action="append", default=[],
                    help="extra broker flag for --start-broker (repeatable, e.g. --broker-arg=--flush-linger-ms=5)")
    ap.add_argument("--backend", default="embedded", choices=["embedded", "pg-s3"],
                    help="with --start-broker: embedded SQLite + local files (default), or a fresh PostgreSQL "
                         "database and S3 prefix from STREAMHOUSE_TEST_POSTGRES_URL / STREAMHOUSE_TEST_S3_BUCKET")
    ap.add_argument("--data-dir", help="the broker's data dir, to count objects (implied by --start-broker)")
    ap.add_argument("--metrics-url", help="the broker's Prometheus endpoint, e.g. http://127.0.0.1:9093/metrics "
                                          "(implied by --start-broker)")
    ap.add_argument("--pg-url", help="the broker's PostgreSQL database, to count its transactions (psql; "
                                     "implied by --backend pg-s3)")
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
    ap.add_argument("--txn-records", type=int, default=0,
                    help="transactional producer: commit a transaction every N records (0: not transactional)")
    ap.add_argument("--e2e", action="store_true",
                    help="measure end-to-end latency (produce() -> consumer) with a consumer reading "
                         "concurrently; use with --rate")
    ap.add_argument("--timeout", type=float, default=600.0, help="bound for each phase, seconds")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temp dir of --start-broker (and the database and S3 prefix of --backend pg-s3)")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    ap.add_argument("--price-put-per-1000", type=float, default=S3_PUT_PER_1000)
    ap.add_argument("--price-get-per-1000", type=float, default=S3_GET_PER_1000)
    ap.add_argument("--price-gb-month", type=float, default=S3_GB_MONTH)
    ap.add_argument("--price-metadata-write-per-million", type=float, default=METADATA_WRITE_PER_MILLION)
    ap.add_argument("--cost-retention-days", type=float, default=7.0,
                    help="storage in the cost report: this many days of the produced rate (Kafka's default 7)")
    ap.add_argument("--peer-price-per-gib", type=float, default=0.055,
                    help="a peer's licence fee per GiB written, for comparison (default: WarpStream BYOC's "
                         "first tier as last published to our knowledge; check the live price list)")
    args = ap.parse_args()
    if args.e2e and args.size < STAMP.size:
        sys.exit("--e2e needs --size >= %d (the send time is carried in the value)" % STAMP.size)
    if args.backend != "embedded" and not args.start_broker:
        sys.exit("--backend needs --start-broker")

    broker = None
    backend = None
    tmp = None
    data_dir = Path(args.data_dir) if args.data_dir else None
    metrics_url = args.metrics_url
    pg_url = args.pg_url
    broker_args = list(args.broker_arg)
    if args.latency_model:
        broker_args += ["--object-store-latency-model", args.latency_model,
                        "--object-store-latency-seed", str(args.latency_seed)]
    try:
        if args.backend == "pg-s3":
            backend = PgS3Backend()
            backend.create()
            broker_args = backend.broker_args() + broker_args
            pg_url = pg_url or backend.pg_url
        if args.start_broker:
            tmp = Path(tempfile.mkdtemp(prefix="streamhouse-bench-"))
            broker = LocalBroker(args.broker_bin, tmp, broker_args)
            broker.start()
            args.bootstrap = broker.bootstrap
            data_dir = broker.data_dir
            metrics_url = metrics_url or "http://127.0.0.1:%d/metrics" % broker.metrics_port
            print("started broker %s (data %s%s)" % (broker.bootstrap, data_dir,
                                                      "; " + backend.describe() if backend else ""), flush=True)
        host = args.bootstrap.rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            sys.exit("bench only talks to a broker on this machine (got %s)" % args.bootstrap)
        # Object files can only be counted for a local object store.
        if any("s3://" in a for a in broker_args):
            data_dir = None

        topic = "bench-" + uuid.uuid4().hex[:12]
        create_topic(args.bootstrap, topic, args.partitions)
        e2e = None
        if args.e2e:
            e2e = E2EConsumer(args, topic)
            e2e.start()
            if not e2e.ready.wait(60) or e2e.errors:
                sys.exit("e2e consumer did not start: %s" % (e2e.errors[:1] or "timeout"))
        if pg_url:
            time.sleep(PG_STATS_SETTLE_S)  # let the topic creation's transactions be published first
        before = object_files(data_dir)
        metrics_before = Scrape.of(metrics_url)
        pg_before = pg_counters(pg_url)
        cpu = CpuMeter(broker.proc.pid if broker else None)
        print("producing %d x %d B to %s (%d partitions, acks=%s, compression=%s, linger.ms=%d%s) ..."
              % (args.records, args.size, topic, args.partitions, args.acks, args.compression, args.linger_ms,
                 ", e2e consumer running" if e2e else ""), flush=True)
        prod = run_produce(args, topic)
        cpu = cpu.stop()
        if e2e:
            e2e.finish(prod["acked"])
            e2e.join(min(args.timeout, 30.0) + 15)
            e2e_res = e2e.result()
        after = object_files(data_dir)
        metrics_after = Scrape.of(metrics_url)
        if pg_url:
            print("waiting %.0f s for PostgreSQL's statistics ..." % PG_STATS_SETTLE_S, flush=True)
            time.sleep(PG_STATS_SETTLE_S)
        pg_after = pg_counters(pg_url)
        metrics_settled = Scrape.of(metrics_url) if pg_url else None  # same window as pg_after
        inline_table = pg_inline_table(pg_url)
        print("consuming ...", flush=True)
        cons = run_consume(args, topic, prod["acked"])
    finally:
        if broker:
            broker.stop()
        if backend and not args.keep:
            backend.drop()

    new_objs = {p: s for p, s in after.items() if p not in before}
    produced_bytes = prod["records"] * args.size
    produced_gb = produced_bytes / 1e9
    objs = {
        "data_dir": str(data_dir) if data_dir else None,
        "objects_written": len(new_objs) if data_dir else None,
        "object_bytes": sum(new_objs.values()) if data_dir else None,
        "objects_per_gb": (len(new_objs) / produced_gb) if data_dir and produced_gb else None,
        "objects_total": len(after) if data_dir else None,
    }
    bm = broker_deltas(metrics_before, metrics_after, produced_bytes, prod["seconds"])
    pg = None
    if pg_before and pg_after:
        window = broker_deltas(metrics_before, metrics_settled, produced_bytes, prod["seconds"])
        flushes = window["flushes"] if window else 0
        xacts = pg_after[0] - pg_before[0] - 1  # less the first psql's own SELECT
        writes = pg_after[1] - pg_before[1]
        wal = pg_after[2] - pg_before[2]
        pg = {"transactions": xacts,
              # WAL written per produced byte: the metadata store's write
              # amplification (cluster-wide; inline flushes put the data
              # itself into the WAL until it is spilled).
              "wal_bytes": wal,
              "inline_table": inline_table,
              "wal_per_produced_byte": wal / produced_bytes if produced_bytes else None,
              "per_flush": (xacts / flushes) if flushes else None,
              "write_transactions": writes,
              "writes_per_flush": (writes / flushes) if flushes else None,
              "flushes": flushes if window else None,
              "heartbeats": window["heartbeats"] if window else None}

    def row(k, v):
        print("  %-30s %s" % (k, v))

    def fmt(v, spec="%.2f", unit=""):
        return "n/a" if v is None else (spec % v) + unit

    print()
    print("StreamHouse benchmark (%s, librdkafka %s)" % (args.bootstrap, __import__("confluent_kafka").libversion()[0]))
    print("  " + "-" * 52)
    row("records x size", "%d x %d B = %.1f MB" % (args.records, args.size, args.records * args.size / 1e6))
    row("partitions / acks / codec", "%d / %s / %s" % (args.partitions, args.acks, args.compression))
    row("offered rate", "%s" % ("%.0f records/s" % args.rate if args.rate > 0 else "unlimited"))
    if backend:
        row("backend", backend.describe())
        if args.latency_model:
            row("object-store latency model", "%s (seed %d)" % (args.latency_model, args.latency_seed))
    print("  produce " + "-" * 44)
    row("throughput", "%.1f MB/s, %.0f records/s" % (prod["mb_per_s"], prod["records_per_s"]))
    row("ack latency p50 / p99 / max", "%.2f / %.2f / %.2f ms" % (prod["lat_p50_ms"], prod["lat_p99_ms"],
                                                                 prod["lat_max_ms"]))
    if prod["worst_seconds"]:
        row("slowest seconds (max ack)", ", ".join("%ds: %.1f ms" % (w["second"], w["max_ms"])
                                                   for w in prod["worst_seconds"]))
    row("acknowledged / errors", "%d / %d %s" % (prod["acked"], prod["errors"],
                                                 ("e.g. " + prod["first_errors"][0]) if prod["errors"] else ""))
    row("elapsed", "%.2f s" % prod["seconds"])
    if prod["transactions"]:
        row("transactions of %d records" % args.txn_records,
            "%d committed, %.1f/s" % (prod["transactions"], prod["txns_per_s"]))
        row("commit latency p50 / p99", "%.2f / %.2f ms" % (prod["commit_p50_ms"], prod["commit_p99_ms"]))
    if e2e:
        print("  end-to-end (produce() -> consumer) " + "-" * 17)
        row("latency p50 / p99 / max", "%.2f / %.2f / %.2f ms" % (e2e_res["lat_p50_ms"], e2e_res["lat_p99_ms"],
                                                                 e2e_res["lat_max_ms"]))
        row("records received", "%d of %d%s" % (e2e_res["received"], prod["acked"],
                                                "" if e2e_res["received"] >= prod["acked"] else "  INCOMPLETE"))
        if e2e_res["errors"]:
            row("errors", "%d, e.g. %s" % (e2e_res["errors"], e2e_res["first_errors"][0]))
    print("  consume " + "-" * 44)
    row("throughput", "%.1f MB/s, %.0f records/s" % (cons["mb_per_s"], cons["records_per_s"]))
    row("records read", "%d of %d%s" % (cons["records"], prod["acked"], "" if cons["complete"] else "  INCOMPLETE"))
    row("elapsed", "%.2f s" % cons["seconds"])
    print("  objects " + "-" * 44)
    if data_dir:
        row("objects written", "%d (%.1f MB)" % (objs["objects_written"], objs["object_bytes"] / 1e6))
        row("objects per GB produced", "%.1f" % objs["objects_per_gb"])
        row("objects in store now", "%d" % objs["objects_total"])
    elif any("s3://" in a for a in broker_args):
        row("object files", "n/a (S3 object store: see the broker figures)")
    else:
        row("objects", "n/a (pass --data-dir or --start-broker)")
    print("  broker, produce phase (/metrics deltas) " + "-" * 12)
    if bm:
        row("flushes / objects written", "%d / %d (%.1f MB)" % (bm["flushes"], bm["objects_written"],
                                                                bm["object_bytes"] / 1e6))
        row("objects per GB produced", fmt(bm["objects_per_gb"], "%.1f"))
        row("inline flushes / spill objects", "%d (%.1f MB) / %d (%.1f MB)"
            % (bm["inline_flushes"], bm["inline_bytes"] / 1e6, bm["spill_objects"], bm["spill_bytes"] / 1e6))
        row("metadata commits per flush", "%s (%d commits)" % (fmt(bm["commits_per_flush"], "%.3f"),
                                                               bm["metadata_commits"]))
        if bm["s3_requests"]:
            row("S3 PUTs", "%d (%s/s, %s per GB, %s per flush)%s"
                % (bm["s3_puts"], fmt(bm["s3_puts_per_s"], "%.1f"), fmt(bm["s3_puts_per_gb"], "%.1f"),
                   fmt(bm["s3_puts_per_flush"], "%.3f"),
                   "  %d FAILED" % bm["s3_put_errors"] if bm["s3_put_errors"] else ""))
        else:
            row("S3 PUTs", "n/a (no S3 requests: local object store)")
        row("mean flush / PUT / commit", "%s / %s / %s" % (fmt(ms(bm["mean_flush_s"]), "%.2f"),
                                                           fmt(ms(bm["mean_put_s"]), "%.2f"),
                                                           fmt(ms(bm["mean_commit_s"]), "%.2f", " ms")))
        row("mean flush size / batches", "%s / %s" % (fmt(kb(bm["mean_flush_bytes"]), "%.1f", " KB"),
                                                      fmt(bm["mean_flush_batches"], "%.1f")))
        row("PUTs / commits > 50 ms", "%d / %d" % (bm["slow_puts"]["0.05"], bm["slow_commits"]["0.05"]))
        row("PUTs / commits > 200 ms", "%d / %d" % (bm["slow_puts"]["0.2"], bm["slow_commits"]["0.2"]))
        row("S3 requests > 50 / 200 ms", "%d / %d (as the SDK saw them, without the latency model)"
            % (bm["slow_s3_requests"]["0.05"], bm["slow_s3_requests"]["0.2"]))
        row("hedges sent / won (PUT, GET)", "%d / %d, %d / %d" % (bm["hedges_sent"]["put"], bm["hedges_won"]["put"],
                                                                bm["hedges_sent"]["get"], bm["hedges_won"]["get"]))
        row("committed ahead / budget waits", "%d / %d" % (bm["committed_ahead"], bm["budget_waits"]))
    else:
        row("metrics", "n/a (pass --metrics-url or --start-broker)")
    if pg:
        print("  postgresql, produce phase " + "-" * 26)
        row("transactions (xact_commit)", "%d (%s per flush)" % (pg["transactions"], fmt(pg["per_flush"], "%.2f")))
        row("write transactions (xids)", "%d (%s per flush)" % (pg["write_transactions"],
                                                               fmt(pg["writes_per_flush"], "%.2f")))
        row("flushes / broker heartbeats", "%s / %s" % (fmt(pg["flushes"], "%d"), fmt(pg["heartbeats"], "%d")))
        row("WAL written", "%.1f MB (%s per produced byte)" % (pg["wal_bytes"] / 1e6,
                                                             fmt(pg["wal_per_produced_byte"], "%.2f")))
        it = pg["inline_table"]
        if it:
            row("inline_objects rows in / out", "%d / %d (incl. TOAST; %d dead, %d autovacuums)"
                % (it["inserted"], it["deleted"], it["dead"], it["autovacuums"]))
            row("inline_objects size / VACUUM", "%.1f MB / %.0f ms" % (it["size_bytes"] / 1e6, it["vacuum_s"] * 1000))
        print("    (xact_commit: all of the database's transactions, i.e. flush commits, heartbeats")
        print("     and reads; xids: the cluster's writing transactions; window: produce phase")
        print("     + %.0f s for PostgreSQL to publish its statistics)" % PG_STATS_SETTLE_S)
    cost = cost_report(args, prod["mb_per_s"], bm, pg, prod["seconds"])
    if cost:
        print("  cost per month at %.1f MB/s (list prices) " % cost["mb_per_s"] + "-" * 9)
        row("S3 PUTs / GETs", "$%.2f / $%.2f" % (cost["puts"], cost["gets"]))
        row("S3 storage (%g days retained)" % cost["retention_days"], "$%.2f" % cost["storage"])
        row("metadata writes", fmt(cost["metadata_writes"], "$%.2f") +
            ("" if cost["metadata_writes"] is not None else " (PostgreSQL only)"))
        row("requests per GiB written", fmt(cost["requests_per_gib"], "$%.4f"))
        if cost["peer_fee"]:
            row("peer licence fee alone", "$%.2f ($%.3f/GiB written, before its S3 bill)"
                % (cost["peer_fee"], cost["peer_price_per_gib"]))
    print("  cpu, produce phase " + "-" * 33)
    row("host busy", "%s of %d cores" % (fmt(cpu["host_busy_pct"], "%.0f", "%"), cpu["cores"] or 0))
    row("broker / bench client", "%s / %s cores" % (fmt(cpu["broker_cores"], "%.2f"), fmt(cpu["client_cores"], "%.2f")))
    if cpu["host_busy_pct"] is not None and cpu["broker_cores"] is not None:
        others = cpu["host_busy_pct"] / 100 * (cpu["cores"] or 1) - cpu["broker_cores"] - cpu["client_cores"]
        row("everything else", "%.2f cores (PostgreSQL, S3 server, other jobs)" % max(others, 0.0))
    print()

    if args.json:
        out_args = dict(vars(args), pg_url=mask(pg_url) if pg_url else None)
        with open(args.json, "w") as f:
            json.dump({"args": out_args, "backend": backend.describe() if backend else "embedded",
                       "produce": prod, "end_to_end": e2e_res if e2e else None, "consume": cons,
                       "objects": objs, "broker": bm, "postgres": pg, "cpu": cpu, "cost": cost}, f, indent=2)

    if tmp and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp:
        print("kept %s%s" % (tmp, " and " + backend.describe() if backend else ""))
    ok = prod["errors"] == 0 and cons["complete"] and (not e2e or e2e_res["received"] >= prod["acked"])
    sys.exit(0 if ok else 1)


def ms(seconds):
    return None if seconds is None else seconds * 1000


def kb(nbytes):
    return None if nbytes is None else nbytes / 1e3


if __name__ == "__main__":
    main()
