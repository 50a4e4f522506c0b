// Code sync: the instance's code store and the client's side of the sync exchange, without SSH.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CodeStore } from '../../src/agent/codeStore';
import { MeadowrunError } from '../../src/core/errors';
import { syncProject } from '../../src/jobs/codeSync';
import { AgentSession } from '../../src/remote/agentSession';
import { ClientMessage } from '../../src/remote/protocol';
import { makeProject } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

test('the upload path of a fresh instance is in a directory that exists, private to its user', () => {
  const workDir = tempDir('work');
  const store = new CodeStore(workDir);
  const upload = store.uploadPath('proj-1', 'job-1');
  assert.equal(path.dirname(upload), path.join(workDir, 'projects'));
  assert.equal(fs.statSync(path.dirname(upload)).mode & 0o777, 0o700);
  assert.throws(() => store.uploadPath('proj-1', '../job'), /bad job id/);
  assert.throws(() => store.uploadPath('../proj', 'job-1'), /bad project name/);
});

test('an uploaded tarball is unpacked only from where the store asked for it', async () => {
  const workDir = tempDir('work');
  const store = new CodeStore(workDir);
  const elsewhere = path.join(tempDir('elsewhere'), '.proj-1.job-1.tgz');
  fs.writeFileSync(elsewhere, 'not a tarball');
  await assert.rejects(store.apply('proj-1', [], elsewhere), /not in/);
  assert.ok(fs.existsSync(elsewhere), 'a file outside the projects directory is left alone');
});

/** An agent session that answers sync requests like an agent, and whose SFTP upload fails. */
function sessionWithFailingUpload(): { session: AgentSession; sent: ClientMessage[] } {
  const sent: ClientMessage[] = [];
  let id = 1;
  const fake = {
    instanceId: 'local-0badf00d',
    newRequestId: () => id++,
    request: async (m: ClientMessage) => {
      sent.push(m);
      if (m.t === 'sync') return { t: 'sync-need', id: m.id, paths: m.files.map((f) => f.path), uploadPath: '/work/projects/.p.j.tgz' };
      return { t: 'sync-done', id: 0 };
    },
    connection: {
      upload: async () => {
        throw new Error('No such file');
      },
    },
  };
  return { session: fake as unknown as AgentSession, sent };
}

test('an SFTP failure during sync names the stage and the instance', async () => {
  const project = makeProject({ 'm.py': 'def f():\n    return 42\n' });
  fs.writeFileSync(path.join(project, 'blob.bin'), crypto.randomBytes(1_200_000));
  const { session, sent } = sessionWithFailingUpload();
  await assert.rejects(syncProject(session, project, 'p', 'j'), (e: Error) => {
    assert.ok(e instanceof MeadowrunError, String(e));
    assert.equal(e.code, 'sync');
    assert.match(e.message, /^Sync failed on instance local-0badf00d: uploading 2 changed files \(1\.\d MiB\) to \/work\/projects\/\.p\.j\.tgz over SFTP: No such file$/);
    return true;
  });
  assert.deepEqual(sent.map((m) => m.t), ['sync'], 'nothing is applied after a failed upload');
});
