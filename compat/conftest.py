"""Fixtures for the real-client compatibility suite.

`broker`         one fresh broker per test module (most tests)
`fresh_broker`   one fresh broker per test (restarts, kill -9)
`broker_factory` start brokers with extra flags (and a node_id=) inside one test
`topic`          a unique topic name (uuid based)
`pg_url`         a fresh database on the suite's PostgreSQL (backends.py),
                 named <PG_DATABASE_PREFIX of the module, default compat>_<uuid>
`js_clients`     the Node.js clients of compat/js, installed (once a session)
`java_client`    the Java driver of compat/java, built (once a session)

Every broker gets a free 127.0.0.1 port, a fresh temp data dir and a metrics
port. When a test fails, the tail of the log of every broker it used is added
to the failure report. After every test each broker that should be running
is checked to still be alive (a crashed broker fails the test).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import backends  # noqa: E402
import helpers  # noqa: E402
from broker import Broker  # noqa: E402

# Brokers currently started and not yet torn down, per owner fixture.
_LIVE: list[Broker] = []


def _new_broker(tmp_path_factory, extra_args=None, node_id=1) -> Broker:
    base = tmp_path_factory.mktemp("broker")
    b = Broker(base / "data", base / "broker.log", extra_args=extra_args, node_id=node_id)
    _LIVE.append(b)
    try:
        b.start()
    except Exception:
        _LIVE.remove(b)
        raise
    return b


def _teardown(b: Broker):
    try:
        b.stop()
    finally:
        if b in _LIVE:
            _LIVE.remove(b)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = _new_broker(tmp_path_factory)
    yield b
    _teardown(b)


@pytest.fixture
def fresh_broker(tmp_path_factory):
    b = _new_broker(tmp_path_factory)
    yield b
    _teardown(b)


@pytest.fixture
def broker_factory(tmp_path_factory):
    started = []

    def start(*extra_args, node_id=1):
        b = _new_broker(tmp_path_factory, list(extra_args), node_id=node_id)
        started.append(b)
        return b

    yield start
    for b in started:
        _teardown(b)


@pytest.fixture
def topic():
    return "compat-" + uuid.uuid4().hex[:16]


@pytest.fixture
def pg_url(request):
    with backends.fresh_database(getattr(request.module, "PG_DATABASE_PREFIX", "compat")) as url:
        yield url


@pytest.fixture(scope="session")
def js_clients():
    """compat/js/install.sh (idempotent: a stamp skips `npm ci`)."""
    helpers.install_js_clients()


@pytest.fixture(scope="session")
def java_client():
    """compat/java/install.sh (idempotent: a stamp skips the build)."""
    helpers.install_java_client()


@pytest.fixture(autouse=True)
def _broker_liveness():
    """After each test: every broker that should be up must still be running."""
    yield
    dead = [b for b in list(_LIVE) if not b.expected_down and not b.alive()]
    for b in dead:
        b.expected_down = True  # report once
    if dead:
        pytest.fail("broker exited unexpectedly during the test: %s\n%s" % (
            ", ".join("%r rc=%s" % (b, b.proc.returncode) for b in dead),
            "\n".join(b.log_tail(60) for b in dead)), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _LIVE:
        for b in list(_LIVE):
            rep.sections.append(("broker log tail %s (%s)" % (b.bootstrap, b.log_path), b.log_tail(80)))
