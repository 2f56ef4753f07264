"""Start/stop a StreamHouse broker process for the compat tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 30.0


def broker_binary() -> str:
    env = os.environ.get("STREAMHOUSE_BIN")
    if env:
        return env
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO_ROOT / "target")
    return str(Path(target) / "release" / "streamhouse")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def die_with_parent():
    """preexec_fn: SIGKILL the broker if the test process dies (e.g. killed by
    a pytest-timeout or the CI time limit), so no broker outlives the run."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class BrokerStartError(RuntimeError):
    pass


class Broker:
    """One broker process on 127.0.0.1:<port> with its own data dir.

    .bootstrap     "127.0.0.1:PORT"
    .node_id       the broker's --node-id (default 1; several brokers sharing
                   one metadata store need distinct ids)
    .data_dir      pathlib.Path
    .metrics_url   "http://127.0.0.1:MPORT" (GET .metrics_url + "/metrics")
    .kill9()       SIGKILL, no cleanup
    .restart()     start again on the same port and data dir
    .stop()        SIGTERM, then SIGKILL after a grace period
    """

    def __init__(self, data_dir: Path, log_path: Path, extra_args: list[str] | None = None,
                 binary: str | None = None, node_id: int = 1):
        self.binary = binary or broker_binary()
        self.node_id = int(node_id)
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.extra_args = list(extra_args or [])
        self.port = free_port()
        self.metrics_port = free_port()
        while self.metrics_port == self.port:
            self.metrics_port = free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.metrics_url = "http://127.0.0.1:%d" % self.metrics_port
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.expected_down = True  # until started

    # -- lifecycle --------------------------------------------------------

    def argv(self) -> list[str]:
        return [
            self.binary,
            "--listen", self.bootstrap,
            "--advertised-listener", self.bootstrap,
            "--data-dir", str(self.data_dir),
            "--metrics-listen", "127.0.0.1:%d" % self.metrics_port,
            "--node-id", str(self.node_id),
        ] + self.extra_args

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHOUSE_")}
        env.setdefault("RUST_BACKTRACE", "1")
        return env

    def start(self, timeout: float = READY_TIMEOUT_S):
        if not os.path.exists(self.binary):
            raise BrokerStartError(
                "broker binary %s does not exist (build it with `cargo build --release` "
                "or set STREAMHOUSE_BIN)" % self.binary)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(("\n===== compat: start #%d: %s\n" % (self.starts, " ".join(self.argv()))).encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self._env(),
                                         cwd=str(self.data_dir.parent), preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerStartError("broker exited with code %s before accepting connections; log:\n%s"
                                       % (self.proc.returncode, self.log_tail()))
            if port_accepts(self.port, timeout=0.25):
                self.expected_down = False
                return self
            time.sleep(0.05)
        tail = self.log_tail()
        self._kill()
        raise BrokerStartError("broker did not accept connections on %s within %.0fs; log:\n%s"
                               % (self.bootstrap, timeout, tail))

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def kill9(self):
        """SIGKILL the broker (simulated crash) and wait for it to be gone."""
        assert self.proc is not None
        self.expected_down = True
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, wait up to grace seconds, then SIGKILL. Returns the exit code."""
        self.expected_down = True
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def restart(self, timeout: float = READY_TIMEOUT_S):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        return self.start(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- inspection -------------------------------------------------------

    def log_tail(self, lines: int = 80) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no log)"
        text = data[-256 * 1024:].decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def object_files(self) -> list[Path]:
        root = self.data_dir / "objects"
        if not root.exists():
            return []
        return [p for p in root.rglob("*") if p.is_file()]

    def __repr__(self):
        return "Broker(%s, data_dir=%s)" % (self.bootstrap, self.data_dir)
