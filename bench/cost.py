#!/usr/bin/env python3
"""The cost report: $/month at 1, 10 and 100 MB/s, from counted requests.

Runs bench/bench.py once per rate on PostgreSQL + S3 (--backend pg-s3, a fresh
broker each time), takes the requests it counted (S3 PUTs and GETs from the
broker's /metrics, PostgreSQL write transactions from pg_stat) and prices
them at list prices, next to a peer's licence fee per GiB written:

    . /tmp/svc.sh   # any environment exporting the bench's pg-s3 variables
    .venv/bin/python bench/cost.py [--seconds 15] [--rates 1,10,100] [-- extra bench.py args]

Requests scale with the write path's choices, not linearly with the rate
(inline flushes are spilled once a second whatever the rate), which is why
each rate is measured rather than extrapolated. Storage is priced as
--cost-retention-days (7) of the rate, as Kafka's default retention keeps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(rate_mb, seconds, size, extra):
    rate = rate_mb * 1e6 / size
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, str(HERE / "bench.py"), "--start-broker", "--backend", "pg-s3",
               "--rate", "%g" % rate, "--records", str(int(rate * seconds)), "--size", str(size),
               "--json", out.name] + extra
        print("$ " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=seconds * 10 + 300)
        if done.returncode != 0:
            print(done.stdout[-3000:])
            sys.exit("bench.py failed at %g MB/s" % rate_mb)
        return json.load(open(out.name))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="1,10,100", help="MB/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=15.0, help="produce phase per rate")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("extra", nargs="*", help="after --: passed to bench.py")
    args = ap.parse_args()
    rows = []
    for r in [float(x) for x in args.rates.split(",")]:
        res = run(r, args.seconds, args.size, args.extra)
        rows.append((r, res))
    print()
    print("Cost per broker per month at list prices (S3 Standard; metadata writes as one Aurora I/O each)")
    hdr = ("offered", "achieved", "PUTs/s", "S3 PUTs", "S3 GETs", "storage", "metadata", "total",
           "requests/GiB", "peer fee")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r, res in rows:
        c, b = res["cost"], res["broker"]
        print("| %g MB/s | %.1f MB/s | %.2f | $%.2f | $%.2f | $%.2f (%g d) | %s | $%.2f | $%.4f | %s |" % (
            r, c["mb_per_s"], b["s3_puts_per_s"] or 0.0, c["puts"], c["gets"], c["storage"],
            c["retention_days"], "n/a" if c["metadata_writes"] is None else "$%.2f" % c["metadata_writes"],
            c["total"], c["requests_per_gib"] or 0.0,
            "n/a" if not c["peer_fee"] else "$%.2f" % c["peer_fee"]))
    print()
    print("peer fee: licence fee per GiB written (--peer-price-per-gib, default WarpStream BYOC's first tier as")
    print("last published to our knowledge) times the GiB written; the peer's own S3 requests and storage come")
    print("on top of it, as they do here.")


if __name__ == "__main__":
    main()
