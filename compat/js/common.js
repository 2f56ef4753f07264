// What the compat drivers (core.js, idempotence.js, transactions.js,
// member.js) share: the event line protocol the pytest side reads, the
// config file they are given, loggers for both clients that keep stdout
// for events, closing a group consumer once, and how a driver exits.
'use strict';

const fs = require('fs');

/** Writes one event line: "EV " + JSON of {ev, ...fields}. */
function emit(ev, fields) {
  process.stdout.write('EV ' + JSON.stringify(Object.assign({ ev }, fields || {})) + '\n');
}

/** The JSON config in the file named by the first argument. */
function loadConfig() {
  return JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
}

const show = (m) => (typeof m === 'string' ? m : JSON.stringify(m));

/** A kafkaJS-style logger: warnings and errors to stderr, the rest dropped. */
const stderrLogger = {
  info: () => {}, debug: () => {}, setLogLevel: () => {}, namespace() { return this; },
  warn: (m) => process.stderr.write('WARN ' + show(m) + '\n'),
  error: (m) => process.stderr.write('ERROR ' + show(m) + '\n'),
};

/** A kafkajs logCreator: every log line to stderr as "[namespace] message". */
const kafkajsLogCreator = () => ({ namespace, log }) => process.stderr.write(`[${namespace}] ${log.message}\n`);

/** Produce results as the tests compare them. */
function resOut(res) {
  return (res || []).map((r) => ({ partition: r.partition, baseOffset: Number(r.baseOffset), errorCode: r.errorCode }));
}

/**
 * Closing a group consumer once: the first close(ev) disconnects it (a
 * failed disconnect is emitted as {ev: "error"}) and then calls finish(ev);
 * later calls do nothing. `closing` is true from the first call on.
 */
function consumerCloser(consumer, finish) {
  const closer = {
    closing: false,
    async close(ev) {
      if (closer.closing) return;
      closer.closing = true;
      try {
        await consumer.disconnect();
      } catch (e) {
        emit('error', { error: 'disconnect: ' + e });
      }
      finish(ev);
    },
  };
  return closer;
}

/**
 * Runs a driver's main promise to the end of the process: exits with the
 * code it resolves to (0 for none); if it rejects, emits {ev: "error",
 * ...errorFields(e)} (by default {error: the stack}) and exits 1.
 */
function runMain(promise, errorFields = (e) => ({ error: String((e && e.stack) || e) })) {
  promise.then((code) => process.exit(code || 0), (e) => {
    emit('error', errorFields(e));
    process.exit(1);
  });
}

module.exports = { emit, loadConfig, stderrLogger, kafkajsLogCreator, resOut, consumerCloser, runMain };
