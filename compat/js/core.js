#!/usr/bin/env node
// Broker-core behaviours through group consumers, for compat/test_31_group_core_js.py.
//
//   node core.js <path of a JSON config file>
//
// (a file, not argv: a 1 MB value does not fit in one argv string)
//
// config: {client: "kafkajs" | "ckjs", bootstrap, op: "produce" | "consume", ...}
//
// op "produce": {topic, acks, compression: "none"|"gzip"|"snappy"|"lz4"|"zstd",
//                sends: [[msg, ..], ..]}   one producer.send() per inner list, in order
//   msg: {k: hex|null, v: hex|null, h: {name: hex | [hex, ..]} | null, ts: "ms"|null, p: int|null}
//   emits {ev:"sent", i, res: RecordMetadata[]} per send, or {ev:"send_error", i, name, message}
//   kafkajs: Snappy (kafkajs-snappy) and LZ4 (kafkajs-lz4) codecs are registered;
//   ZSTD has no codec (@kafkajs/zstd's native cppzst does not build) -> kafkajs throws.
//   ckjs: acks / compression are producer-level settings; partitioner murmur2_random is
//   set explicitly (it is also the KafkaJS-mode default).
//
// op "consume": {topic, group, count, lingerMs, maxSeconds,
//                seeks: [{at, p, offset}], commits: [{at, p, offset}]}
//   Subscribes (fromBeginning, autoCommit off) and runs eachMessage. After the
//   at-th message (1-based count of received messages) it calls
//   consumer.seek / consumer.commitOffsets. Once `count` messages arrived it
//   keeps running lingerMs more (to catch extras), then disconnects.
//   emits {ev:"msg", p, o, k, v (hex; values > 64 KiB as {len, sha256}), h, ts}
//         {ev:"seeked"|"committed", at, ...}, {ev:"done", n} | {ev:"deadline", n} | {ev:"error", ..}
//
// Every line on stdout is "EV " + JSON.
'use strict';

const crypto = require('crypto');
const { emit, loadConfig, stderrLogger, kafkajsLogCreator, consumerCloser, runMain } = require('./common');

const cfg = loadConfig();

const hexOrNull = (b) => (b == null ? null : Buffer.from(b).toString('hex'));
const bufOrNull = (h) => (h == null ? null : Buffer.from(h, 'hex'));

function valueOut(b) {
  if (b == null) return null;
  if (b.length > 65536) return { len: b.length, sha256: crypto.createHash('sha256').update(b).digest('hex') };
  return b.toString('hex');
}

function headersOut(h) {
  if (!h) return {};
  const out = {};
  for (const [k, v] of Object.entries(h)) {
    out[k] = Array.isArray(v) ? v.map(hexOrNull) : hexOrNull(v);
  }
  return out;
}

function headersIn(h) {
  if (!h) return undefined;
  const out = {};
  for (const [k, v] of Object.entries(h)) {
    out[k] = Array.isArray(v) ? v.map(bufOrNull) : bufOrNull(v);
  }
  return out;
}

function messagesIn(list) {
  return list.map((m) => {
    const out = { key: bufOrNull(m.k), value: bufOrNull(m.v) };
    const h = headersIn(m.h);
    if (h) out.headers = h;
    if (m.ts != null) out.timestamp = m.ts;
    if (m.p != null) out.partition = m.p;
    return out;
  });
}

function kafkajsClient() {
  const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = require('kafkajs');
  CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');
  const LZ4 = require('kafkajs-lz4');
  CompressionCodecs[CompressionTypes.LZ4] = new (LZ4.default || LZ4)().codec;
  const kafka = new Kafka({
    clientId: 'core-' + cfg.op,
    brokers: [cfg.bootstrap],
    logLevel: logLevel.ERROR,
    logCreator: kafkajsLogCreator,
    retry: { retries: 10, initialRetryTime: 100 },
  });
  return { kafka, CompressionTypes };
}

function ckjsClient() {
  const { Kafka, logLevel, CompressionTypes } = require('@confluentinc/kafka-javascript').KafkaJS;
  const kafka = new Kafka({
    kafkaJS: { clientId: 'core-' + cfg.op, brokers: [cfg.bootstrap], logLevel: logLevel.ERROR, logger: stderrLogger },
  });
  return { kafka, CompressionTypes };
}

