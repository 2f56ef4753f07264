#!/usr/bin/env node
// Runs a list of admin operations for compat/test_22_groups_js.py.
//
//   node admin.js '{"client": "kafkajs"|"ckjs", "bootstrap": "...", "ops": [["describeGroups", ["g"]], ...]}'
//
// Each op is [methodName, ...args] called on the client's KafkaJS-style
// admin object. Prints one JSON line per op on stdout, prefixed with "EV ":
//   {"op": name, "ok": result}   or   {"op": name, "error": {name, message, code, type, groups, ...}}
// Buffers come out as {"type": "Buffer", "data": [..bytes]}.
'use strict';

const cfg = JSON.parse(process.argv[2]);

function makeAdmin() {
  if (cfg.client === 'kafkajs') {
    const { Kafka, logLevel } = require('kafkajs');
    return new Kafka({
      clientId: 'js-admin', brokers: [cfg.bootstrap], logLevel: logLevel.NOTHING,
      retry: { retries: 3, initialRetryTime: 100 },
    }).admin();
  }
  const { Kafka, logLevel } = require('@confluentinc/kafka-javascript').KafkaJS;
  return new Kafka({
    kafkaJS: {
      clientId: 'js-admin', brokers: [cfg.bootstrap], logLevel: logLevel.NOTHING,
      logger: {
        info: () => {}, debug: () => {}, warn: () => {}, setLogLevel: () => {}, namespace() { return this; },
        error: (m) => process.stderr.write('ERROR ' + m + '\n'),
      },
    },
  }).admin();
}

function plainError(e, depth = 0) {
  if (e === null || typeof e !== 'object' || depth > 3) return e;
  const out = { name: e.name, message: e.message };
  for (const k of Object.keys(e)) {
    if (k === 'stack' || k === 'cause') continue;
    const v = e[k];
    if (Array.isArray(v)) {
      out[k] = v.map((x) => (x instanceof Error ? plainError(x, depth + 1) : (x && typeof x === 'object'
        ? Object.fromEntries(Object.entries(x).map(([kk, vv]) => [kk, vv instanceof Error ? plainError(vv, depth + 1) : vv]))
        : x)));
    } else if (v instanceof Error) {
      out[k] = plainError(v, depth + 1);
    } else {
      out[k] = v;
    }
  }
  return out;
}

function emit(obj) {
  process.stdout.write('EV ' + JSON.stringify(obj, (k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

async function main() {
  const admin = makeAdmin();
  await admin.connect();
  try {
    for (const [name, ...args] of cfg.ops) {
      try {
        emit({ op: name, ok: await admin[name](...args) });
      } catch (e) {
        emit({ op: name, error: plainError(e) });
      }
    }
  } finally {
    await admin.disconnect();
  }
}

const timer = setTimeout(() => { process.stderr.write('admin.js: timed out\n'); process.exit(2); }, 60000);
main().then(() => { clearTimeout(timer); process.exit(0); }, (e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
