// The client's SSH key must always be one the client itself can load: ssh2's generator writes about
// one ed25519 key in 250 that its own parser rejects ("Malformed OpenSSH private key"), which made
// a fresh state directory fail every connection now and then.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utils } from 'ssh2';
import { generateSshKeyPair, parseSshKeyPair } from '../../src/cloud/sshKeys';

test('every generated key pair parses back, both halves, and the halves match', () => {
  // 2,000 pairs: with the raw generator, about 8 would be unreadable (the chance of none is ~0.03 %).
  for (let i = 0; i < 2000; i++) {
    const pair = generateSshKeyPair();
    const priv = utils.parseKey(pair.privateKey);
    const pub = utils.parseKey(pair.publicKey);
    assert.ok(!(priv instanceof Error), `private key ${i}: ${(priv as Error).message}`);
    assert.ok(!(pub instanceof Error), `public key ${i}: ${(pub as Error).message}`);
    const [p] = Array.isArray(priv) ? priv : [priv];
    const [q] = Array.isArray(pub) ? pub : [pub];
    assert.deepEqual(p.getPublicSSH(), q.getPublicSSH());
    assert.match(pair.publicKey, /^ssh-ed25519 \S+ meadowrun$/);
  }
});

test('a key pair kept as JSON in a secret reads back; any other text reads as none', () => {
  const pair = generateSshKeyPair();
  assert.deepEqual(parseSshKeyPair(JSON.stringify({ ...pair, extra: 1 })), pair);
  for (const text of [undefined, '', 'not json', '"a string"', 'null', '{"privateKey": "k"}', '{"privateKey": 1, "publicKey": "p"}']) {
    assert.equal(parseSshKeyPair(text), undefined, String(text));
  }
});
