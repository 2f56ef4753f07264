// The official Java client (org.apache.kafka:kafka-clients) against a
// StreamHouse broker, for compat/test_46_java_client.py.
//
//   java -cp "target/java-compat.jar:target/lib/*" JavaCompat SCENARIO BOOTSTRAP key=value...
//
// Runs one scenario and prints ONE JSON line on stdout: {"ok": true|false,
// "scenario", "client_version", ...results}; on an unexpected exception
// {"ok": false, "error": {...}, "step": ...} and exit code 1. The client's
// own log (log4j2, WARN and up; -Djavacompat.log=DEBUG for more) and our
// progress lines go to stderr. Every blocking call has a bound: client
// timeouts (request.timeout.ms, max.block.ms, default.api.timeout.ms,
// delivery.timeout.ms), Future.get(timeout) and poll loops with deadlines.
//
// Scenarios (arguments after BOOTSTRAP, see each method):
//   produce_consume  topic= group= n= partitions= [group_protocol=classic|consumer]
//   admin            topic= group= group_topic= active_group=
//   transactions     topic= tid=
//   eos              input= output= group= tid= n=
//   fencing          topic= tid=
//   txn_admin        topic= tid=

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeProducersResult.PartitionProducerState;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;

public final class JavaCompat {
    static final long GET_TIMEOUT_S = 30;
    static final int REQUEST_TIMEOUT_MS = 15000;

    static String bootstrap;
    static Map<String, String> args = new HashMap<>();
    static String step = "start";
    static final Map<String, Object> out = new LinkedHashMap<>();

    public static void main(String[] argv) {
        if (argv.length == 1 && argv[0].equals("--version")) {
            System.out.println("kafka-clients " + AppInfoParser.getVersion() + " (commit " + AppInfoParser.getCommitId()
                + "), java " + System.getProperty("java.version"));
            return;
        }
        if (argv.length < 2) {
            System.err.println("usage: JavaCompat SCENARIO BOOTSTRAP [key=value...]");
            System.exit(2);
        }
        String scenario = argv[0];
        bootstrap = argv[1];
        for (int i = 2; i < argv.length; i++) {
            int eq = argv[i].indexOf('=');
            if (eq < 0) {
                System.err.println("bad argument (want key=value): " + argv[i]);
                System.exit(2);
            }
            args.put(argv[i].substring(0, eq), argv[i].substring(eq + 1));
        }
        out.put("ok", false);
        out.put("scenario", scenario);
        out.put("client_version", AppInfoParser.getVersion());
        int rc = 0;
        try {
            switch (scenario) {
                case "produce_consume": produceConsume(); break;
                case "admin": admin(); break;
                case "transactions": transactions(); break;
                case "eos": eos(); break;
                case "fencing": fencing(); break;
                case "txn_admin": txnAdmin(); break;
                default: throw new IllegalArgumentException("unknown scenario " + scenario);
            }
            out.put("ok", true);
        } catch (Throwable t) {
            log("FAILED at step '" + step + "': " + t);
            t.printStackTrace(System.err);
            out.put("step", step);
            out.put("error", error(t));
            rc = 1;
        }
        System.out.println(Json.write(out));
        System.out.flush();
        System.err.flush();
        // Client threads are all closed by now; exit anyway so a stuck
        // non-daemon thread can never keep the JVM alive.
        Runtime.getRuntime().halt(rc);
    }

    // ------------------------------------------------------------------ helpers

    static void log(String msg) {
        System.err.println("[JavaCompat " + java.time.LocalTime.now() + "] " + msg);
    }

    static void step(String s) {
        step = s;
        log("step: " + s);
    }

    static String arg(String k) {
        String v = args.get(k);
        if (v == null) throw new IllegalArgumentException("missing argument " + k + "=");
        return v;
    }

    static int intArg(String k) {
        return Integer.parseInt(arg(k));
    }

    /** An exception as JSON: class, message and the chain of causes. */
    static Map<String, Object> error(Throwable t) {
        Map<String, Object> e = new LinkedHashMap<>();
        Throwable root = t;
        if (root instanceof ExecutionException && root.getCause() != null) root = root.getCause();
        e.put("class", root.getClass().getName());
        e.put("message", String.valueOf(root.getMessage()));
        List<String> chain = new ArrayList<>();
        for (Throwable c = t; c != null && chain.size() < 8; c = c.getCause()) {
            chain.add(c.getClass().getName() + ": " + c.getMessage());
            if (c.getCause() == c) break;
        }
        e.put("chain", chain);
        return e;
    }

