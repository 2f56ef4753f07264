#!/usr/bin/env python3
"""Drive one Kafka client library through the broker (via the capture proxy).

    drive_clients.py CLIENT BOOTSTRAP

CLIENT is one of: confluent-kafka, kafka-python, aiokafka (kcat is driven
from capture.sh directly). Each step is bounded by a timeout; a step that
fails is reported on stdout as "STEP-FAILED <client> <step>: <error>" and
the remaining steps still run. Exit status: the number of failed steps
(capped at 100). Records are tiny so the captured frames stay small.
"""

from __future__ import annotations

import asyncio
import sys
import time
import traceback

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
# A fixed CreateTime so that offsets_for_times has something exact to find.
BASE_TS = 1_700_000_000_000
TIMEOUT = 30.0

FAILED: list[str] = []


def step(client, name):
    def wrap(fn):
        def run(*a, **kw):
            t0 = time.monotonic()
            try:
                out = fn(*a, **kw)
                print("ok   %s %-28s %5.2fs %s" % (client, name, time.monotonic() - t0,
                                                    "" if out is None else out), flush=True)
                return out
            except Exception as e:  # noqa: BLE001 - report and go on
                FAILED.append(name)
                print("STEP-FAILED %s %s: %r" % (client, name, e), flush=True)
                traceback.print_exc(limit=3)
                return None
        return run
    return wrap


def records(tag: str, n: int = 3):
    return [(b"k%d" % i, b"%s-%d" % (tag.encode(), i), BASE_TS + i) for i in range(n)]


# ===========================================================================
# confluent-kafka (librdkafka 2.16)


