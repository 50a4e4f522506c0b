// Map payloads too big for a queue message as block blobs `jobId/name` in one private container of
// the storage account; a reference is the blob's name. A job's payloads go with it (deleteJob); the
// container is made by prepare (ensurePayloadContainer).
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { MeadowrunError } from '../../core/errors';
import { PayloadStore } from '../ports';
import { serviceUrl, statusCode, storageErrorCode, StorageAccess } from './storage';

export const PAYLOAD_CONTAINER = 'meadowrun-payloads';

export class BlobPayloadStore implements PayloadStore {
  constructor(private readonly container: ContainerClient) {}

  static open(access: StorageAccess, container = PAYLOAD_CONTAINER): BlobPayloadStore {
    return new BlobPayloadStore(blobServiceClient(access).getContainerClient(container));
  }

  get containerName(): string {
    return this.container.containerName;
  }

  async put(key: string, data: Buffer | NodeJS.ReadableStream): Promise<string> {
    checkKey(key);
    const blob = this.container.getBlockBlobClient(key);
    if (Buffer.isBuffer(data)) await blob.uploadData(data);
    else await blob.uploadStream(data as NodeJS.ReadableStream & import('stream').Readable);
    return key;
  }

  async get(ref: string): Promise<Buffer> {
    checkKey(ref);
    try {
      return await this.container.getBlockBlobClient(ref).downloadToBuffer();
    } catch (e) {
      if (statusCode(e) === 404 || storageErrorCode(e) === 'BlobNotFound') {
        throw new MeadowrunError(`The payload ${ref} does not exist: its map job has ended or was cleaned up`, 'payload-gone');
      }
      throw e;
    }
  }

  async deleteJob(jobId: string): Promise<void> {
    if (!NAME.test(jobId)) throw badKey(jobId);
    const names: string[] = [];
    try {
      for await (const b of this.container.listBlobsFlat({ prefix: `${jobId}/` })) names.push(b.name);
    } catch (e) {
      if (storageErrorCode(e) === 'ContainerNotFound') return; // no container: no payloads
      throw e;
    }
    for (const name of names) await this.container.deleteBlob(name, { deleteSnapshots: 'include' }).catch((e) => {
      if (statusCode(e) !== 404) throw e;
    });
  }
}

export function blobServiceClient(access: StorageAccess): BlobServiceClient {
  return access.connectionString !== undefined
    ? BlobServiceClient.fromConnectionString(access.connectionString)
    : new BlobServiceClient(serviceUrl(access.account, 'blob', access.endpoints), access.credential);
}

/** The payload container (private: no anonymous access), created when missing. Returns whether it created it. */
export async function ensurePayloadContainer(access: StorageAccess, container = PAYLOAD_CONTAINER): Promise<boolean> {
  const r = await blobServiceClient(access).getContainerClient(container).createIfNotExists({ metadata: { meadowrun: 'true' } });
  return r.succeeded;
}

/** Deletes the payload container with whatever payloads are left in it; whether there was one. */
export async function deletePayloadContainer(access: StorageAccess, container = PAYLOAD_CONTAINER): Promise<boolean> {
  return (await blobServiceClient(access).getContainerClient(container).deleteIfExists()).succeeded;
}

const NAME = /^[\w-][\w.-]*$/;

function checkKey(key: string): void {
  const parts = key.split('/');
  if (parts.length !== 2 || !parts.every((p) => NAME.test(p))) throw badKey(key);
}

function badKey(key: string): MeadowrunError {
  return new MeadowrunError(`Not a payload key: "${key}" (expected jobId/name)`, 'bad-message');
}
