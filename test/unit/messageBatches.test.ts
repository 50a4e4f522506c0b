import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupSends, packBodies } from '../../src/core/messageBatches';

const bytes = (s: string) => Buffer.byteLength(s);

test('items are packed into bodies by their bytes, in order, each body within the limit', () => {
  const items = Array.from({ length: 100 }, (_, i) => JSON.stringify({ task: i, arg: 'é'.repeat(i % 7) }));
  const bodies = packBodies(items, '{"tasks":[', ']}', 300);
  assert.ok(bodies.length > 1 && bodies.length < items.length, `${bodies.length} bodies`);
  assert.ok(bodies.every((b) => bytes(b) <= 300), 'counted in UTF-8 bytes, not characters');
  assert.deepEqual(bodies.flatMap((b) => JSON.parse(b).tasks), items.map((i) => JSON.parse(i)));
  // Full: each body but the last would have been over the limit with its successor's first item.
  for (let i = 0; i + 1 < bodies.length; i++) assert.ok(bytes(bodies[i]) + 1 + bytes(JSON.stringify(JSON.parse(bodies[i + 1]).tasks[0])) > 300);
});

test('a count limit applies as well, and an item too big alone gets a body of its own', () => {
  assert.deepEqual(packBodies(['1', '2', '3', '4', '5'], '[', ']', 1000, 2), ['[1,2]', '[3,4]', '[5]']);
  const big = `"${'x'.repeat(50)}"`;
  assert.deepEqual(packBodies(['1', big, '2'], '[', ']', 20), ['[1]', `[${big}]`, '[2]']);
  assert.deepEqual(packBodies([], '[', ']', 20), []);
});

test('bodies are grouped into sends of at most so many, and so many bytes in all', () => {
  const bodies = ['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40), 'd', 'e', 'f', 'g'];
  assert.deepEqual(groupSends(bodies, 3, 100), [[bodies[0], bodies[1]], [bodies[2], 'd', 'e'], ['f', 'g']]);
});
