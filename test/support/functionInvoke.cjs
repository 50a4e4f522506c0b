// Runs an Azure Function app's timer function the way the Node worker does, in this (Node 22)
// process: `node functionInvoke.cjs APP_DIR FUNCTION`, with the app settings already in the
// environment. The app is loaded from APP_DIR (the unzipped package: package.json's main, also the
// working directory) — its app.timer() registration finds no Functions host and leaves
// @azure/functions in its test mode — and the exported handler called with a timer object shaped
// like the trigger's and a context shaped like an InvocationContext; its answer is printed as the
// last line ("RESULT <json>") and the process ends, as a worker's invocation does.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const [appDir, name] = process.argv.slice(2);
const main = JSON.parse(fs.readFileSync(path.join(appDir, 'package.json'), 'utf8')).main;
const timeoutMs = Number(process.env.MEADOWRUN_TEST_TIMEOUT_S || 300) * 1000;
const now = new Date();
const timer = { isPastDue: false, scheduleStatus: { last: new Date(now.getTime() - 60_000).toISOString(), next: new Date(now.getTime() + 60_000).toISOString(), lastUpdated: now.toISOString() } };
const log = (level) => (...args) => console.log(`[${level}]`, ...args);
const context = {
  invocationId: crypto.randomUUID(),
  functionName: name,
  extraInputs: { get: () => undefined, set: () => undefined },
  extraOutputs: { get: () => undefined, set: () => undefined },
  options: { trigger: { type: 'timerTrigger', name: 'timer', schedule: process.env.MEADOWRUN_SCHEDULE }, extraInputs: [], extraOutputs: [] },
  log: log('information'), trace: log('trace'), debug: log('debug'), info: log('information'), warn: log('warning'), error: log('error'),
};
const timeout = setTimeout(() => {
  process.stdout.write(`\nRESULT ${JSON.stringify({ errorType: 'Timeout', errorMessage: `Timeout value of ${timeoutMs / 1000} s was exceeded` })}\n`);
  process.exit(3);
}, timeoutMs);
Promise.resolve()
  .then(() => require(path.join(appDir, main))[name](timer, context))
  .then(
    (result) => {
      clearTimeout(timeout);
      process.stdout.write(`\nRESULT ${JSON.stringify(result ?? null)}\n`);
      process.exit(0);
    },
    (e) => {
      clearTimeout(timeout);
      process.stdout.write(`\nRESULT ${JSON.stringify({ errorType: e?.name, errorMessage: e?.message })}\n`);
      process.exit(1);
    },
  );
