// The payload store's contract on the local cloud's files (the S3 one runs in test/integration/awsPorts.test.ts).
import { FilePayloadStore } from '../../src/cloud/local/filePayloadStore';
import { payloadStoreContract } from '../contracts/payloadStoreContract';
import { tempDir } from '../support/tempDir';

payloadStoreContract('file payload store', () => new FilePayloadStore(tempDir('payloads')));
