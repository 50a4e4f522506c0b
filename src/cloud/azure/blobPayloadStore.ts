// Map payloads too big for a queue message as block blobs `jobId/name` in one private container of
// the storage account; a reference is the blob's name. A job's payloads go with it (deleteJob); the
// container is made by prepare (ensurePayloadContainer).
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { checkPayloadJobId, checkPayloadKey, payloadGone } from '../payloadKeys';
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
    checkPayloadKey(key);
    const blob = this.container.getBlockBlobClient(key);
    if (Buffer.isBuffer(data)) await blob.uploadData(data);
    else await blob.uploadStream(data as NodeJS.ReadableStream & import('stream').Readable);
    return key;
  }

  async get(ref: string): Promise<Buffer> {
    checkPayloadKey(ref);
    try {
      return await this.container.getBlockBlobClient(ref).downloadToBuffer();
    } catch (e) {
      if (statusCode(e) === 404 || storageErrorCode(e) === 'BlobNotFound') {
        throw payloadGone(ref);
      }
      throw e;
    }
  }

  async deleteJob(jobId: string): Promise<void> {
    checkPayloadJobId(jobId);
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
