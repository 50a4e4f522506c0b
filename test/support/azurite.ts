// Azurite, the Azure Storage emulator (npm devDependency, pinned), for one test file: Tables, Queues
// and Blob on free ports of 127.0.0.1 (Azurite binds port 0 and prints the ones it got), in memory,
// without telemetry (it would reach the internet). Its well-known development account and key are
// public (they are in Azurite's README), not a secret.
//
// With `oauth`, it serves HTTPS (a certificate from a test CA for 127.0.0.1 and `addresses`) with
// `--oauth basic`: bearer tokens are accepted beside the shared key, and Azurite checks their
// audience (https://storage.azure.com), issuer (an Entra one: https://sts.windows.net/…) and
// lifetime, not their signature (see test/support/accessToken.ts for tokens it takes).
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { StorageEndpoints } from '../../src/cloud/azure/storage';
import { tempDir } from './tempDir';
import { testCertificate } from './testCertificate';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  blobUrl: string;
  queueUrl: string;
  tableUrl: string;
  /** The connection string the SDKs' fromConnectionString take (shared key; http, or https with `oauth`). */
  connectionString: string;
  /** The services' URLs, for a token credential (StorageAccess.endpoints). */
  endpoints: StorageEndpoints;
  /** With `oauth`: the CA its certificate is signed by (tlsOptions.ca), and a file of it (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE). */
  ca?: string;
  caFile?: string;
  stop(): Promise<void>;
}

const bin = path.resolve(__dirname, '../../node_modules/.bin/azurite');
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startAzurite(o: { oauth?: boolean; addresses?: string[] } = {}): Promise<Azurite> {
  const tls = o.oauth ? testCertificate(['127.0.0.1', ...(o.addresses ?? [])], 'azurite') : undefined;
  const child = spawn(
    bin,
    [
      '--inMemoryPersistence',
      '--extentMemoryLimit', '256',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
      '--blobHost', '127.0.0.1', '--blobPort', '0',
      '--queueHost', '127.0.0.1', '--queuePort', '0',
      '--tableHost', '127.0.0.1', '--tablePort', '0',
      ...(tls ? ['--cert', tls.certFile, '--key', tls.keyFile, '--oauth', 'basic'] : []),
    ],
    { cwd: tempDir('azurite'), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const urls = await new Promise<Record<'Blob' | 'Queue' | 'Table', string>>((resolve, reject) => {
    const found: Partial<Record<'Blob' | 'Queue' | 'Table', string>> = {};
    const timer = setTimeout(() => fail(new Error(`Azurite did not start within 30 s:\n${output}`)), 30_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    const read = (d: Buffer) => {
      output += d.toString();
      for (const m of output.matchAll(/Azurite (Blob|Queue|Table) service is successfully listening at (https?:\/\/127\.0\.0\.1:\d+)/g)) {
        found[m[1] as 'Blob'] = m[2];
      }
      if (found.Blob && found.Queue && found.Table) {
        clearTimeout(timer);
        child.stdout!.off('data', read);
        resolve(found as Record<'Blob' | 'Queue' | 'Table', string>);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`Azurite exited (${signal ?? code}) before it listened:\n${output}`)));
  });
  child.stdout!.resume();
  const blobUrl = `${urls.Blob}/${AZURITE_ACCOUNT}`;
  const queueUrl = `${urls.Queue}/${AZURITE_ACCOUNT}`;
  const tableUrl = `${urls.Table}/${AZURITE_ACCOUNT}`;
  return {
    blobUrl,
    queueUrl,
    tableUrl,
    endpoints: { table: tableUrl, queue: queueUrl, blob: blobUrl },
    ...(tls && { ca: tls.ca, caFile: tls.caFile }),
    connectionString:
      `DefaultEndpointsProtocol=${tls ? 'https' : 'http'};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
      `BlobEndpoint=${blobUrl};QueueEndpoint=${queueUrl};TableEndpoint=${tableUrl};`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      running.delete(child);
    },
  };
}