def drive_confluent(b: str):
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

    c = "confluent-kafka"
    topic = "golden-ck"
    admin_topic = "golden-ck-admin"
    admin = AdminClient({"bootstrap.servers": b, "socket.timeout.ms": 30000})

    @step(c, "admin.create_topics")
    def create():
        fs = admin.create_topics([NewTopic(admin_topic, num_partitions=2, replication_factor=1,
                                           config={"retention.ms": "3600000"})],
                                 operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
        fs[admin_topic].result(TIMEOUT)

    @step(c, "admin.describe_cluster")
    def describe():
        d = admin.describe_cluster(request_timeout=TIMEOUT).result(TIMEOUT)
        return "cluster_id=%s controller=%s nodes=%d" % (d.cluster_id, d.controller and d.controller.id, len(d.nodes))

    def produce(codec, idempotent=False):
        @step(c, "produce compression=%s%s" % (codec, " idempotent" if idempotent else ""))
        def run():
            p = Producer({"bootstrap.servers": b, "compression.type": codec or "none", "linger.ms": 5,
                          "acks": "all", "enable.idempotence": idempotent, "message.timeout.ms": 30000})
            errs = []
            for k, v, ts in records("ck-%s" % codec):
                p.produce(topic, value=v, key=k, partition=0, timestamp=ts,
                          on_delivery=lambda err, msg: err and errs.append(err))
            left = p.flush(TIMEOUT)
            assert left == 0 and not errs, "undelivered=%d errors=%r" % (left, errs)
        run()

    @step(c, "consumer assign+consume")
    def consume():
        k = Consumer({"bootstrap.servers": b, "group.id": "golden-ck", "enable.auto.commit": False,
                      "enable.auto.offset.store": False, "fetch.wait.max.ms": 100})
        try:
            k.assign([TopicPartition(topic, 0, 0)])
            got = []
            deadline = time.monotonic() + TIMEOUT
            while len(got) < 18 and time.monotonic() < deadline:
                for m in k.consume(num_messages=100, timeout=0.5):
                    assert not m.error(), m.error()
                    got.append(m)
            assert len(got) == 18, "consumed %d of 18" % len(got)
            found = k.offsets_for_times([TopicPartition(topic, 0, BASE_TS + 1)], timeout=TIMEOUT)
            lo, hi = k.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False)
            return "consumed=%d offsets_for_times(ts+1)=%d watermarks=(%d,%d)" % (
                len(got), found[0].offset, lo, hi)
        finally:
            k.close()

    @step(c, "admin.list_offsets")
    def list_offsets():
        tp = TopicPartition(topic, 0)
        out = []
        for name, spec in [("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest()),
                           ("max_timestamp", OffsetSpec.max_timestamp())]:
            r = admin.list_offsets({tp: spec}, request_timeout=TIMEOUT)[tp].result(TIMEOUT)
            out.append("%s=%d" % (name, r.offset))
        return " ".join(out)

    @step(c, "admin.delete_topics")
    def delete():
        admin.delete_topics([admin_topic], operation_timeout=TIMEOUT, request_timeout=TIMEOUT)[admin_topic].result(TIMEOUT)

    grp = "golden-ck-group"

    @step(c, "group consumer subscribe+commit")
    def group_consume():
        k = Consumer({"bootstrap.servers": b, "group.id": grp, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
                      "heartbeat.interval.ms": 300, "fetch.wait.max.ms": 100})
        try:
            k.subscribe([topic])
            got = []
            deadline = time.monotonic() + TIMEOUT
            while len(got) < 18 and time.monotonic() < deadline:
                for m in k.consume(num_messages=100, timeout=0.5):
                    assert not m.error(), m.error()
                    got.append(m)
            assert len(got) == 18, "consumed %d of 18" % len(got)
            time.sleep(1.0)  # let a heartbeat or two go out
            k.commit(asynchronous=False)
            committed = k.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)
            return "consumed=%d committed=%d" % (len(got), committed[0].offset)
        finally:
            k.close()

    @step(c, "admin groups")
    def groups_admin():
        from confluent_kafka import ConsumerGroupTopicPartitions
        listed = admin.list_consumer_groups(request_timeout=TIMEOUT).result(TIMEOUT)
        names = sorted(g.group_id for g in listed.valid)
        d = admin.describe_consumer_groups([grp], request_timeout=TIMEOUT)[grp].result(TIMEOUT)
        offs = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(grp)],
                                                 request_timeout=TIMEOUT)[grp].result(TIMEOUT)
        altered = admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(grp, [TopicPartition(topic, 0, 5)])],
            request_timeout=TIMEOUT)[grp].result(TIMEOUT)
        admin.delete_consumer_groups([grp], request_timeout=TIMEOUT)[grp].result(TIMEOUT)
        return "groups=%s state=%s offsets=%s altered=%s" % (
            names, d.state, [(p.partition, p.offset) for p in offs.topic_partitions],
            [(p.partition, p.offset, p.error) for p in altered.topic_partitions])

    @step(c, "transactions commit+abort")
    def transactions():
        # Runs after the steps that count the records in `topic`: the
        # transactional records and their markers would change those counts.
        tp = TopicPartition(topic, 0)
        k = Consumer({"bootstrap.servers": b, "group.id": "golden-ck-txn", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                      "session.timeout.ms": 10000, "heartbeat.interval.ms": 300, "fetch.wait.max.ms": 100})
        p = Producer({"bootstrap.servers": b, "transactional.id": "golden-ck-txn", "linger.ms": 5,
                      "transaction.timeout.ms": 60000, "message.timeout.ms": 30000})
        try:
            # Join the group and consume, so that the consumer has a generation and
            # member id to put in the transaction's offset commit.
            k.subscribe([topic])
            got = 0
            deadline = time.monotonic() + TIMEOUT
            while not got and time.monotonic() < deadline:
                for m in k.consume(num_messages=100, timeout=0.5):
                    assert not m.error(), m.error()
                    got += 1
            assert got, "the group consumer read nothing"
            positions = k.position(k.assignment())
            _, start = k.get_watermark_offsets(tp, timeout=TIMEOUT, cached=False)

            p.init_transactions(TIMEOUT)
            p.begin_transaction()
            for key, v, ts in records("ck-txn-commit"):
                p.produce(topic, value=v, key=key, partition=0, timestamp=ts)
            p.send_offsets_to_transaction(positions, k.consumer_group_metadata(), TIMEOUT)
            p.commit_transaction(TIMEOUT)

            p.begin_transaction()
            for key, v, ts in records("ck-txn-abort"):
                p.produce(topic, value=v, key=key, partition=0, timestamp=ts)
            left = p.flush(TIMEOUT)  # the batch reaches the broker before the abort
            assert left == 0, "undelivered=%d" % left
            p.abort_transaction(TIMEOUT)

            committed = k.committed([tp], timeout=TIMEOUT)[0].offset
            sent = [x.offset for x in positions if x.partition == 0 and x.topic == topic]
            assert sent and committed == sent[0], "committed %d, sent %r" % (committed, sent)
        finally:
            k.close()

        # A read_committed reader from where the transactions began sees the
        # committed records only.
        r = Consumer({"bootstrap.servers": b, "group.id": "golden-ck-txn-check", "enable.auto.commit": False,
                      "isolation.level": "read_committed", "enable.partition.eof": True,
                      "fetch.wait.max.ms": 100})
        try:
            r.assign([TopicPartition(topic, 0, start)])
            values, eof = [], False
            deadline = time.monotonic() + TIMEOUT
            while not eof and time.monotonic() < deadline:
                for m in r.consume(num_messages=100, timeout=0.5):
                    if m.error():
                        assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                        eof = len(values) >= 3
                    else:
                        values.append(m.value())
            want = [v for _, v, _ in records("ck-txn-commit")]
            assert values == want, "read_committed got %r" % values
        finally:
            r.close()
        return "from=%d committed_offset=%d read_committed=%d records" % (start, committed, len(values))

    create()
    describe()
    for codec in CODECS:
        produce(codec)
    produce(None, idempotent=True)
    consume()
    list_offsets()
    group_consume()
    groups_admin()
    transactions()
    delete()


