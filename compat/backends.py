"""The production backends for tests that run a broker on them: a fresh
PostgreSQL database per test and a fresh S3 key prefix per test.

scripts/test.sh starts a throwaway PostgreSQL and an S3-compatible server
and exports STREAMHOUSE_TEST_POSTGRES_URL, STREAMHOUSE_TEST_S3_BUCKET and
AWS_*. The `pg_url` fixture (conftest.py) wraps fresh_database().

fresh_database(prefix)  context manager: CREATE DATABASE <prefix>_<uuid> on
                        the suite's PostgreSQL, yield its URL, drop it after
s3_args(prefix)         broker flags for objects under s3://<bucket>/<prefix>-<uuid>
sql(url, query)         one query through psql; the unaligned output, stripped
"""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import contextmanager


@contextmanager
def fresh_database(prefix: str = "compat"):
    url = os.environ.get("STREAMHOUSE_TEST_POSTGRES_URL")
    assert url, "STREAMHOUSE_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL"
    db = "%s_%s" % (prefix, uuid.uuid4().hex[:12])
    subprocess.run(["psql", url, "-q", "-c", "CREATE DATABASE %s" % db], check=True, timeout=30)
    base = url.rsplit("/", 1)[0]
    try:
        yield base + "/" + db
    finally:
        subprocess.run(["psql", url, "-q", "-c", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db], timeout=30)


def s3_args(prefix: str = "compat", bucket: str | None = None) -> list[str]:
    """--object-store flags for a new key prefix in `bucket` (default: the
    suite's STREAMHOUSE_TEST_S3_BUCKET, reached through AWS_ENDPOINT_URL)."""
    if bucket is None:
        bucket = os.environ.get("STREAMHOUSE_TEST_S3_BUCKET")
        assert bucket and os.environ.get("AWS_ENDPOINT_URL"), \
            "STREAMHOUSE_TEST_S3_BUCKET / AWS_ENDPOINT_URL not set: run scripts/test.sh, which starts an S3 server"
    return ["--object-store", "s3://%s/%s-%s" % (bucket, prefix, uuid.uuid4().hex[:12]), "--s3-path-style", "true"]


def sql(url: str, query: str) -> str:
    out = subprocess.run(["psql", url, "-At", "-c", query], check=True, capture_output=True, timeout=30)
    return out.stdout.decode().strip()