const CODEC_NAMES = { none: 'None', gzip: 'GZIP', snappy: 'Snappy', lz4: 'LZ4', zstd: 'ZSTD' };

async function produce() {
  const js = cfg.client === 'kafkajs';
  const { kafka, CompressionTypes } = js ? kafkajsClient() : ckjsClient();
  const acks = cfg.acks == null ? -1 : cfg.acks;
  const codec = cfg.compression || 'none';
  let producer;
  if (js) {
    const { Partitioners } = require('kafkajs');
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  } else {
    // ckjs names: None/GZIP/SNAPPY/LZ4/ZSTD
    try {
      producer = kafka.producer({
      kafkaJS: { acks, compression: CompressionTypes[codec === 'none' ? 'None' : codec.toUpperCase()], allowAutoTopicCreation: false },
      partitioner: 'murmur2_random',
      'message.max.bytes': 2000000,
      'linger.ms': 5,
      });
    } catch (e) {
      emit('create_error', { name: e.name, message: e.message, code: e.code });
      return 0;
    }
  }
  try {
    await producer.connect();
  } catch (e) {
    emit('connect_error', { name: e.name, message: e.message });
    return 0;
  }
  for (let i = 0; i < cfg.sends.length; i++) {
    const payload = { topic: cfg.topic, messages: messagesIn(cfg.sends[i]) };
    if (js) {
      payload.acks = acks;
      payload.compression = CompressionTypes[CODEC_NAMES[codec]];
    }
    try {
      const res = await producer.send(payload);
      emit('sent', { i, res });
    } catch (e) {
      emit('send_error', { i, name: e.name, message: e.message, code: e.code });
    }
  }
  await producer.disconnect();
  return 0;
}

async function consume() {
  const js = cfg.client === 'kafkajs';
  const { kafka } = js ? kafkajsClient() : ckjsClient();
  let consumer;
  const common = {
    groupId: cfg.group, sessionTimeout: 10000, heartbeatInterval: 500, rebalanceTimeout: 20000,
    maxWaitTimeInMs: 100, maxBytesPerPartition: 8 * 1024 * 1024, maxBytes: 32 * 1024 * 1024,
  };
  if (js) {
    consumer = kafka.consumer(common);
  } else {
    consumer = kafka.consumer({ kafkaJS: Object.assign({ fromBeginning: true, autoCommit: false }, common) });
  }
  let received = 0;
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  const seeks = cfg.seeks || [];
  const commits = cfg.commits || [];

  const closer = consumerCloser(consumer, (ev) => {
    emit(ev, { n: received });
    done(ev === 'done' ? 0 : 3);
  });
  setTimeout(() => closer.close('deadline'), cfg.maxSeconds * 1000).unref();

  await consumer.connect();
  await consumer.subscribe(js ? { topics: [cfg.topic], fromBeginning: true } : { topics: [cfg.topic] });
  const runOpts = js ? { autoCommit: false } : {};
  await consumer.run(Object.assign(runOpts, {
    eachMessage: async ({ topic, partition, message }) => {
      if (closer.closing) return;
      received += 1;
      emit('msg', {
        p: partition, o: Number(message.offset), k: hexOrNull(message.key), v: valueOut(message.value),
        h: headersOut(message.headers), ts: message.timestamp,
      });
      for (const s of seeks.filter((x) => x.at === received)) {
        consumer.seek({ topic, partition: s.p, offset: String(s.offset) });
        emit('seeked', { at: received, p: s.p, offset: s.offset });
      }
      for (const c of commits.filter((x) => x.at === received)) {
        try {
          await consumer.commitOffsets([{ topic, partition: c.p, offset: String(c.offset) }]);
          emit('committed', { at: received, p: c.p, offset: c.offset });
        } catch (e) {
          emit('error', { error: 'commit: ' + e });
        }
      }
      if (received === cfg.count) {
        setTimeout(() => closer.close('done'), cfg.lingerMs);
      }
    },
  }));
  return finished;
}

runMain(cfg.op === 'produce' ? produce() : consume());
