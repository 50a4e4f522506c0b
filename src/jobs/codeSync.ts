import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tar from 'tar';
import { MeadowrunError } from '../core/errors';
import { AgentSession } from '../remote/agentSession';
import { INLINE_LIMIT } from '../remote/protocol';
import { listProjectFiles } from './projectFiles';


// What each open session already has, so an unchanged project costs no round trip at all.
const synced = new WeakMap<AgentSession, Map<string, string>>();

export interface SyncResult {
  files: number;
  sent: number;
  bytes: number;
  /** Symlinks not synced because they point outside the project. */
  skipped: string[];
}

/** Makes the instance's copy of the project match the local folder, sending only changed files. */
export async function syncProject(session: AgentSession, root: string, project: string, jobId: string): Promise<SyncResult> {
  const { files, skipped } = listProjectFiles(root);
  const digest = crypto.createHash('sha1').update(JSON.stringify(files)).digest('hex');
  let known = synced.get(session);
  if (!known) synced.set(session, (known = new Map()));
  if (known.get(project) === digest) return { files: files.length, sent: 0, bytes: 0, skipped };

  const reply = await session.request({ t: 'sync', id: session.newRequestId(), jobId, project, files });
  if (reply.t !== 'sync-need') throw new MeadowrunError(`Sync failed on instance ${session.instanceId}: unexpected reply "${reply.t}"`, 'sync');
  if (reply.upToDate) {
    known.set(project, digest);
    return { files: files.length, sent: 0, bytes: 0, skipped };
  }
  const need = reply.paths;
  let bytes = 0;
  let tarBase64: string | undefined;
  let tarPath: string | undefined;
  if (need.length > 0) {
    const chunks: Buffer[] = [];
    for await (const chunk of tar.c({ gzip: true, cwd: root, portable: true }, need)) chunks.push(chunk as Buffer);
    const tarball = Buffer.concat(chunks);
    bytes = tarball.length;
    if (tarball.length <= INLINE_LIMIT) {
      tarBase64 = tarball.toString('base64');
    } else {
      const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-sync-')), 'project.tgz');
      fs.writeFileSync(local, tarball);
      tarPath = reply.uploadPath;
      try {
        await session.connection.upload(local, tarPath);
      } catch (e) {
        if (e instanceof MeadowrunError) throw e;
        const size = `${(tarball.length / (1 << 20)).toFixed(1)} MiB`;
        throw new MeadowrunError(`Sync failed on instance ${session.instanceId}: uploading ${need.length} changed files (${size}) to ${tarPath} over SFTP: ${(e as Error).message}`, 'sync');
      } finally {
        fs.rmSync(path.dirname(local), { recursive: true, force: true });
      }
    }
  }
  await session.request({ t: 'sync-put', id: session.newRequestId(), project, files, tarBase64, tarPath });
  known.set(project, digest);
  return { files: files.length, sent: need.length, bytes, skipped };
}
