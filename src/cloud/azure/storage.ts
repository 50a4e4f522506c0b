// How the Azure data-plane ports reach the storage account: with a token (the client's Azure CLI
// login, or a VM's managed identity) at https://<account>.<service>.core.windows.net, or, for
// emulators (Azurite in tests), with a connection string that carries its endpoints and key.
// Only the SDK the caller uses is loaded: each port imports its own.
import type { TokenCredential } from '@azure/identity';

export type StorageAccess =
  | { account: string; credential: TokenCredential; connectionString?: undefined }
  | { connectionString: string; account?: undefined; credential?: undefined };

export type StorageService = 'table' | 'queue' | 'blob';

/** The service's endpoint of an account reached with a token. */
export function serviceUrl(account: string, service: StorageService): string {
  return `https://${account}.${service}.core.windows.net`;
}

/** Error codes of the storage services, as the SDKs report them on a RestError. */
export function storageErrorCode(e: unknown): string | undefined {
  const err = e as { code?: string; details?: { errorCode?: string; odataError?: { code?: string } } };
  return err?.details?.errorCode ?? err?.details?.odataError?.code ?? err?.code;
}

export function statusCode(e: unknown): number | undefined {
  return (e as { statusCode?: number })?.statusCode;
}
