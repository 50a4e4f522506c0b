// Runs a Lambda function's handler the way the nodejs runtime does, in this (Node 22) process:
// `node lambdaInvoke.cjs TASK_DIR HANDLER EVENT_JSON`, with the function's environment already set.
// The module is loaded from TASK_DIR (the unzipped code, also the working directory), the handler
// called with the event and a context shaped like Lambda's, and its answer printed as the last line
// ("RESULT <json>"); the process then ends, as an invocation's sandbox is frozen.
const crypto = require('node:crypto');
const path = require('node:path');

const [taskDir, handlerName, eventJson] = process.argv.slice(2);
const [file, exported] = handlerName.split('.');
const timeoutMs = Number(process.env.MEADOWRUN_TEST_TIMEOUT_S || 120) * 1000;
const deadline = Date.now() + timeoutMs;
const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
const context = {
  awsRequestId: crypto.randomUUID(),
  functionName: name,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:123456789012:function:${name}`,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  logGroupName: `/aws/lambda/${name}`,
  logStreamName: 'test',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};
const timer = setTimeout(() => {
  process.stdout.write(`\nRESULT ${JSON.stringify({ errorType: 'Timeout', errorMessage: `Task timed out after ${timeoutMs / 1000} seconds` })}\n`);
  process.exit(3);
}, timeoutMs);
Promise.resolve()
  .then(() => require(path.join(taskDir, `${file}.js`))[exported](JSON.parse(eventJson), context))
  .then(
    (result) => {
      clearTimeout(timer);
      process.stdout.write(`\nRESULT ${JSON.stringify(result ?? null)}\n`);
      process.exit(0);
    },
    (e) => {
      clearTimeout(timer);
      process.stdout.write(`\nRESULT ${JSON.stringify({ errorType: e?.name, errorMessage: e?.message })}\n`);
      process.exit(1);
    },
  );
