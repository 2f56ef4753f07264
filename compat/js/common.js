// What the compat drivers (core.js, idempotence.js, transactions.js,
// member.js) share: the event line protocol the pytest side reads, the
// config file they are given, and a logger for
// @confluentinc/kafka-javascript that keeps stdout for events.
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

/** Produce results as the tests compare them. */
function resOut(res) {
  return (res || []).map((r) => ({ partition: r.partition, baseOffset: Number(r.baseOffset), errorCode: r.errorCode }));
}

module.exports = { emit, loadConfig, stderrLogger, resOut };
