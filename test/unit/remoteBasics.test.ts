import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder } from '../../src/remote/protocol';
import { nodeCommandLine, shellCommand } from '../../src/remote/shellQuote';

test('shell quoting: any word reaches the command unchanged', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'grapheme', minLength: 0, maxLength: 12 }).filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 4 }), (words) => {
      const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${shellCommand(words)}`]).toString();
      assert.deepEqual(out.split('\0').slice(0, -1), words);
    }),
    { numRuns: 60 },
  );
  assert.equal(shellCommand(['echo', "it's; rm -rf /"]), `echo 'it'\\''s; rm -rf /'`);
});

test("an instance's Node.js command: its words and environment reach the program unchanged", () => {
  const node = { command: ['/bin/sh', '-c', 'printf "%s\\0" "$MR_VALUE" "$@"', 'my node'], env: { MR_VALUE: "a b'$(touch /tmp/x)" } };
  const out = execFileSync('/bin/sh', ['-c', nodeCommandLine(node, ['agent.js', 'it\'s; rm -rf /'])]).toString();
  assert.deepEqual(out.split('\0').slice(0, -1), ["a b'$(touch /tmp/x)", 'agent.js', "it's; rm -rf /"]);
  // As the agent is started: after `exec`.
  const execed = execFileSync('/bin/sh', ['-c', `cd / && exec ${nodeCommandLine(node, ['agent.js'])}`]).toString();
  assert.deepEqual(execed.split('\0').slice(0, -1), ["a b'$(touch /tmp/x)", 'agent.js']);
  assert.throws(() => nodeCommandLine({ command: ['node'], env: { 'A; rm -rf /': 'x' } }, []), /not an environment variable name/);
});

test('frames survive any chunking of the byte stream', () => {
  fc.assert(
    fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1 }), (texts, cuts) => {
      const messages = texts.map((m, i) => ({ t: 'error' as const, id: i, message: m }));
      const bytes = Buffer.concat(messages.map(encodeFrame));
      const decoder = new FrameDecoder();
      const got: unknown[] = [];
      let at = 0;
      for (let i = 0; at < bytes.length; i++) {
        const n = cuts[i % cuts.length];
        got.push(...decoder.push(bytes.subarray(at, at + n)));
        at += n;
      }
      assert.deepEqual(got, messages);
    }),
  );
});

test('sizes read at a glance', async () => {
  const { bytes } = await import('../../src/core/format');
  assert.deepEqual([0, 1023, 1024, 10_944_000, 1.5 * 2 ** 30].map(bytes), ['0 B', '1023 B', '1.0 KiB', '10 MiB', '1.5 GiB']);
});