# ===========================================================================
# kafka-python 3


def drive_kafka_python(b: str):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic, OffsetSpec

    c = "kafka-python"
    topic = "golden-kp"
    admin_topic = "golden-kp-admin"
    admin = KafkaAdminClient(bootstrap_servers=b, request_timeout_ms=30000)

    @step(c, "admin.create_topics")
    def create():
        r = admin.create_topics([NewTopic(admin_topic, 2, 1, topic_configs={"retention.ms": "3600000"})],
                                raise_errors=False)
        return repr(r)[:200]

    @step(c, "admin.describe_cluster")
    def describe():
        return repr(admin.describe_cluster())[:200]

    def produce(codec):
        @step(c, "produce compression=%s" % codec)
        def run():
            p = KafkaProducer(bootstrap_servers=b, compression_type=codec, linger_ms=5, acks="all",
                              request_timeout_ms=30000, max_block_ms=30000)
            try:
                futs = [p.send(topic, key=k, value=v, partition=0, timestamp_ms=ts)
                        for k, v, ts in records("kp-%s" % codec)]
                p.flush(timeout=TIMEOUT)
                return "offsets=%s" % [f.get(timeout=TIMEOUT).offset for f in futs]
            finally:
                p.close(timeout=10)
        run()

    @step(c, "consumer assign+poll")
    def consume():
        k = KafkaConsumer(bootstrap_servers=b, group_id=None, enable_auto_commit=False,
                          auto_offset_reset="earliest", fetch_max_wait_ms=100, request_timeout_ms=30000)
        try:
            tp = TopicPartition(topic, 0)
            k.assign([tp])
            k.seek_to_beginning(tp)
            got = []
            deadline = time.monotonic() + TIMEOUT
            while len(got) < 15 and time.monotonic() < deadline:
                for msgs in k.poll(timeout_ms=200).values():
                    got += msgs
            assert len(got) == 15, "consumed %d of 15" % len(got)
            found = k.offsets_for_times({tp: BASE_TS + 1})
            beg = k.beginning_offsets([tp])
            end = k.end_offsets([tp])
            return "consumed=%d offsets_for_times(ts+1)=%s begin=%s end=%s" % (
                len(got), found[tp], beg[tp], end[tp])
        finally:
            k.close(autocommit=False)

    @step(c, "admin.list_partition_offsets")
    def list_offsets():
        tp = TopicPartition(topic, 0)
        r = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST})
        r2 = admin.list_partition_offsets({tp: OffsetSpec.LATEST})
        r3 = admin.list_partition_offsets({tp: OffsetSpec.MAX_TIMESTAMP})
        return "earliest=%s latest=%s max_timestamp=%s" % (r[tp], r2[tp], r3[tp])

    @step(c, "admin.delete_topics")
    def delete():
        return repr(admin.delete_topics([admin_topic], raise_errors=False))[:200]

    grp = "golden-kp-group"

    @step(c, "group consumer subscribe+commit")
    def group_consume():
        k = KafkaConsumer(bootstrap_servers=b, group_id=grp, enable_auto_commit=False,
                          auto_offset_reset="earliest", fetch_max_wait_ms=100, request_timeout_ms=30000,
                          session_timeout_ms=10000, heartbeat_interval_ms=300)
        try:
            tp = TopicPartition(topic, 0)
            k.subscribe([topic])
            got = []
            deadline = time.monotonic() + TIMEOUT
            while len(got) < 15 and time.monotonic() < deadline:
                for msgs in k.poll(timeout_ms=200).values():
                    got += msgs
            assert len(got) == 15, "consumed %d of 15" % len(got)
            end = time.monotonic() + 1.0  # let a heartbeat or two go out
            while time.monotonic() < end:
                k.poll(timeout_ms=100)
            k.commit()
            return "consumed=%d committed=%s" % (len(got), k.committed(tp))
        finally:
            k.close(autocommit=False)

    @step(c, "admin groups")
    def groups_admin():
        from kafka.structs import OffsetAndMetadata
        tp = TopicPartition(topic, 0)
        out = ["list=%r" % (admin.list_groups(),)]
        out.append("describe=%r" % (admin.describe_groups([grp]),))
        out.append("offsets=%r" % (admin.list_group_offsets({grp: None}),))
        out.append("alter=%r" % (admin.alter_group_offsets(grp, {tp: OffsetAndMetadata(5, "", -1)}),))
        out.append("delete_offsets=%r" % (admin.delete_group_offsets(grp, [tp]),))
        out.append("delete=%r" % (admin.delete_groups([grp]),))
        return " ".join(x[:160] for x in out)

    @step(c, "transactions commit+abort")
    def transactions():
        # Last of the steps that read `topic` (see confluent-kafka's).
        from kafka.structs import OffsetAndMetadata
        tp = TopicPartition(topic, 0)
        k = KafkaConsumer(bootstrap_servers=b, group_id="golden-kp-txn", enable_auto_commit=False,
                          auto_offset_reset="earliest", isolation_level="read_committed", fetch_max_wait_ms=100,
                          request_timeout_ms=30000, session_timeout_ms=10000, heartbeat_interval_ms=300)
        p = KafkaProducer(bootstrap_servers=b, transactional_id="golden-kp-txn", linger_ms=5,
                          request_timeout_ms=30000, max_block_ms=30000)
        try:
            k.subscribe([topic])
            got = 0
            deadline = time.monotonic() + TIMEOUT
            while not got and time.monotonic() < deadline:
                got += sum(len(msgs) for msgs in k.poll(timeout_ms=200).values())
            assert got, "the group consumer read nothing"
            start = k.end_offsets([tp])[tp]
            position = k.position(tp)

            p.init_transactions()
            p.begin_transaction()
            for key, v, ts in records("kp-txn-commit"):
                p.send(topic, key=key, value=v, partition=0, timestamp_ms=ts)
            p.send_offsets_to_transaction({tp: OffsetAndMetadata(position, "", -1)}, k.group_metadata())
            p.commit_transaction()

            p.begin_transaction()
            for key, v, ts in records("kp-txn-abort"):
                p.send(topic, key=key, value=v, partition=0, timestamp_ms=ts)
            p.flush(timeout=TIMEOUT)
            p.abort_transaction()
            committed = k.committed(tp)
            assert committed == position, "committed %r, sent %r" % (committed, position)
        finally:
            p.close(timeout=10)
            k.close(autocommit=False)

        r = KafkaConsumer(bootstrap_servers=b, group_id=None, enable_auto_commit=False,
                          isolation_level="read_committed", fetch_max_wait_ms=100, request_timeout_ms=30000)
        try:
            r.assign([tp])
            r.seek(tp, start)
            values = []
            deadline = time.monotonic() + TIMEOUT
            while len(values) < 3 and time.monotonic() < deadline:
                for msgs in r.poll(timeout_ms=200).values():
                    values += [m.value for m in msgs]
            for msgs in r.poll(timeout_ms=500).values():  # nothing of the aborted one follows
                values += [m.value for m in msgs]
            want = [v for _, v, _ in records("kp-txn-commit")]
            assert values == want, "read_committed got %r" % values
        finally:
            r.close(autocommit=False)
        return "from=%d committed_offset=%d read_committed=%d records" % (start, committed, len(values))

    create()
    describe()
    for codec in CODECS:
        produce(codec)
    consume()
    list_offsets()
    group_consume()
    @step(c, "admin transactions")
    def transactions_admin():
        # The KIP-664 admin calls, on what the transactions step left behind.
        tp = TopicPartition(topic, 0)
        listed = admin.list_transactions()  # {broker id: [TransactionListing]}
        ids = sorted(t.transactional_id for per_broker in listed.values() for t in per_broker)
        assert "golden-kp-txn" in ids, "list_transactions: %r" % (listed,)
        filtered = admin.list_transactions(state_filters=["Ongoing"], producer_id_filters=[4000],
                                           duration_filter_ms=60000)
        described = admin.describe_transactions(["golden-kp-txn"])["golden-kp-txn"]
        producers = admin.describe_producers([tp])[tp]
        return "listed=%s filtered=%r described=%r producers=%r" % (
            ids, filtered, described, producers)

    groups_admin()
    transactions()
    transactions_admin()
    delete()
    admin.close()