    static Properties common(String clientId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", clientId);
        p.put("request.timeout.ms", String.valueOf(REQUEST_TIMEOUT_MS));
        return p;
    }

    static Admin admin(String clientId) {
        Properties p = common(clientId);
        p.put("default.api.timeout.ms", "30000");
        return Admin.create(p);
    }

    /** A producer with the Java client's defaults (acks=all,
     * enable.idempotence=true, linger.ms=5, the built-in partitioner); only
     * the timeouts are bounded. */
    static KafkaProducer<byte[], byte[]> producer(String clientId, Map<String, String> extra) {
        Properties p = common(clientId);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("max.block.ms", "30000");
        p.put("delivery.timeout.ms", "45000");
        p.putAll(extra);
        return new KafkaProducer<>(p);
    }

    static KafkaProducer<byte[], byte[]> txnProducer(String clientId, String tid) {
        Map<String, String> extra = new HashMap<>();
        extra.put("transactional.id", tid);
        return producer(clientId, extra);
    }

    static KafkaConsumer<byte[], byte[]> consumer(String clientId, String group, String isolation,
                                                 Map<String, String> extra) {
        Properties p = common(clientId);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("default.api.timeout.ms", "30000");
        p.put("isolation.level", isolation);
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        p.put("fetch.max.wait.ms", "100");
        if (group != null) {
            p.put("group.id", group);
            // group.protocol=consumer (KIP-848): the broker sets both, the client refuses them
            if (!"consumer".equals(extra.get("group.protocol"))) {
                p.put("session.timeout.ms", "10000");
                p.put("heartbeat.interval.ms", "500");
            }
        }
        p.putAll(extra);
        return new KafkaConsumer<>(p);
    }

