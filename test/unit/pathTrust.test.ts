import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PathEntry, untrustedDirectory } from '../../src/core/pathTrust';

const ME = 1000;
const dir = (path: string, uid: number, mode: number): PathEntry => ({ path, uid, mode: 0o40000 | mode });
const root = dir('/', 0, 0o755);
const tmp = dir('/tmp', 0, 0o1777);

test('a private directory of yours under root-owned parents is trusted', () => {
  const entries = [dir('/home/me/.meadowrun/local', ME, 0o700), dir('/home/me/.meadowrun', ME, 0o755), dir('/home/me', ME, 0o750), dir('/home', 0, 0o755), root];
  assert.equal(untrustedDirectory(entries, ME, true), undefined);
  assert.equal(untrustedDirectory(entries, ME, false), undefined);
});

test('parts that do not exist yet are not judged', () => {
  assert.equal(untrustedDirectory([{ path: '/tmp/new/state' }, { path: '/tmp/new' }, tmp, root], ME, true), undefined);
});

test('a sticky shared directory like /tmp is fine on the way, but not for sshd', () => {
  const entries = [dir('/tmp/x/state', ME, 0o700), dir('/tmp/x', ME, 0o700), tmp, root];
  assert.equal(untrustedDirectory(entries, ME, true), undefined);
  assert.deepEqual(untrustedDirectory(entries, ME, false), { path: '/tmp', why: 'can be written by other users' });
});

test('a directory others can write, without the sticky bit, is refused wherever it is', () => {
  const shared = [dir('/srv/shared/state', ME, 0o700), dir('/srv/shared', 0, 0o777), dir('/srv', 0, 0o755), root];
  assert.deepEqual(untrustedDirectory(shared, ME, true), { path: '/srv/shared', why: 'can be written by other users' });
  const group = [dir('/srv/team/state', ME, 0o700), dir('/srv/team', ME, 0o775), dir('/srv', 0, 0o755), root];
  assert.deepEqual(untrustedDirectory(group, ME, true), { path: '/srv/team', why: 'can be written by other users' });
});

test('the directory itself must be yours and closed to others, sticky or not', () => {
  assert.deepEqual(untrustedDirectory([dir('/tmp/state', 0, 0o700), tmp, root], ME, true), { path: '/tmp/state', why: 'belongs to another user (uid 0)' });
  assert.deepEqual(untrustedDirectory([dir('/tmp/state', ME, 0o1777), tmp, root], ME, true), { path: '/tmp/state', why: 'can be written by other users' });
});

test("a directory of another user on the way is refused; root's are fine", () => {
  const theirs = [dir('/home/eve/state', ME, 0o700), dir('/home/eve', 1001, 0o755), dir('/home', 0, 0o755), root];
  assert.deepEqual(untrustedDirectory(theirs, ME, true), { path: '/home/eve', why: 'belongs to another user (uid 1001)' });
  assert.equal(untrustedDirectory([dir('/var/lib/me', ME, 0o700), dir('/var/lib', 0, 0o755), dir('/var', 0, 0o755), root], ME, true), undefined);
});

test('in a sticky shared directory, the entry must be yours (another user could have planted it)', () => {
  const planted = [dir('/tmp/evil/state', ME, 0o700), dir('/tmp/evil', 1001, 0o755), tmp, root];
  assert.deepEqual(untrustedDirectory(planted, ME, true), { path: '/tmp/evil', why: 'belongs to another user (uid 1001)' });
  const byRoot = [dir('/tmp/r/state', ME, 0o700), dir('/tmp/r', 0, 0o755), tmp, root];
  assert.deepEqual(untrustedDirectory(byRoot, ME, true), { path: '/tmp/r', why: 'belongs to another user (uid 0)' });
});

test('for root, everything root owns is its own', () => {
  assert.equal(untrustedDirectory([dir('/tmp/x/state', 0, 0o700), dir('/tmp/x', 0, 0o700), tmp, root], 0, true), undefined);
});
