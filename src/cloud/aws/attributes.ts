// JSON values as DynamoDB attribute values and back, by hand: @aws-sdk/util-dynamodb is not a
// dependency, and the records here are plain JSON (strings, finite numbers, booleans, maps, lists).
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export type Item = Record<string, AttributeValue>;

export function toAttribute(v: unknown): AttributeValue {
  if (v === null) return { NULL: true };
  switch (typeof v) {
    case 'string':
      return { S: v };
    case 'number':
      if (!Number.isFinite(v)) throw new Error(`DynamoDB cannot store the number ${v}`);
      return { N: String(v) };
    case 'boolean':
      return { BOOL: v };
    case 'object':
      return Array.isArray(v) ? { L: v.map((x) => toAttribute(x ?? null)) } : { M: toItem(v as object) };
  }
  throw new Error(`DynamoDB cannot store a ${typeof v}`);
}

/** An object as an item; properties that are undefined are left out, as JSON.stringify does. */
export function toItem(o: object): Item {
  const item: Item = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) item[k] = toAttribute(v);
  return item;
}

export function fromAttribute(a: AttributeValue): unknown {
  if (a.S !== undefined) return a.S;
  if (a.N !== undefined) return Number(a.N);
  if (a.BOOL !== undefined) return a.BOOL;
  if (a.NULL) return null;
  if (a.L) return a.L.map(fromAttribute);
  if (a.M) return fromItem(a.M);
  throw new Error(`unexpected DynamoDB attribute ${JSON.stringify(a)}`);
}

export function fromItem(item: Item): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) o[k] = fromAttribute(v);
  return o;
}
