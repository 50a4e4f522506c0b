// How a map's tasks and results become queue messages: packed by size, within a queue's limits.

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * Packs items (JSON texts) into bodies `head + items.join(',') + tail` of at most `maxBytes` bytes
 * and `maxItems` items each, in order. An item too big for a body even alone gets a body of its
 * own, over the limit: the sender puts that one in the payload store.
 */
export function packBodies(items: string[], head: string, tail: string, maxBytes: number, maxItems = Infinity): string[] {
  const frame = bytes(head) + bytes(tail);
  const bodies: string[] = [];
  let batch: string[] = [];
  let size = frame;
  for (const item of items) {
    const itemBytes = bytes(item);
    if (batch.length && (batch.length >= maxItems || size + 1 + itemBytes > maxBytes)) {
      bodies.push(head + batch.join(',') + tail);
      batch = [];
      size = frame;
    }
    size += itemBytes + (batch.length ? 1 : 0);
    batch.push(item);
  }
  if (batch.length) bodies.push(head + batch.join(',') + tail);
  return bodies;
}

/** Splits bodies, each within `maxBytes`, into sends of at most `maxBatch` bodies and `maxBytes` in all. */
export function groupSends(bodies: string[], maxBatch: number, maxBytes: number): string[][] {
  const sends: string[][] = [];
  let group: string[] = [];
  let size = 0;
  for (const body of bodies) {
    const b = bytes(body);
    if (group.length && (group.length >= maxBatch || size + b > maxBytes)) {
      sends.push(group);
      group = [];
      size = 0;
    }
    group.push(body);
    size += b;
  }
  if (group.length) sends.push(group);
  return sends;
}
