#!/usr/bin/env node
// A consumer-group member for compat/test_22_groups_js.py.
//
//   node member.js '<json config>'
//
// config: {client: "kafkajs" | "ckjs", bootstrap, topic, group, name,
//          sessionMs, heartbeatMs, limit (optional), maxSeconds}
//
// kafkajs 2.2.4 or @confluentinc/kafka-javascript (its KafkaJS-compatible
// API). Subscribes from the beginning with autoCommit off; in eachMessage
// every message is committed synchronously (offset + 1) before the next one
// is processed. With `limit`, exactly that many messages are processed, then
// the consumer disconnects by itself.
//
// Prints one JSON event per line on stdout, prefixed with "EV ":
//   {"ev":"ready"}
//   {"ev":"assign","parts":[..],"owned":[..],"incremental":bool}  (kafkajs: GROUP_JOIN, the full
//                                                                  assignment; ckjs: rebalance_cb)
//   {"ev":"revoke","parts":[..],"owned":[..]}                       (ckjs only)
//   {"ev":"msg","p":P,"o":O,"v":"value","committed":true|false,"error":...}
//   {"ev":"closed"} / {"ev":"deadline"} / {"ev":"error","error":...}
// Reads "close" on stdin: disconnect (LeaveGroup) and exit 0.
'use strict';

const readline = require('readline');

const { emit, stderrLogger, kafkajsLogCreator, consumerCloser, runMain } = require('./common');

const cfg = JSON.parse(process.argv[2]);
let owned = new Set();
let processed = 0;

function sorted(set) {
  return Array.from(set).sort((a, b) => a - b);
}

function makeConsumer() {
  if (cfg.client === 'kafkajs') {
    const { Kafka, logLevel } = require('kafkajs');
    const kafka = new Kafka({
      clientId: cfg.name,
      brokers: [cfg.bootstrap],
      logLevel: logLevel.ERROR,
      logCreator: kafkajsLogCreator,
      retry: { retries: 10, initialRetryTime: 100 },
    });
    const consumer = kafka.consumer({
      groupId: cfg.group,
      sessionTimeout: cfg.sessionMs,
      heartbeatInterval: cfg.heartbeatMs,
      rebalanceTimeout: 20000,
      maxWaitTimeInMs: 100,
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const parts = (e.payload.memberAssignment || {})[cfg.topic] || [];
      owned = new Set(parts);
      emit('assign', {
        parts: sorted(owned), owned: sorted(owned), incremental: false,
        memberId: e.payload.memberId, isLeader: e.payload.isLeader, protocol: e.payload.groupProtocol,
      });
    });
    consumer.on(consumer.events.CRASH, (e) => emit('error', { error: String(e.payload.error) }));
    return { consumer, subscribe: { topics: [cfg.topic], fromBeginning: true } };
  }
  const { Kafka, logLevel } = require('@confluentinc/kafka-javascript').KafkaJS;
  const kafka = new Kafka({
    kafkaJS: {
      clientId: cfg.name,
      brokers: [cfg.bootstrap],
      logLevel: logLevel.ERROR,
      logger: stderrLogger,
    },
  });
  const consumer = kafka.consumer({
    kafkaJS: {
      groupId: cfg.group,
      fromBeginning: true,
      autoCommit: false,
      sessionTimeout: cfg.sessionMs,
      heartbeatInterval: cfg.heartbeatMs,
      rebalanceTimeout: 20000,
      maxWaitTimeInMs: 100,
    },
    'client.id': cfg.name,
    rebalance_cb: (err, assignment) => {
      const parts = assignment.filter((tp) => tp.topic === cfg.topic).map((tp) => tp.partition);
      if (err.code === -175) { // ERR__ASSIGN_PARTITIONS
        parts.forEach((p) => owned.add(p));
        emit('assign', { parts: parts.sort((a, b) => a - b), owned: sorted(owned), incremental: true });
      } else if (err.code === -174) { // ERR__REVOKE_PARTITIONS
        parts.forEach((p) => owned.delete(p));
        emit('revoke', { parts: parts.sort((a, b) => a - b), owned: sorted(owned) });
      } else {
        emit('error', { error: 'rebalance_cb: ' + err.message });
      }
    },
  });
  return { consumer, subscribe: { topics: [cfg.topic] } };
}

async function main() {
  const { consumer, subscribe } = makeConsumer();
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  const closer = consumerCloser(consumer, (ev) => {
    emit(ev);
    done(ev === 'deadline' ? 3 : 0);
  });

  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'close') closer.close('closed');
  });
  setTimeout(() => closer.close('deadline'), cfg.maxSeconds * 1000).unref();

  await consumer.connect();
  await consumer.subscribe(subscribe);
  emit('ready');
  const runOpts = cfg.client === 'kafkajs' ? { autoCommit: false } : {}; // ckjs: in the consumer config
  await consumer.run(Object.assign(runOpts, {
    eachMessage: async ({ topic, partition, message }) => {
      if (closer.closing || (cfg.limit != null && processed >= cfg.limit)) {
        return; // not processed, not committed
      }
      const next = (BigInt(message.offset) + 1n).toString();
      const rec = { p: partition, o: Number(message.offset), v: message.value.toString() };
      try {
        await consumer.commitOffsets([{ topic, partition, offset: next }]);
        emit('msg', Object.assign(rec, { committed: true }));
      } catch (e) {
        emit('msg', Object.assign(rec, { committed: false, error: String(e) }));
      }
      processed += 1;
      if (cfg.limit != null && processed >= cfg.limit) {
        setImmediate(() => closer.close('closed'));
      }
    },
  }));
  return finished;
}

runMain(main());
