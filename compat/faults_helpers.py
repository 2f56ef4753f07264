"""Helpers for the fault tests (test_42_faults.py): private service
instances, a TCP proxy that can cut or stall a connection path, and small
produce / read-back / memory utilities.

PrivatePostgres  a throwaway PostgreSQL cluster on a free 127.0.0.1 port,
                 started with scripts/services/pg-up.sh; stop() with
                 PostgreSQL's "fast" (SIGINT) or "immediate" (SIGQUIT)
                 shutdown, start() again on the same data directory.
PrivateS3        a moto S3 server on a free port (scripts/services/s3-up.sh),
                 with one bucket.
TcpProxy         127.0.0.1:<port> forwarding to an upstream port; cut()
                 resets every connection and refuses new ones, stall()
                 accepts but forwards nothing (a black hole), restore()
                 goes back to forwarding.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from broker import REPO_ROOT, free_port

import backends
import kafka_raw as kr

SERVICES = REPO_ROOT / "scripts" / "services"

# Produce error codes a Kafka client treats as retriable (the record is not
# persisted; send it again): KAFKA_STORAGE_ERROR, REQUEST_TIMED_OUT,
# NOT_ENOUGH_REPLICAS(_AFTER_APPEND), NOT_LEADER_OR_FOLLOWER,
# LEADER_NOT_AVAILABLE, NETWORK_EXCEPTION.
KAFKA_STORAGE_ERROR = 56
REQUEST_TIMED_OUT = 7
RETRIABLE_PRODUCE_ERRORS = {KAFKA_STORAGE_ERROR, REQUEST_TIMED_OUT, 19, 20, 6, 5, 13}
# Answers after which the record may or may not be in the log (Kafka's
# REQUEST_TIMED_OUT, NETWORK_EXCEPTION); KAFKA_STORAGE_ERROR means "not
# written" and such a record must never show up.
OUTCOME_UNKNOWN_ERRORS = {REQUEST_TIMED_OUT, 13}


def _service_tmpdir(prefix: str) -> Path:
    """A private temp dir the postgres OS user can traverse (pytest's own
    tmp dirs are 0700 root when the suite runs as root)."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    return d


