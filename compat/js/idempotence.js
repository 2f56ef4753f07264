#!/usr/bin/env node
// An idempotent producer for compat/test_44_idempotence.py.
//
//   node idempotence.js <path of a JSON config file>
//
// config: {client: "kafkajs" | "ckjs", bootstrap, topic, partitions, count, prefix, chunk,
//          concurrent (kafkajs only, default false), maxInFlight (kafkajs only, default 1)}
//
// Sends `count` records; record i has value `${prefix}-${i padded to 5}`, no
// key, and goes to partition i % partitions. They are sent as producer.send()
// calls of `chunk` records each, in order:
//   kafkajs: idempotent: true, maxInFlightRequests: 1 (kafkajs keeps one
//            sequence counter per partition and rewinds it when a request
//            fails, which is only safe with one request in flight), acks -1;
//            each send() is awaited before the next one starts (kafkajs
//            gives no ordering guarantee between concurrent send() calls).
//            With concurrent: true every send() is started at once, with
//            maxInFlightRequests = maxInFlight (the records of one send stay
//            together and in order; the sends may land in any order).
//   ckjs:    @confluentinc/kafka-javascript (librdkafka) with
//            enable.idempotence=true, max.in.flight=5, linger.ms=2,
//            batch.num.messages=50: every send() is started at once (each
//            send() hands its records to librdkafka synchronously, so the
//            queue order is the send order) and librdkafka pipelines up to
//            5 Produce requests per connection.
//
// emits {ev:"sent", i, res: [{partition, baseOffset}]} per send (in
// completion order), {ev:"send_error", i, name, message, code},
// {ev:"done", sent, failed} at the end. Every line on stdout is "EV " + JSON.
'use strict';

const { emit, loadConfig, stderrLogger, kafkajsLogCreator, resOut, runMain } = require('./common');

const cfg = loadConfig();

function chunks() {
  const out = [];
  for (let start = 0; start < cfg.count; start += cfg.chunk) {
    const msgs = [];
    for (let i = start; i < Math.min(cfg.count, start + cfg.chunk); i++) {
      msgs.push({ value: Buffer.from(cfg.prefix + '-' + String(i).padStart(5, '0')), partition: i % cfg.partitions });
    }
    out.push(msgs);
  }
  return out;
}

/**
 * Sends every chunk of chunks() with send(messages) - one after the other
 * (each awaited), or with concurrent all at once - emitting "sent" or
 * "send_error" per chunk. Resolves to {sent, failed} (counts of chunks).
 */
async function sendChunks(send, concurrent) {
  let sent = 0;
  let failed = 0;
  const one = (messages, i) => send(messages).then((res) => {
    emit('sent', { i, res: resOut(res) });
    sent += 1;
  }, (e) => {
    emit('send_error', { i, name: e.name, message: e.message, code: e.code });
    failed += 1;
  });
  const all = chunks();
  if (concurrent) {
    await Promise.all(all.map(one));
  } else {
    for (let i = 0; i < all.length; i++) await one(all[i], i);
  }
  return { sent, failed };
}

/** The last event, once the producer is disconnected; the exit code. */
function finish({ sent, failed }) {
  emit('done', { sent, failed });
  return failed === 0 ? 0 : 2;
}

async function kafkajs() {
  const { Kafka, logLevel, Partitioners } = require('kafkajs');
  const kafka = new Kafka({
    clientId: 'idem-kafkajs',
    brokers: [cfg.bootstrap],
    logLevel: logLevel.WARN,
    logCreator: kafkajsLogCreator,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: cfg.maxInFlight || 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const counts = await sendChunks((messages) => producer.send({ topic: cfg.topic, acks: -1, messages }),
    Boolean(cfg.concurrent));
  await producer.disconnect();
  return finish(counts);
}

async function ckjs() {
  const { Kafka } = require('@confluentinc/kafka-javascript').KafkaJS;
  const kafka = new Kafka({ kafkaJS: { clientId: 'idem-ckjs', brokers: [cfg.bootstrap], logger: stderrLogger } });
  const producer = kafka.producer({
    kafkaJS: { allowAutoTopicCreation: false },
    'enable.idempotence': true,
    'max.in.flight': 5,
    'linger.ms': 2,
    'batch.num.messages': 50,
    'message.timeout.ms': 60000,
  });
  await producer.connect();
  const counts = await sendChunks((messages) => producer.send({ topic: cfg.topic, messages }), true);
  await producer.disconnect();
  return finish(counts);
}

runMain(cfg.client === 'kafkajs' ? kafkajs() : ckjs());