# ===========================================================================
# aiokafka


def drive_aiokafka(b: str):
    c = "aiokafka"
    topic = "golden-aio"
    admin_topic = "golden-aio-admin"

    def arun(coro):
        return asyncio.run(asyncio.wait_for(coro, TIMEOUT + 30))

    def admin(name, op):
        @step(c, name)
        def run():
            from aiokafka.admin import AIOKafkaAdminClient

            async def go():
                a = AIOKafkaAdminClient(bootstrap_servers=b, request_timeout_ms=30000)
                await a.start()
                try:
                    return repr(await op(a))[:200]
                finally:
                    await a.close()
            return arun(go())
        run()

    def create():
        from aiokafka.admin import NewTopic
        admin("admin.create_topics", lambda a: a.create_topics(
            [NewTopic(admin_topic, 2, 1, topic_configs={"retention.ms": "3600000"})]))

    def produce(codec):
        @step(c, "produce compression=%s" % codec)
        def run():
            from aiokafka import AIOKafkaProducer

            async def go():
                p = AIOKafkaProducer(bootstrap_servers=b, compression_type=codec, linger_ms=5, acks="all",
                                     request_timeout_ms=30000)
                await p.start()
                try:
                    futs = [await p.send(topic, key=k, value=v, partition=0, timestamp_ms=ts)
                            for k, v, ts in records("aio-%s" % codec)]
                    return [(await f).offset for f in futs]
                finally:
                    await p.stop()
            return "offsets=%s" % arun(go())
        run()

    @step(c, "produce idempotent")
    def produce_idem():
        from aiokafka import AIOKafkaProducer

        async def go():
            p = AIOKafkaProducer(bootstrap_servers=b, enable_idempotence=True, request_timeout_ms=30000)
            await p.start()
            try:
                md = await (await p.send(topic, key=b"idem", value=b"idem", partition=0, timestamp_ms=BASE_TS + 9))
                return md.offset
            finally:
                await p.stop()
        return "offset=%s" % arun(go())

    @step(c, "consumer assign+getmany")
    def consume():
        from aiokafka import AIOKafkaConsumer, TopicPartition

        async def go():
            k = AIOKafkaConsumer(bootstrap_servers=b, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", fetch_max_wait_ms=100, request_timeout_ms=30000)
            await k.start()
            try:
                tp = TopicPartition(topic, 0)
                k.assign([tp])
                await k.seek_to_beginning(tp)
                got = []
                deadline = time.monotonic() + TIMEOUT
                while len(got) < 16 and time.monotonic() < deadline:
                    for msgs in (await k.getmany(timeout_ms=200)).values():
                        got += msgs
                assert len(got) == 16, "consumed %d of 16" % len(got)
                found = await k.offsets_for_times({tp: BASE_TS + 1})
                beg = await k.beginning_offsets([tp])
                end = await k.end_offsets([tp])
                return "consumed=%d offsets_for_times(ts+1)=%s begin=%s end=%s" % (
                    len(got), found[tp], beg[tp], end[tp])
            finally:
                await k.stop()
        return arun(go())

    grp = "golden-aio-group"

    @step(c, "group consumer subscribe+commit")
    def group_consume():
        from aiokafka import AIOKafkaConsumer, TopicPartition

        async def go():
            k = AIOKafkaConsumer(topic, bootstrap_servers=b, group_id=grp, enable_auto_commit=False,
                                 auto_offset_reset="earliest", fetch_max_wait_ms=100, request_timeout_ms=30000,
                                 session_timeout_ms=10000, heartbeat_interval_ms=300)
            await k.start()
            try:
                got = []
                deadline = time.monotonic() + TIMEOUT
                while len(got) < 16 and time.monotonic() < deadline:
                    for msgs in (await k.getmany(timeout_ms=200)).values():
                        got += msgs
                assert len(got) == 16, "consumed %d of 16" % len(got)
                await asyncio.sleep(1.0)  # let a heartbeat or two go out
                await k.commit()
                return "consumed=%d committed=%s" % (len(got), await k.committed(TopicPartition(topic, 0)))
            finally:
                await k.stop()
        return arun(go())

    @step(c, "transactions commit+abort")
    def transactions():
        # aiokafka names the group by id only (no member metadata), so its
        # TxnOffsetCommit carries no generation or member id.
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
        from aiokafka.structs import OffsetAndMetadata

        async def go():
            tp = TopicPartition(topic, 0)
            r = AIOKafkaConsumer(bootstrap_servers=b, group_id=None, enable_auto_commit=False,
                                 isolation_level="read_committed", fetch_max_wait_ms=100, request_timeout_ms=30000)
            await r.start()
            p = AIOKafkaProducer(bootstrap_servers=b, transactional_id="golden-aio-txn", linger_ms=5,
                                 request_timeout_ms=30000)
            try:
                start = (await r.end_offsets([tp]))[tp]
                await p.start()  # sends InitProducerId for the transactional id
                async with p.transaction():
                    for key, v, ts in records("aio-txn-commit"):
                        await p.send(topic, key=key, value=v, partition=0, timestamp_ms=ts)
                    await p.send_offsets_to_transaction({tp: OffsetAndMetadata(start, "")}, "golden-aio-txn")
                await p.begin_transaction()
                futs = [await p.send(topic, key=key, value=v, partition=0, timestamp_ms=ts)
                        for key, v, ts in records("aio-txn-abort")]
                for f in futs:  # delivered before the abort
                    await f
                await p.abort_transaction()

                r.assign([tp])
                r.seek(tp, start)
                values = []
                deadline = time.monotonic() + TIMEOUT
                while len(values) < 3 and time.monotonic() < deadline:
                    for msgs in (await r.getmany(timeout_ms=200)).values():
                        values += [m.value for m in msgs]
                for msgs in (await r.getmany(timeout_ms=500)).values():
                    values += [m.value for m in msgs]
                want = [v for _, v, _ in records("aio-txn-commit")]
                assert values == want, "read_committed got %r" % values
                return "from=%d read_committed=%d records" % (start, len(values))
            finally:
                await p.stop()
                await r.stop()
        return arun(go())

    create()
    admin("admin.describe_cluster", lambda a: a.describe_cluster())
    for codec in CODECS:
        produce(codec)
    produce_idem()
    consume()
    group_consume()
    transactions()
    admin("admin.find_coordinator", lambda a: a.find_coordinator(grp))
    admin("admin.list_consumer_groups", lambda a: a.list_consumer_groups())
    admin("admin.describe_consumer_groups", lambda a: a.describe_consumer_groups([grp]))
    admin("admin.list_consumer_group_offsets", lambda a: a.list_consumer_group_offsets(grp))
    admin("admin.delete_topics", lambda a: a.delete_topics([admin_topic]))


def main():
    client, bootstrap = sys.argv[1], sys.argv[2]
    fn = {"confluent-kafka": drive_confluent, "kafka-python": drive_kafka_python,
          "aiokafka": drive_aiokafka}[client]
    fn(bootstrap)
    if FAILED:
        print("%s: %d step(s) failed: %s" % (client, len(FAILED), ", ".join(FAILED)), flush=True)
    sys.exit(min(len(FAILED), 100))


if __name__ == "__main__":
    main()
