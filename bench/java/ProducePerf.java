// A produce load generator on Apache's Java client, for broker-to-broker
// throughput comparisons where the Python client would be the bottleneck
// (bench/vs-tansu.sh). Creates the topic, sends N values of S bytes with
// acks=all, waits for every acknowledgement, and prints one line:
//   records=N bytes=B seconds=T mb_per_s=X errors=E
// Build and run (the jars come from compat/java, installed by scripts/test.sh):
//   javac -cp 'compat/java/target/lib/*' -d /tmp/produce-perf bench/java/ProducePerf.java
//   java -cp "/tmp/produce-perf:compat/java/target/lib/*" ProducePerf 127.0.0.1:9092 topic 500000 1024 8
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class ProducePerf {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        int records = Integer.parseInt(args[2]), size = Integer.parseInt(args[3]), partitions = Integer.parseInt(args[4]);
        Properties admin = new Properties();
        admin.put("bootstrap.servers", bootstrap);
        try (Admin a = Admin.create(admin)) {
            a.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(60, TimeUnit.SECONDS);
        }
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("batch.size", "1000000");
        p.put("buffer.memory", "268435456");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        byte[] value = new byte[size];
        CountDownLatch done = new CountDownLatch(records);
        AtomicLong errors = new AtomicLong();
        long start = System.nanoTime();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < records; i++) {
                producer.send(new ProducerRecord<>(topic, value), (md, e) -> {
                    if (e != null) errors.incrementAndGet();
                    done.countDown();
                });
            }
            if (!done.await(600, TimeUnit.SECONDS)) throw new IllegalStateException("acknowledgements missing after 600 s");
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        long bytes = (long) records * size;
        System.out.printf("records=%d bytes=%d seconds=%.3f mb_per_s=%.1f errors=%d%n",
                records, bytes, seconds, bytes / 1e6 / seconds, errors.get());
        if (errors.get() > 0) System.exit(1);
    }
}
