#!/usr/bin/env python3
"""Kafka request-capturing TCP proxy (127.0.0.1 only, bounded runtime).

    capture_proxy.py --listen-port P --broker-port B --client NAME --out DIR
                     [--max-seconds 300] [--per-key 2] [--log FILE]

Sits between one Kafka client and the broker and forwards bytes unchanged in
both directions. Every request frame the client sends is parsed (4-byte size
prefix, then api_key:i16 api_version:i16 correlation_id:i32) and the frame
without its size prefix is written to

    DIR/<client>/<ApiName>-v<version>-<n>.bin      n = 1, 2

keeping only the first --per-key frames of each (api, version). Nothing is
rewritten: the broker must be started with --advertised-listener pointing at
this proxy so that clients come back through it after Metadata.

The proxy also notes, per connection, requests that never got a response
(correlation ids still in flight when either side closed) and which side
closed first; these lines go to stderr (or --log) for the capture report.
It exits by itself after --max-seconds, or on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import struct
import sys
import time

# Names of the API keys as in the Kafka protocol guide; anything a client
# sends that is not listed here is captured as Api<key>.
API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 4: "LeaderAndIsr",
    5: "StopReplica", 6: "UpdateMetadata", 7: "ControlledShutdown", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls",
    32: "DescribeConfigs", 33: "AlterConfigs", 34: "AlterReplicaLogDirs",
    35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    42: "DeleteGroups", 43: "ElectLeaders", 44: "IncrementalAlterConfigs",
    47: "OffsetDelete", 48: "DescribeClientQuotas", 60: "DescribeCluster",
    61: "DescribeProducers", 65: "DescribeTransactions", 66: "ListTransactions",
    68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe",
    71: "GetTelemetrySubscriptions", 72: "PushTelemetry", 75: "DescribeTopicPartitions",
}

MAX_FRAME = 64 * 1024 * 1024


def api_name(key: int) -> str:
    return API_NAMES.get(key, "Api%d" % key)


class Capture:
    def __init__(self, out_dir: str, client: str, per_key: int, log):
        self.dir = os.path.join(out_dir, client)
        os.makedirs(self.dir, exist_ok=True)
        self.per_key = per_key
        self.counts: dict[tuple[int, int], int] = {}
        self.seen: dict[tuple[int, int], int] = {}
        self.log = log

    def request(self, frame: bytes):
        if len(frame) < 8:
            self.log("short request frame of %d bytes" % len(frame))
            return
        key, version = struct.unpack(">hh", frame[:4])
        self.seen[(key, version)] = self.seen.get((key, version), 0) + 1
        n = self.counts.get((key, version), 0)
        if n >= self.per_key:
            return
        n += 1
        self.counts[(key, version)] = n
        path = os.path.join(self.dir, "%s-v%d-%d.bin" % (api_name(key), version, n))
        with open(path, "wb") as f:
            f.write(frame)

    def summary(self) -> str:
        parts = ["%s v%d x%d" % (api_name(k), v, c) for (k, v), c in sorted(self.seen.items())]
        return ", ".join(parts) if parts else "(no requests)"


async def read_frame(reader: asyncio.StreamReader):
    head = await reader.readexactly(4)
    (size,) = struct.unpack(">i", head)
    if size < 0 or size > MAX_FRAME:
        raise ValueError("frame size %d out of range" % size)
    body = await reader.readexactly(size)
    return head, body


async def serve(args, capture: Capture, log):
    conn_ids = iter(range(1, 1 << 30))

    async def handle(client_r, client_w):
        cid = next(conn_ids)
        try:
            broker_r, broker_w = await asyncio.open_connection("127.0.0.1", args.broker_port)
        except OSError as e:
            log("conn %d: cannot reach broker: %s" % (cid, e))
            client_w.close()
            return
        inflight: dict[int, tuple[str, int]] = {}
        closed_by = []

        async def upstream():
            try:
                while True:
                    head, body = await read_frame(client_r)
                    if len(body) >= 8:
                        key, ver, corr = struct.unpack(">hhi", body[:8])
                        inflight[corr] = (api_name(key), ver)
                    capture.request(body)
                    broker_w.write(head + body)
                    await broker_w.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                closed_by.append("client")
            finally:
                try:
                    broker_w.close()
                except Exception:
                    pass

        async def downstream():
            try:
                while True:
                    head, body = await read_frame(broker_r)
                    if len(body) >= 4:
                        (corr,) = struct.unpack(">i", body[:4])
                        inflight.pop(corr, None)
                    client_w.write(head + body)
                    await client_w.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                closed_by.append("broker")
            finally:
                try:
                    client_w.close()
                except Exception:
                    pass

        up = asyncio.ensure_future(upstream())
        down = asyncio.ensure_future(downstream())
        await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        # Give the other direction a moment to deliver what is in flight.
        await asyncio.wait([up, down], timeout=2)
        for t in (up, down):
            t.cancel()
        first = closed_by[0] if closed_by else "proxy"
        if inflight:
            pending = ", ".join("%s v%d corr=%d" % (n, v, c) for c, (n, v) in sorted(inflight.items()))
            log("conn %d: closed by %s with requests unanswered: %s" % (cid, first, pending))
        elif first == "broker":
            log("conn %d: closed by broker (nothing in flight)" % cid)

    server = await asyncio.start_server(handle, "127.0.0.1", args.listen_port, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log("listening on 127.0.0.1:%d -> 127.0.0.1:%d, client %s" % (args.listen_port, args.broker_port, args.client))
    try:
        await asyncio.wait_for(stop.wait(), args.max_seconds)
    except asyncio.TimeoutError:
        log("max runtime of %ss reached, exiting" % args.max_seconds)
    server.close()
    await server.wait_closed()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen-port", type=int, required=True)
    ap.add_argument("--broker-port", type=int, required=True)
    ap.add_argument("--client", required=True, help="subdirectory name for this client's frames")
    ap.add_argument("--out", required=True, help="directory holding one subdirectory per client")
    ap.add_argument("--per-key", type=int, default=2, help="frames kept per (api, version)")
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--log", help="append diagnostics here instead of stderr")
    args = ap.parse_args()

    out = open(args.log, "a") if args.log else sys.stderr

    def log(msg):
        out.write("%s proxy[%s]: %s\n" % (time.strftime("%H:%M:%S"), args.client, msg))
        out.flush()

    capture = Capture(args.out, args.client, args.per_key, log)
    asyncio.run(serve(args, capture, log))
    log("requests seen: " + capture.summary())


if __name__ == "__main__":
    main()
