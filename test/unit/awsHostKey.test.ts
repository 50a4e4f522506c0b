// The host keys an EC2 client pins: what an instance published in its row is taken only when it
// is an ed25519 public key blob; the console's "SSH HOST KEY KEYS" block is the fallback.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { isEd25519Blob } from '../../src/cloud/readiness';
import { hostKeyFromConsole } from '../../src/cloud/cloudInit';
import { tempDir } from '../support/tempDir';

test('a published host key counts only when it is an ed25519 public key blob', () => {
  const dir = tempDir('hostkey-unit');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'k')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', path.join(dir, 'e')]);
  const blob = fs.readFileSync(path.join(dir, 'k.pub'), 'utf8').split(' ')[1];
  assert.equal(isEd25519Blob(blob), true);
  assert.equal(isEd25519Blob(fs.readFileSync(path.join(dir, 'e.pub'), 'utf8').split(' ')[1]), false, 'another kind');
  assert.equal(isEd25519Blob(blob.slice(0, -8)), false, 'cut short');
  assert.equal(isEd25519Blob(`${blob}\nssh-rsa AAAA`), false, 'more than a key');
  assert.equal(isEd25519Blob(''), false);
  // The console's block, as cloud-init prints it (with the "ec2:" prefix some images add).
  const console = `boot…\n-----BEGIN SSH HOST KEY KEYS-----\nec2: ssh-ed25519 ${blob} root@ip-10-0-0-1\n-----END SSH HOST KEY KEYS-----\n`;
  assert.equal(hostKeyFromConsole(console), blob);
  assert.equal(hostKeyFromConsole('boot…\n-----BEGIN SSH HOST KEY KEYS-----\n'), undefined, 'not printed in full yet');
});