    static <T> T get(Future<T> f) throws Exception {
        return f.get(GET_TIMEOUT_S, TimeUnit.SECONDS);
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String s(byte[] v) {
        return v == null ? null : new String(v, StandardCharsets.UTF_8);
    }

    static Map<String, Object> rec(ConsumerRecord<byte[], byte[]> r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("p", r.partition());
        m.put("o", r.offset());
        m.put("k", s(r.key()));
        m.put("v", s(r.value()));
        m.put("ts", r.timestamp());
        List<Object> hs = new ArrayList<>();
        for (Header h : r.headers()) hs.add(List.of(h.key(), s(h.value())));
        m.put("h", hs);
        return m;
    }

    static Map<String, Object> tpMap(Map<TopicPartition, Long> m) {
        Map<String, Object> r = new TreeMap<>();
        for (Map.Entry<TopicPartition, Long> e : m.entrySet()) r.put(String.valueOf(e.getKey().partition()), e.getValue());
        return r;
    }

    static List<TopicPartition> tps(String topic, int n) {
        List<TopicPartition> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(new TopicPartition(topic, i));
        return l;
    }

    static void createTopic(Admin admin, String topic, int partitions) throws Exception {
        get(admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all());
    }

    /** Assign tps, seek to the beginning and read until the consumer's
     * position reaches endOffsets (with the consumer's isolation level: the
     * LSO for read_committed) on every partition. */
    static Map<String, Object> readAll(String topic, int partitions, String isolation) {
        Map<String, Object> res = new LinkedHashMap<>();
        List<TopicPartition> tps = tps(topic, partitions);
        try (KafkaConsumer<byte[], byte[]> c = consumer("java-reader-" + isolation, null, isolation, Map.of())) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = c.endOffsets(tps, Duration.ofSeconds(15));
            List<Object> recs = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 30000;
            while (true) {
                boolean done = true;
                for (TopicPartition tp : tps) if (c.position(tp, Duration.ofSeconds(15)) < ends.get(tp)) done = false;
                if (done) break;
                if (System.currentTimeMillis() > deadline) {
                    Map<TopicPartition, Long> pos = new HashMap<>();
                    for (TopicPartition tp : tps) pos.put(tp, c.position(tp));
                    throw new IllegalStateException("reader (" + isolation + ") did not reach " + ends + ", at " + pos);
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) recs.add(rec(r));
            }
            // nothing may follow the end offsets
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(300))) recs.add(rec(r));
            Map<TopicPartition, Long> pos = new HashMap<>();
            for (TopicPartition tp : tps) pos.put(tp, c.position(tp));
            res.put("end_offsets", tpMap(ends));
            res.put("positions", tpMap(pos));
            res.put("beginning_offsets", tpMap(c.beginningOffsets(tps, Duration.ofSeconds(15))));
            res.put("records", recs);
        }
        return res;
    }

    static List<Object> sendResults(List<Future<RecordMetadata>> futs) throws Exception {
        List<Object> l = new ArrayList<>();
        for (Future<RecordMetadata> f : futs) {
            RecordMetadata md = get(f);
            l.add(List.of(md.partition(), md.offset()));
        }
        return l;
    }

    // ------------------------------------------------------------------ 1. producer defaults + group consumer

    static void produceConsume() throws Exception {
        String topic = arg("topic"), group = arg("group");
        int n = intArg("n"), partitions = intArg("partitions");
        step("admin createTopics");
        try (Admin admin = admin("java-pc-admin")) {
            createTopic(admin, topic, partitions);
        }
        step("produce " + n);
        List<Future<RecordMetadata>> futs = new ArrayList<>();
        long t0 = System.currentTimeMillis();
        try (KafkaProducer<byte[], byte[]> p = producer("java-pc-producer", Map.of())) {
            for (int i = 0; i < n; i++) {
                ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, null, b("key-" + i), b("value-" + i),
                    List.of(new RecordHeader("idx", b(String.valueOf(i))), new RecordHeader("src", b("java"))));
                futs.add(p.send(r));
            }
            p.flush();
            step("send results");
            out.put("sends", sendResults(futs));
        }
        out.put("produce_ms", System.currentTimeMillis() - t0);

        step("group consumer");
        List<TopicPartition> tps = tps(topic, partitions);
        Map<String, String> cx = new HashMap<>();
        String protocol = args.getOrDefault("group_protocol", "classic");
        cx.put("group.protocol", protocol);
        try (KafkaConsumer<byte[], byte[]> c = consumer("java-pc-consumer", group, "read_uncommitted", cx)) {
            c.subscribe(List.of(topic));
            List<Object> recs = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 60000;
            while (recs.size() < n && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) recs.add(rec(r));
            }
            // linger: anything extra (a duplicate) would show here
            long linger = System.currentTimeMillis() + 1000;
            while (System.currentTimeMillis() < linger) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) recs.add(rec(r));
            }
            out.put("consumed", recs);
            Set<Integer> assigned = new HashSet<>();
            for (TopicPartition tp : c.assignment()) assigned.add(tp.partition());
            out.put("assignment", new ArrayList<>(new java.util.TreeSet<>(assigned)));
            step("commitSync");
            c.commitSync(Duration.ofSeconds(15));
            step("committed");
            Map<TopicPartition, OffsetAndMetadata> committed = c.committed(new HashSet<>(tps), Duration.ofSeconds(15));
            Map<TopicPartition, Long> cm = new HashMap<>();
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : committed.entrySet())
                cm.put(e.getKey(), e.getValue() == null ? null : e.getValue().offset());
            out.put("committed", tpMap(cm));
            out.put("end_offsets", tpMap(c.endOffsets(tps, Duration.ofSeconds(15))));
            Map<TopicPartition, Long> pos = new HashMap<>();
            for (TopicPartition tp : tps) pos.put(tp, c.position(tp, Duration.ofSeconds(15)));
            out.put("positions", tpMap(pos));
            out.put("group_generation", c.groupMetadata().generationId());
            step("consumer close");
        }
    }

    // ------------------------------------------------------------------ 2. AdminClient

    static void admin() throws Exception {
        String topic = arg("topic"), group = arg("group"), groupTopic = arg("group_topic");
        String activeGroup = arg("active_group");
        try (Admin admin = admin("java-admin")) {
            step("describeCluster");
            var dc = admin.describeCluster();
            Map<String, Object> cluster = new LinkedHashMap<>();
            cluster.put("cluster_id", get(dc.clusterId()));
            Node controller = get(dc.controller());
            cluster.put("controller", controller == null ? null : controller.id());
            List<Object> nodes = new ArrayList<>();
            for (Node nd : get(dc.nodes())) nodes.add(List.of(nd.id(), nd.host(), nd.port()));
            cluster.put("nodes", nodes);
            out.put("cluster", cluster);

            step("createTopics with configs");
            Map<String, String> configs = new LinkedHashMap<>();
            configs.put("retention.ms", "3600000");
            configs.put("cleanup.policy", "delete");
            configs.put("max.message.bytes", "2097152");
            var ct = admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1).configs(configs)));
            get(ct.all());
            out.put("create_partitions", get(ct.numPartitions(topic)));
            out.put("create_replication_factor", (int) get(ct.replicationFactor(topic)));
            out.put("create_topic_id", String.valueOf(get(ct.topicId(topic))));
            Map<String, Object> returned = new TreeMap<>();
            try {
                for (var ce : get(ct.config(topic)).entries()) returned.put(ce.name(), ce.value());
                out.put("create_configs", returned);
            } catch (ExecutionException e) {
                out.put("create_configs_error", error(e));
            }

            step("createTopics again (exists)");
            try {
                get(admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all());
                out.put("create_again", "no error");
            } catch (ExecutionException e) {
                out.put("create_again", e.getCause().getClass().getName());
            }

            step("listTopics");
            Set<String> names = get(admin.listTopics().names());
            out.put("list_has_topic", names.contains(topic));
            out.put("list_has_group_topic", names.contains(groupTopic));

            step("describeTopics");
            Map<String, TopicDescription> td = get(admin.describeTopics(List.of(topic, groupTopic)).allTopicNames());
            Map<String, Object> desc = new LinkedHashMap<>();
            for (Map.Entry<String, TopicDescription> e : td.entrySet()) {
                Map<String, Object> d = new LinkedHashMap<>();
                d.put("name", e.getValue().name());
                d.put("internal", e.getValue().isInternal());
                d.put("topic_id", String.valueOf(e.getValue().topicId()));
                List<Object> parts = new ArrayList<>();
                for (TopicPartitionInfo pi : e.getValue().partitions()) {
                    Map<String, Object> pm = new LinkedHashMap<>();
                    pm.put("partition", pi.partition());
                    pm.put("leader", pi.leader() == null ? null : pi.leader().id());
                    List<Integer> reps = new ArrayList<>();
                    for (Node r : pi.replicas()) reps.add(r.id());
                    List<Integer> isr = new ArrayList<>();
                    for (Node r : pi.isr()) isr.add(r.id());
                    pm.put("replicas", reps);
                    pm.put("isr", isr);
                    parts.add(pm);
                }
                d.put("partitions", parts);
                desc.put(e.getKey(), d);
            }
            out.put("describe_topics", desc);

            step("produce 3 records with timestamps");
            TopicPartition tp0 = new TopicPartition(topic, 0);
            try (KafkaProducer<byte[], byte[]> p = producer("java-admin-producer", Map.of())) {
                long[] ts = {1000L, 5000L, 3000L};
                List<Future<RecordMetadata>> futs = new ArrayList<>();
                for (int i = 0; i < ts.length; i++)
                    futs.add(p.send(new ProducerRecord<>(topic, 0, ts[i], null, b("ts-" + i))));
                p.flush();
                out.put("ts_sends", sendResults(futs));
            }

            step("listOffsets");
            Map<String, Object> lo = new LinkedHashMap<>();
            Map<String, OffsetSpec> specs = new LinkedHashMap<>();
            specs.put("earliest", OffsetSpec.earliest());
            specs.put("latest", OffsetSpec.latest());
            specs.put("max_timestamp", OffsetSpec.maxTimestamp());
            specs.put("for_timestamp_2000", OffsetSpec.forTimestamp(2000L));
            specs.put("for_timestamp_9000", OffsetSpec.forTimestamp(9000L));
            for (Map.Entry<String, OffsetSpec> e : specs.entrySet()) {
                ListOffsetsResultInfo info = get(admin.listOffsets(Map.of(tp0, e.getValue())).partitionResult(tp0));
                lo.put(e.getKey(), List.of(info.offset(), info.timestamp()));
            }
            ListOffsetsResultInfo rc = get(admin.listOffsets(Map.of(tp0, OffsetSpec.latest()),
                new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).partitionResult(tp0));
            lo.put("latest_read_committed", List.of(rc.offset(), rc.timestamp()));
            TopicPartition tp1 = new TopicPartition(topic, 1);
            ListOffsetsResultInfo empty = get(admin.listOffsets(Map.of(tp1, OffsetSpec.maxTimestamp())).partitionResult(tp1));
            lo.put("max_timestamp_empty_partition", List.of(empty.offset(), empty.timestamp()));
            out.put("list_offsets", lo);

            // two live groups, one per group.protocol: classic (JoinGroup/SyncGroup,
            // DescribeGroups) and consumer (KIP-848: ConsumerGroupHeartbeat, ConsumerGroupDescribe)
            for (String protocol : List.of("classic", "consumer")) {
                String g = protocol.equals("classic") ? activeGroup : activeGroup + "-848";
                step("group consumer (active group, group.protocol=" + protocol + ")");
                try (KafkaConsumer<byte[], byte[]> c = consumer("java-admin-member-" + protocol, g, "read_uncommitted",
                        Map.of("group.protocol", protocol))) {
                    c.subscribe(List.of(groupTopic));
                    long deadline = System.currentTimeMillis() + 30000;
                    while (c.assignment().isEmpty() && System.currentTimeMillis() < deadline) c.poll(Duration.ofMillis(200));
                    out.put("active_assignment_size_" + protocol, c.assignment().size());
                    step("describeConsumerGroups (active, " + protocol + ")");
                    ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(g)).all()).get(g);
                    out.put("describe_active_" + protocol, groupDesc(d));
                }
            }

            step("listGroups (consumer groups)");
            Map<String, Object> listed = new TreeMap<>();
            for (GroupListing l : get(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all())) {
                if (!l.groupId().equals(group) && !l.groupId().startsWith(activeGroup)) continue;
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("simple", l.isSimpleConsumerGroup());
                m.put("protocol", l.protocol());
                m.put("state", l.groupState().map(Object::toString).orElse(null));
                m.put("type", l.type().map(Object::toString).orElse(null));
                listed.put(l.groupId(), m);
            }
            out.put("list_groups", listed);

            step("describeConsumerGroups");
            ConsumerGroupDescription g = get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
            out.put("describe_group", groupDesc(g));

            step("listConsumerGroupOffsets");
            Map<TopicPartition, OffsetAndMetadata> offs =
                get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            Map<String, Object> om = new TreeMap<>();
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offs.entrySet())
                om.put(e.getKey().topic() + ":" + e.getKey().partition(), e.getValue().offset());
            out.put("group_offsets", om);

            step("deleteTopics");
            get(admin.deleteTopics(List.of(topic)).all());
            long deadline = System.currentTimeMillis() + 15000;
            boolean gone = false;
            while (!gone && System.currentTimeMillis() < deadline) {
                gone = !get(admin.listTopics().names()).contains(topic);
                if (!gone) Thread.sleep(100);
            }
            out.put("deleted_gone_from_list", gone);
            try {
                get(admin.describeTopics(List.of(topic)).allTopicNames());
                out.put("describe_deleted", "no error");
            } catch (ExecutionException e) {
                out.put("describe_deleted", e.getCause().getClass().getName());
            }

            step("deleteConsumerGroups");
            get(admin.deleteConsumerGroups(List.of(activeGroup, activeGroup + "-848")).all());
            List<String> left = new ArrayList<>();
            for (GroupListing l : get(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all())) if (l.groupId().startsWith(activeGroup) || l.groupId().equals(group)) left.add(l.groupId());
            Collections.sort(left);
            out.put("groups_after_delete", left);
        }
    }

    static Map<String, Object> groupDesc(ConsumerGroupDescription g) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("group_id", g.groupId());
        m.put("simple", g.isSimpleConsumerGroup());
        m.put("state", String.valueOf(g.groupState()));
        m.put("type", String.valueOf(g.type()));
        m.put("assignor", g.partitionAssignor());
        m.put("coordinator", g.coordinator() == null ? null : g.coordinator().id());
        List<Object> members = new ArrayList<>();
        for (MemberDescription md : g.members()) {
            Map<String, Object> mm = new LinkedHashMap<>();
            mm.put("member_id_empty", md.consumerId().isEmpty());
            mm.put("client_id", md.clientId());
            mm.put("host", md.host());
            List<String> parts = new ArrayList<>();
            for (TopicPartition tp : md.assignment().topicPartitions()) parts.add(tp.topic() + ":" + tp.partition());
            Collections.sort(parts);
            mm.put("assignment", parts);
            members.add(mm);
        }
        m.put("members", members);
        return m;
    }

    // ------------------------------------------------------------------ 3. transactions

    static void transactions() throws Exception {
        String topic = arg("topic"), tid = arg("tid");
        step("createTopics");
        try (Admin admin = admin("java-txn-admin")) {
            createTopic(admin, topic, 2);
        }
        List<Object> txns = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = txnProducer("java-txn-producer", tid)) {
            step("initTransactions");
            p.initTransactions();
            Object[][] plan = {{"c1", 100, "commit"}, {"a2", 50, "abort"}, {"c3", 10, "commit"}};
            for (Object[] t : plan) {
                String tag = (String) t[0];
                int n = (Integer) t[1];
                step("txn " + tag + " begin");
                p.beginTransaction();
                List<Future<RecordMetadata>> futs = new ArrayList<>();
                for (int i = 0; i < n; i++)
                    futs.add(p.send(new ProducerRecord<>(topic, i % 2, null, b(String.format("%s-%03d", tag, i)))));
                step("txn " + tag + " flush");
                p.flush();
                List<Object> sends = sendResults(futs);
                step("txn " + tag + " " + t[2]);
                if (t[2].equals("commit")) p.commitTransaction(); else p.abortTransaction();
                Map<String, Object> tm = new LinkedHashMap<>();
                tm.put("tag", tag);
                tm.put("outcome", t[2]);
                tm.put("sends", sends);
                txns.add(tm);
            }
        }
        out.put("txns", txns);
        step("read_committed");
        out.put("read_committed", readAll(topic, 2, "read_committed"));
        step("read_uncommitted");
        out.put("read_uncommitted", readAll(topic, 2, "read_uncommitted"));
    }

    // ------------------------------------------------------------------ 4. consume-transform-produce

    static void eos() throws Exception {
        String input = arg("input"), output = arg("output"), group = arg("group"), tid = arg("tid");
        int n = intArg("n"); // per input partition
        try (Admin admin = admin("java-eos-admin")) {
            step("createTopics");
            createTopic(admin, input, 2);
            createTopic(admin, output, 1);
        }
        step("produce input");
        try (KafkaProducer<byte[], byte[]> p = producer("java-eos-input", Map.of())) {
            List<Future<RecordMetadata>> futs = new ArrayList<>();
            for (int i = 0; i < n; i++)
                for (int part = 0; part < 2; part++)
                    futs.add(p.send(new ProducerRecord<>(input, part, null, b(String.format("in-%d-%03d", part, i)))));
            p.flush();
            sendResults(futs);
        }
        List<Object> txns = new ArrayList<>();
        int total = 2 * n, done = 0;
        Map<String, String> cx = new HashMap<>();
        cx.put("max.poll.records", "50");
        try (KafkaConsumer<byte[], byte[]> c = consumer("java-eos-consumer", group, "read_committed", cx);
             KafkaProducer<byte[], byte[]> p = txnProducer("java-eos-producer", tid)) {
            step("initTransactions");
            p.initTransactions();
            c.subscribe(List.of(input));
            long deadline = System.currentTimeMillis() + 90000;
            boolean aborted = false;
            while (done < total) {
                if (System.currentTimeMillis() > deadline) throw new IllegalStateException("eos loop: only " + done + " done");
                ConsumerRecords<byte[], byte[]> batch = c.poll(Duration.ofMillis(200));
                if (batch.isEmpty()) continue;
                step("txn " + txns.size());
                p.beginTransaction();
                List<String> values = new ArrayList<>();
                Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
                List<Future<RecordMetadata>> futs = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    values.add(s(r.value()));
                    futs.add(p.send(new ProducerRecord<>(output, 0, null, b("out-" + s(r.value())))));
                    next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                p.sendOffsetsToTransaction(next, c.groupMetadata());
                Map<String, Object> tm = new LinkedHashMap<>();
                tm.put("values", values);
                Map<String, Object> nx = new TreeMap<>();
                for (Map.Entry<TopicPartition, OffsetAndMetadata> e : next.entrySet())
                    nx.put(String.valueOf(e.getKey().partition()), e.getValue().offset());
                tm.put("next", nx);
                if (!aborted && txns.size() == 1) {
                    // the second batch: abort, rewind to the committed offsets, re-process
                    p.flush();
                    tm.put("sends", sendResults(futs));
                    p.abortTransaction();
                    aborted = true;
                    tm.put("outcome", "abort");
                    Map<TopicPartition, OffsetAndMetadata> committed = c.committed(c.assignment(), Duration.ofSeconds(15));
                    Map<String, Object> rewound = new TreeMap<>();
                    for (TopicPartition tp : c.assignment()) {
                        OffsetAndMetadata om = committed.get(tp);
                        long o = om == null ? 0 : om.offset();
                        c.seek(tp, o);
                        rewound.put(String.valueOf(tp.partition()), o);
                    }
                    tm.put("rewound_to", rewound);
                } else {
                    p.commitTransaction();
                    tm.put("sends", sendResults(futs));
                    tm.put("outcome", "commit");
                    done += values.size();
                }
                txns.add(tm);
            }
            out.put("txns", txns);
            step("committed");
            Map<TopicPartition, OffsetAndMetadata> committed =
                c.committed(new HashSet<>(tps(input, 2)), Duration.ofSeconds(15));
            Map<TopicPartition, Long> cm = new HashMap<>();
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : committed.entrySet())
                cm.put(e.getKey(), e.getValue() == null ? null : e.getValue().offset());
            out.put("committed", tpMap(cm));
            out.put("input_end_offsets", tpMap(c.endOffsets(tps(input, 2), Duration.ofSeconds(15))));
        }
        step("admin listConsumerGroupOffsets");
        try (Admin admin = admin("java-eos-admin2")) {
            Map<TopicPartition, OffsetAndMetadata> offs =
                get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            Map<TopicPartition, Long> m = new HashMap<>();
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offs.entrySet()) m.put(e.getKey(), e.getValue().offset());
            out.put("admin_group_offsets", tpMap(m));
        }
        step("read output");
        out.put("read_committed", readAll(output, 1, "read_committed"));
        out.put("read_uncommitted", readAll(output, 1, "read_uncommitted"));
    }

    // ------------------------------------------------------------------ 5. zombie fencing

    static void fencing() throws Exception {
        String topic = arg("topic"), tid = arg("tid");
        try (Admin admin = admin("java-fence-admin")) {
            step("createTopics");
            createTopic(admin, topic, 1);
        }
        KafkaProducer<byte[], byte[]> a = txnProducer("java-zombie-a", tid);
        try {
            step("A initTransactions + send");
            a.initTransactions();
            a.beginTransaction();
            List<Future<RecordMetadata>> futs = new ArrayList<>();
            for (int i = 0; i < 10; i++) futs.add(a.send(new ProducerRecord<>(topic, 0, null, b("a-" + i))));
            a.flush();
            out.put("a_sends", sendResults(futs));
            try (KafkaProducer<byte[], byte[]> bp = txnProducer("java-zombie-b", tid)) {
                step("B initTransactions");
                bp.initTransactions();
                step("A commitTransaction (fenced)");
                try {
                    a.commitTransaction();
                    out.put("a_commit", "no error");
                } catch (Exception e) {
                    out.put("a_commit", e.getClass().getName());
                    out.put("a_commit_message", String.valueOf(e.getMessage()));
                }
                step("A send after fencing");
                try {
                    get(a.send(new ProducerRecord<>(topic, 0, null, b("a-late"))));
                    out.put("a_send_after", "no error");
                } catch (Exception e) {
                    Throwable c = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
                    out.put("a_send_after", c.getClass().getName());
                }
                step("B transaction");
                bp.beginTransaction();
                futs = new ArrayList<>();
                for (int i = 0; i < 10; i++) futs.add(bp.send(new ProducerRecord<>(topic, 0, null, b("b-" + i))));
                bp.flush();
                out.put("b_sends", sendResults(futs));
                bp.commitTransaction();
                out.put("b_commit", "ok");
            }
        } finally {
            step("A close");
            a.close(Duration.ofSeconds(5));
        }
        step("read");
        out.put("read_committed", readAll(topic, 1, "read_committed"));
        out.put("read_uncommitted", readAll(topic, 1, "read_uncommitted"));
    }

    // ------------------------------------------------------------------ 6. transaction admin APIs

    static Map<String, Object> txnDesc(TransactionDescription d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("state", d.state().toString());
        m.put("coordinator", d.coordinatorId());
        m.put("producer_id", d.producerId());
        m.put("producer_epoch", d.producerEpoch());
        m.put("timeout_ms", d.transactionTimeoutMs());
        m.put("start_time_ms", d.transactionStartTimeMs().isPresent() ? d.transactionStartTimeMs().getAsLong() : null);
        List<String> parts = new ArrayList<>();
        for (TopicPartition tp : d.topicPartitions()) parts.add(tp.topic() + ":" + tp.partition());
        Collections.sort(parts);
        m.put("partitions", parts);
        return m;
    }

    static Map<String, Object> producersOf(Admin admin, List<TopicPartition> tps) throws Exception {
        Map<TopicPartition, PartitionProducerState> st = get(admin.describeProducers(tps).all());
        Map<String, Object> out = new TreeMap<>();
        for (Map.Entry<TopicPartition, PartitionProducerState> e : st.entrySet()) {
            List<Object> l = new ArrayList<>();
            for (ProducerState ps : e.getValue().activeProducers()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("producer_id", ps.producerId());
                m.put("producer_epoch", ps.producerEpoch());
                m.put("last_sequence", ps.lastSequence());
                m.put("last_timestamp", ps.lastTimestamp());
                m.put("coordinator_epoch", ps.coordinatorEpoch().isPresent() ? ps.coordinatorEpoch().getAsInt() : null);
                m.put("txn_start_offset", ps.currentTransactionStartOffset().isPresent()
                    ? ps.currentTransactionStartOffset().getAsLong() : null);
                l.add(m);
            }
            out.put(String.valueOf(e.getKey().partition()), l);
        }
        return out;
    }

    static Map<String, Object> listed(Admin admin, String tid, ListTransactionsOptions opts) throws Exception {
        for (TransactionListing l : get(admin.listTransactions(opts).all())) {
            if (l.transactionalId().equals(tid)) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("producer_id", l.producerId());
                m.put("state", l.state().toString());
                return m;
            }
        }
        return null;
    }

    static void txnAdmin() throws Exception {
        String topic = arg("topic"), tid = arg("tid");
        List<TopicPartition> tps = tps(topic, 2);
        try (Admin admin = admin("java-txn-admin");
             KafkaProducer<byte[], byte[]> p = txnProducer("java-txn-admin-producer", tid)) {
            step("createTopics");
            createTopic(admin, topic, 2);
            step("open transaction");
            p.initTransactions();
            p.beginTransaction();
            List<Future<RecordMetadata>> futs = new ArrayList<>();
            long t0 = System.currentTimeMillis();
            for (int i = 0; i < 5; i++) futs.add(p.send(new ProducerRecord<>(topic, i < 3 ? 0 : 1, null, b("open-" + i))));
            p.flush();
            out.put("sends", sendResults(futs));
            out.put("send_time_ms", t0);

            step("listTransactions (open)");
            out.put("list_all", listed(admin, tid, new ListTransactionsOptions()));
            out.put("list_ongoing", listed(admin, tid,
                new ListTransactionsOptions().filterStates(List.of(TransactionState.ONGOING))));
            out.put("list_committing", listed(admin, tid,
                new ListTransactionsOptions().filterStates(List.of(TransactionState.COMPLETE_COMMIT))));
            step("describeTransactions (open)");
            TransactionDescription d = get(admin.describeTransactions(List.of(tid)).description(tid));
            out.put("describe_open", txnDesc(d));
            out.put("list_by_pid", listed(admin, tid,
                new ListTransactionsOptions().filterProducerIds(Set.of(d.producerId()))));
            out.put("list_by_other_pid", listed(admin, tid,
                new ListTransactionsOptions().filterProducerIds(Set.of(d.producerId() + 1000))));
            step("describeProducers (open)");
            out.put("producers_open", producersOf(admin, tps));

            step("commit");
            p.commitTransaction();
            step("describe after commit");
            out.put("describe_committed", txnDesc(get(admin.describeTransactions(List.of(tid)).description(tid))));
            out.put("list_after_commit", listed(admin, tid, new ListTransactionsOptions()));
            out.put("producers_committed", producersOf(admin, tps));

            step("second open transaction + fenceProducers");
            p.beginTransaction();
            get(p.send(new ProducerRecord<>(topic, 0, null, b("fenced-0"))));
            out.put("describe_open2", txnDesc(get(admin.describeTransactions(List.of(tid)).description(tid))));
            get(admin.fenceProducers(List.of(tid)).all());
            out.put("describe_fenced", txnDesc(get(admin.describeTransactions(List.of(tid)).description(tid))));
            try {
                p.commitTransaction();
                out.put("commit_after_fence", "no error");
            } catch (Exception e) {
                out.put("commit_after_fence", e.getClass().getName());
            }
        }
        step("read");
        out.put("read_committed", readAll(topic, 2, "read_committed"));
    }

    // ------------------------------------------------------------------ JSON

    static final class Json {
        static String write(Object v) {
            StringBuilder sb = new StringBuilder();
            write(sb, v);
            return sb.toString();
        }

        static void write(StringBuilder sb, Object v) {
            if (v == null) {
                sb.append("null");
            } else if (v instanceof String) {
                str(sb, (String) v);
            } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long || v instanceof Short
                || v instanceof Byte) {
                sb.append(v);
            } else if (v instanceof Number) {
                double d = ((Number) v).doubleValue();
                if (Double.isFinite(d)) sb.append(v); else str(sb, v.toString());
            } else if (v instanceof Map) {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) sb.append(',');
                    first = false;
                    str(sb, String.valueOf(e.getKey()));
                    sb.append(':');
                    write(sb, e.getValue());
                }
                sb.append('}');
            } else if (v instanceof Collection) {
                sb.append('[');
                boolean first = true;
                for (Object o : (Collection<?>) v) {
                    if (!first) sb.append(',');
                    first = false;
                    write(sb, o);
                }
                sb.append(']');
            } else {
                str(sb, v.toString());
            }
        }

        static void str(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\r': sb.append("\\r"); break;
                    case '\t': sb.append("\\t"); break;
                    default:
                        if (c < 0x20) sb.append(String.format("\\u%04x", (int) c)); else sb.append(c);
                }
            }
            sb.append('"');
        }
    }
}
