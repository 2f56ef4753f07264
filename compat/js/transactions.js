#!/usr/bin/env node
// Transactional producers and read_committed group consumers for
// compat/test_45_transactions.py.
//
//   node transactions.js <path of a JSON config file>
//
// config: {client: "kafkajs" | "ckjs", bootstrap, tid, topic, partitions,
//          txns: [{n, action: "commit" | "abort", offset: int | null}],
//          offsetsGroup, offsetsTopic,   (kafkajs: sendOffsets target)
//          consumeGroup, expect, lingerMs, maxSeconds}
//
// 1. One transactional producer (kafkajs: transactionalId, idempotent,
//    maxInFlightRequests 1; ckjs: kafkaJS {transactionalId, idempotent}).
//    For every entry i of txns, in order: producer.transaction(), one
//    send() of n records (value `t${i}-${j padded to 3}`, partition
//    j % partitions, acks -1), for kafkajs with offset != null
//    sendOffsets({consumerGroupId: offsetsGroup, topics: [{topic:
//    offsetsTopic, partitions: [{partition: 0, offset}]}]}), then commit()
//    or abort(). kafkajs only: after each transaction the admin client's
//    fetchOffsets of offsetsGroup.
//    emits {ev:"txn", i, action, res: [{partition, baseOffset}], committed}
//    (committed: {partition: offset} of offsetsGroup on offsetsTopic, or null)
// 2. One group consumer (consumeGroup, fromBeginning; kafkajs:
//    readUncommitted false; ckjs: isolation.level read_committed) on topic,
//    until `expect` messages arrived plus lingerMs (to catch extras), or
//    maxSeconds.
//    emits {ev:"msg", p, o, v (utf-8)} per message, then {ev:"done", n} or
//    {ev:"deadline", n}.
// Errors: {ev:"error", step, name, message, code}; exit code 1.
// Every line on stdout is "EV " + JSON.
'use strict';

const { emit, loadConfig, stderrLogger, kafkajsLogCreator, resOut, runMain } = require('./common');

const cfg = loadConfig();

function messagesFor(i, n) {
  const out = [];
  for (let j = 0; j < n; j++) {
    out.push({ value: Buffer.from('t' + i + '-' + String(j).padStart(3, '0')), partition: j % cfg.partitions });
  }
  return out;
}

let step = 'setup';

async function consumeAll(consumer, subscribeFromBeginning) {
  const got = [];
  let doneAt = null;
  // kafkajs takes fromBeginning in subscribe(), ckjs in the consumer's config
  await consumer.subscribe(subscribeFromBeginning ? { topic: cfg.topic, fromBeginning: true } : { topic: cfg.topic });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      got.push({ p: partition, o: Number(message.offset), v: message.value.toString('utf8') });
    },
  });
  const deadline = Date.now() + cfg.maxSeconds * 1000;
  let ev = 'deadline';
  while (Date.now() < deadline) {
    if (got.length >= cfg.expect) {
      if (doneAt === null) doneAt = Date.now() + cfg.lingerMs;
      if (Date.now() >= doneAt) { ev = 'done'; break; }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await consumer.disconnect();
  for (const m of got) emit('msg', m);
  emit(ev, { n: got.length });
}

async function kafkajs() {
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({
    clientId: 'txn-kafkajs',
    brokers: [cfg.bootstrap],
    logLevel: logLevel.WARN,
    logCreator: kafkajsLogCreator,
  });
  const producer = kafka.producer({
    transactionalId: cfg.tid,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    transactionTimeout: 30000,
  });
  const admin = kafka.admin();
  step = 'connect';
  await producer.connect();
  await admin.connect();
  for (let i = 0; i < cfg.txns.length; i++) {
    const t = cfg.txns[i];
    step = 'txn ' + i + ' begin';
    const txn = await producer.transaction();
    step = 'txn ' + i + ' send';
    const res = await txn.send({ topic: cfg.topic, acks: -1, messages: messagesFor(i, t.n) });
    if (t.offset !== null && t.offset !== undefined) {
      step = 'txn ' + i + ' sendOffsets';
      await txn.sendOffsets({
        consumerGroupId: cfg.offsetsGroup,
        topics: [{ topic: cfg.offsetsTopic, partitions: [{ partition: 0, offset: String(t.offset) }] }],
      });
    }
    step = 'txn ' + i + ' ' + t.action;
    if (t.action === 'commit') await txn.commit(); else await txn.abort();
    step = 'txn ' + i + ' fetchOffsets';
    const fo = await admin.fetchOffsets({ groupId: cfg.offsetsGroup, topics: [cfg.offsetsTopic] });
    const committed = {};
    for (const tp of fo) for (const p of tp.partitions) committed[p.partition] = Number(p.offset);
    emit('txn', { i, action: t.action, res: resOut(res), committed });
  }
  step = 'disconnect producer';
  await producer.disconnect();
  await admin.disconnect();
  step = 'consume';
  const consumer = kafka.consumer({ groupId: cfg.consumeGroup, readUncommitted: false, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumeAll(consumer, true);
}

async function ckjs() {
  const { Kafka } = require('@confluentinc/kafka-javascript').KafkaJS;
  const kafka = new Kafka({ kafkaJS: { clientId: 'txn-ckjs', brokers: [cfg.bootstrap], logger: stderrLogger } });
  const producer = kafka.producer({
    kafkaJS: { transactionalId: cfg.tid, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
      transactionTimeout: 30000 },
    'linger.ms': 5,
  });
  step = 'connect';
  await producer.connect();
  for (let i = 0; i < cfg.txns.length; i++) {
    const t = cfg.txns[i];
    step = 'txn ' + i + ' begin';
    const txn = await producer.transaction();
    step = 'txn ' + i + ' send';
    const res = await txn.send({ topic: cfg.topic, messages: messagesFor(i, t.n) });
    step = 'txn ' + i + ' ' + t.action;
    if (t.action === 'commit') await txn.commit(); else await txn.abort();
    emit('txn', { i, action: t.action, res: resOut(res), committed: null });
  }
  step = 'disconnect producer';
  await producer.disconnect();
  step = 'consume';
  const consumer = kafka.consumer({
    kafkaJS: { groupId: cfg.consumeGroup, fromBeginning: true, autoCommit: false },
    'isolation.level': 'read_committed',
    'fetch.wait.max.ms': 200,
  });
  await consumer.connect();
  await consumeAll(consumer, false);
}

runMain(cfg.client === 'kafkajs' ? kafkajs() : ckjs(), (e) => ({
  step, name: e && e.name, message: String(e && e.message), code: e && e.code, stack: String((e && e.stack) || e),
}));
