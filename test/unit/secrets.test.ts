// Secret names, index credentials and the netrc file pip reads them from (core/secrets.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkSecretName, netrcText, parseIndexCredentials } from '../../src/core/secrets';
import { tempDir } from '../support/tempDir';

test('secret names: letters, digits, - and _, up to 64, starting with a letter or digit', () => {
  for (const ok of ['a', 'pypi-creds', 'GIT_KEY_2', '9lives', 'x'.repeat(64)]) assert.equal(checkSecretName(ok), ok);
  for (const bad of ['', '-a', '_a', 'a.b', 'a/b', 'a b', 'é', 'x'.repeat(65)]) assert.throws(() => checkSecretName(bad), /not a secret name/);
});

test('index credentials: user:password (the password may hold colons), or a bare token for __token__', () => {
  assert.deepEqual(parseIndexCredentials('s', 'alice:pa:ss\n'), { login: 'alice', password: 'pa:ss' });
  assert.deepEqual(parseIndexCredentials('s', '  tok3n  '), { login: '__token__', password: 'tok3n' });
  assert.throws(() => parseIndexCredentials('s', 'alice:'), /Secret s is not index credentials: it should hold user:password, or a token/);
  assert.throws(() => parseIndexCredentials('s', ':pw'), /not index credentials/);
});

test("the netrc file reads back exactly with Python's netrc, whatever the password holds", () => {
  const passwords = ['plain', 'p#ss', 'with space', 'q"uote', 'back\\slash', "it's", 'a:b@c'];
  const dir = tempDir('netrc');
  for (const [i, pw] of passwords.entries()) {
    const file = path.join(dir, `netrc${i}`);
    fs.writeFileSync(file, netrcText(['idx.example', 'idx.example', 'other.example'], 'bob', pw), { mode: 0o600 });
    const got = execFileSync('python3', ['-c', 'import netrc, sys, json; n = netrc.netrc(sys.argv[1]); print(json.dumps([n.authenticators(h) for h in ("idx.example", "other.example")]))', file], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(got), [['bob', '', pw], ['bob', '', pw]], pw);
    assert.equal(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length, 2, 'one line per host');
  }
});
