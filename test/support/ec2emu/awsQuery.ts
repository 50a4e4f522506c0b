// A minimal client for the AWS Query protocol (EC2, IAM, STS) against moto, so the test harness needs
// no AWS SDK. moto does not check signatures: the Authorization header only names the region and
// service, which is how one moto server tells the services apart.
import { randomUUID } from 'node:crypto';

export interface XmlNode {
  name: string;
  text: string;
  children: XmlNode[];
}

const entities: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) =>
    e[0] === '#' ? String.fromCodePoint(parseInt(e[1] === 'x' || e[1] === 'X' ? e.slice(2) : e.slice(1), e[1] === 'x' || e[1] === 'X' ? 16 : 10)) : (entities[e] ?? m));
}

/** Parses the XML that AWS Query APIs answer with (elements and text; attributes are dropped). */
export function parseXml(xml: string): XmlNode {
  const root: XmlNode = { name: '#root', text: '', children: [] };
  const stack = [root];
  const re = /<(\/?)([\w:.-]+)[^>]*?(\/?)>|<\?[^>]*\?>|<!--[\s\S]*?-->|([^<]+)/g;
  for (let m; (m = re.exec(xml)); ) {
    const top = stack[stack.length - 1];
    if (m[4] !== undefined) top.text += decode(m[4]);
    else if (!m[2]) continue;
    else if (m[1]) stack.pop();
    else {
      const node: XmlNode = { name: m[2], text: '', children: [] };
      top.children.push(node);
      if (!m[3]) stack.push(node);
    }
  }
  return root;
}

/** The first descendant with this path of element names, e.g. child(n, 'instancesSet', 'item'). */
export function child(node: XmlNode | undefined, ...path: string[]): XmlNode | undefined {
  for (const name of path) node = node?.children.find((c) => c.name === name);
  return node;
}
export function text(node: XmlNode | undefined, ...path: string[]): string | undefined {
  const n = child(node, ...path);
  return n ? n.text.trim() : undefined;
}
/** The <item>/<member> children of a list element. */
export function items(node: XmlNode | undefined, ...path: string[]): XmlNode[] {
  return child(node, ...path)?.children.filter((c) => c.name === 'item' || c.name === 'member') ?? [];
}
export function findAll(node: XmlNode, name: string): XmlNode[] {
  const out: XmlNode[] = [];
  const walk = (n: XmlNode) => {
    for (const c of n.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(node);
  return out;
}

export class AwsQueryError extends Error {
  constructor(readonly code: string, message: string, readonly status: number) {
    super(`${code}: ${message}`);
  }
}

const versions: Record<string, string> = { ec2: '2016-11-15', iam: '2010-05-08', sts: '2011-06-15' };

export async function awsQuery(
  endpoint: string,
  service: 'ec2' | 'iam' | 'sts',
  region: string,
  action: string,
  params: Record<string, string | number | undefined> = {},
): Promise<XmlNode> {
  const body = new URLSearchParams({ Action: action, Version: versions[service] });
  for (const [k, v] of Object.entries(params)) if (v !== undefined) body.set(k, String(v));
  const date = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      authorization: `AWS4-HMAC-SHA256 Credential=testing/${date}/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
      'x-amz-date': `${date}T000000Z`,
      'amz-sdk-invocation-id': randomUUID(),
    },
    body,
  });
  const tree = parseXml(await res.text());
  if (!res.ok) {
    const err = findAll(tree, 'Error')[0];
    throw new AwsQueryError(text(err, 'Code') ?? `HTTP${res.status}`, text(err, 'Message') ?? '', res.status);
  }
  return tree;
}