def _run_script(script: str, env: dict, timeout: float) -> str:
    full_env = dict(os.environ)
    full_env.update(env)
    try:
        out = subprocess.run(["bash", str(SERVICES / script)], env=full_env, capture_output=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("%s did not finish within %.0fs: %s" % (script, timeout, e))
    if out.returncode != 0:
        raise AssertionError("%s failed (exit %d):\n%s\n%s" % (
            script, out.returncode, out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")))
    return out.stdout.decode().strip()


# --------------------------------------------------------------------------
# PostgreSQL


class PrivatePostgres:
    def __init__(self):
        self.base = _service_tmpdir("streamhouse-faults-pg-")
        self.pgdata = self.base / "pg"
        self.port = free_port()
        self.url = None
        self.env = {"PGPORT": str(self.port), "PGDATA": str(self.pgdata), "PGDB": "streamhouse",
                    # fsync=off is safe here: only the server process is
                    # stopped or killed, never the machine. Commits are
                    # synchronous, so an immediate shutdown loses nothing.
                    "PG_OPTS": "-c fsync=off"}

    def start(self, timeout: float = 60.0) -> str:
        out = _run_script("pg-up.sh", self.env, timeout)
        url = out.splitlines()[-1] if out else ""
        assert url.startswith("postgres://"), "pg-up.sh printed no URL: %r" % out
        self.url = url
        return url

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, mode: str = "fast", timeout: float = 30.0):
        """fast: SIGINT (sessions are terminated, clean shutdown);
        immediate: SIGQUIT (no shutdown checkpoint, crash recovery on start)."""
        pid = self.postmaster_pid()
        assert pid is not None, "no postmaster.pid in %s" % self.pgdata
        os.kill(pid, {"fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("postmaster %d still running %.0fs after %s shutdown" % (pid, timeout, mode))
        # The port must really be closed: the broker has to see "down".
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", self.port)) != 0, "PostgreSQL port still open after stop"

    def destroy(self):
        try:
            _run_script("pg-down.sh", dict(self.env, PG_WIPE="1"), 60)
        finally:
            subprocess.run(["rm", "-rf", str(self.base)], timeout=60)

    def sql(self, query: str, url: str | None = None) -> str:
        return backends.sql(url or self.url, query)


# --------------------------------------------------------------------------
# S3 (moto)


class PrivateS3:
    def __init__(self, bucket: str = "faults"):
        self.base = _service_tmpdir("streamhouse-faults-s3-")
        self.port = free_port()
        self.bucket = bucket
        venv_bin = str(Path(sys.executable).parent)
        self.env = {"S3PORT": str(self.port), "S3_STATE": str(self.base / "s3"), "S3_IMPL": "moto",
                    "S3_BUCKET": bucket, "S3_PYTHON": sys.executable,
                    "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}

    def start(self, timeout: float = 60.0):
        out = _run_script("s3-up.sh", self.env, timeout)
        assert out.splitlines()[-1] == "http://127.0.0.1:%d" % self.port, out
        return self

    def destroy(self):
        try:
            _run_script("s3-down.sh", dict(self.env, S3_WIPE="1"), 60)
        finally:
            subprocess.run(["rm", "-rf", str(self.base)], timeout=60)

    def client_env(self, endpoint: str) -> dict:
        """AWS_* settings for a broker reaching this server through `endpoint`."""
        return {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "streamhouse",
            "AWS_SECRET_ACCESS_KEY": "streamhouse-secret",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }


# --------------------------------------------------------------------------
# TCP proxy


def _reset(sock: socket.socket):
    """Close with an RST (SO_LINGER 0), as a vanished peer would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class TcpProxy:
    """A single-threaded (selectors) TCP proxy on 127.0.0.1.

    Modes: "up" forwards; "down" has no listener (connection refused) and
    every connection was reset; "stall" accepts connections and reads
    nothing, forwards nothing (a black hole: requests get no answer).
    restore() from "stall" resets the stalled connections, as a network
    partition that ends with broken connections would, then forwards.
    """

    BUF_MAX = 1 << 20

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.mode = "up"
        self._sel = selectors.DefaultSelector()
        self._listener = None
        self._conns = {}  # socket -> state dict (peer, out buffer, held)
        self._lock = threading.Lock()
        self._requests = []  # (mode, Event)
        self._stop = False
        self.accepted = 0
        self._open_listener()
        self._thread = threading.Thread(target=self._loop, name="tcp-proxy-%d" % self.port, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    # -- control (any thread) ---------------------------------------------

    def _set(self, mode: str):
        ev = threading.Event()
        with self._lock:
            self._requests.append((mode, ev))
        if not ev.wait(10):
            raise AssertionError("proxy did not switch to %s" % mode)

    def cut(self):
        self._set("down")

    def stall(self):
        self._set("stall")

    def restore(self):
        self._set("up")

    def close(self):
        self._set("closed")
        self._thread.join(10)

    # -- loop (proxy thread) ------------------------------------------------

    def _open_listener(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                ls.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        ls.listen(128)
        ls.setblocking(False)
        self._listener = ls
        self._sel.register(ls, selectors.EVENT_READ, None)

    def _close_listener(self):
        if self._listener is not None:
            self._sel.unregister(self._listener)
            self._listener.close()
            self._listener = None

    def _drop(self, sock):
        st = self._conns.pop(sock, None)
        if st is None:
            return
        try:
            self._sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        _reset(sock)
        peer = st["peer"]
        if peer is not None and peer in self._conns:
            self._drop(peer)

    def _drop_all(self):
        for s in list(self._conns):
            self._drop(s)

    def _interest(self, sock):
        st = self._conns.get(sock)
        if st is None:
            return
        ev = 0
        if self.mode == "up":
            peer = st["peer"]
            if peer is not None and len(self._conns[peer]["out"]) < self.BUF_MAX:
                ev |= selectors.EVENT_READ
            if st["out"]:
                ev |= selectors.EVENT_WRITE
        try:
            if ev:
                try:
                    self._sel.modify(sock, ev, None)
                except KeyError:
                    self._sel.register(sock, ev, None)
            else:
                self._sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    def _apply(self, mode):
        if mode == "closed":
            self._drop_all()
            self._close_listener()
            self._stop = True
            return
        if mode == "down":
            self._close_listener()
            self._drop_all()
        elif mode == "stall":
            if self._listener is None:
                self._open_listener()
        elif mode == "up":
            if self.mode == "stall":
                self._drop_all()
            if self._listener is None:
                self._open_listener()
        self.mode = mode
        for s in list(self._conns):
            self._interest(s)

    def _accept(self):
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, OSError):
            return
        self.accepted += 1
        if self.mode == "stall":
            client.setblocking(False)
            self._conns[client] = {"peer": None, "out": bytearray()}
            return
        try:
            up = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _reset(client)
            return
        client.setblocking(False)
        up.setblocking(False)
        self._conns[client] = {"peer": up, "out": bytearray()}
        self._conns[up] = {"peer": client, "out": bytearray()}
        self._interest(client)
        self._interest(up)

    def _loop(self):
        while not self._stop:
            with self._lock:
                reqs, self._requests = self._requests, []
            for mode, ev in reqs:
                self._apply(mode)
                ev.set()
            if self._stop:
                break
            if not self._sel.get_map():
                time.sleep(0.05)
                continue
            for key, events in self._sel.select(timeout=0.05):
                sock = key.fileobj
                if sock is self._listener:
                    self._accept()
                    continue
                st = self._conns.get(sock)
                if st is None or self.mode != "up":
                    continue
                if events & selectors.EVENT_WRITE and st["out"]:
                    try:
                        n = sock.send(st["out"])
                        del st["out"][:n]
                    except BlockingIOError:
                        pass
                    except OSError:
                        self._drop(sock)
                        continue
                    self._interest(sock)
                    if st["peer"] is not None:
                        self._interest(st["peer"])
                if events & selectors.EVENT_READ:
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        # Half-closes are not modelled: one side closing
                        # closes both (after what is buffered is lost).
                        self._drop(sock)
                        continue
                    peer = st["peer"]
                    self._conns[peer]["out"] += data
                    self._interest(peer)
                    self._interest(sock)
        self._sel.close()


# --------------------------------------------------------------------------
# produce / read back / memory


class NoResponse(AssertionError):
    pass


def raw_produce(bootstrap: str, topic: str, partition: int, values: list[bytes], wait_s: float,
                timeout_ms: int = 5000):
    """One Produce v3 (acks=all) on a fresh connection.

    Returns (error_code, base_offset, seconds). Raises NoResponse when the
    broker neither answers nor closes within wait_s.
    """
    batch = kr.record_batch([kr.RawRecord(key=None, value=v) for v in values])
    started = time.monotonic()
    try:
        with kr.Conn(bootstrap, timeout=wait_s) as c:
            corr = c.corr()
            body = c.request(kr.produce_request_v3(topic, partition, batch, corr, acks=-1, timeout_ms=timeout_ms),
                             corr)
    except socket.timeout:
        raise NoResponse("no Produce response within %.1fs (broker hung)" % (time.monotonic() - started))
    elapsed = time.monotonic() - started
    results, _, _ = kr.parse_produce_v3(body)
    err, base, _ = results[(topic, partition)]
    return err, base, elapsed


def raw_metadata(bootstrap: str, topic: str, wait_s: float):
    """Metadata v4 for one topic; returns (topic error, [partition errors], seconds)."""
    started = time.monotonic()
    try:
        with kr.Conn(bootstrap, timeout=wait_s) as c:
            corr = c.corr()
            body = c.request(kr.metadata_request_v4([topic], False, corr), corr)
    except socket.timeout:
        raise NoResponse("no Metadata response within %.1fs (broker hung)" % (time.monotonic() - started))
    md = kr.parse_metadata_v4(body)
    t = md["topics"][0]
    return t["error_code"], [p["error_code"] for p in t["partitions"]], time.monotonic() - started


def rss_mib(pid: int) -> float:
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for pid %d" % pid)


class RssSampler:
    """Samples a process's RSS every `every` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid = pid
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(rss_mib(self.pid))
            except (OSError, AssertionError):
                return
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)

    @property
    def peak(self) -> float:
        return max(self.samples) if self.samples else 0.0


def read_partitions(bootstrap: str, topic: str, partitions: int, deadline_s: float = 30.0):
    """Every record of the topic: {(partition, offset): value}, read from
    offset 0 up to each partition's high watermark."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "faults-reader", "enable.auto.commit": False,
                  "auto.offset.reset": "error", "enable.partition.eof": False})
    try:
        highs = {}
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
            assert lo == 0, "partition %d starts at %d, not 0" % (p, lo)
            highs[p] = hi
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got = {}
        want = sum(highs.values())
        end = time.monotonic() + deadline_s
        while len(got) < want and time.monotonic() < end:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, "fetch error: %s" % m.error()
            key = (m.partition(), m.offset())
            assert key not in got, "offset %s delivered twice" % (key,)
            got[key] = m.value()
        assert len(got) == want, "read %d of %d records before the deadline (high watermarks %s)" % (
            len(got), want, highs)
        return got, highs
    finally:
        c.close()
