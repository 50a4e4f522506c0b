// The secret store's contract on the local cloud's files (the AWS one runs in test/integration/awsPorts.test.ts).
import { FileSecretStore } from '../../src/cloud/local/fileSecretStore';
import { secretStoreContract } from '../contracts/secretStoreContract';
import { tempDir } from '../support/tempDir';

secretStoreContract('file secret store', () => {
  const dir = tempDir('secrets');
  return { client: () => new FileSecretStore(dir) };
});
