// How the Azure data-plane ports reach the storage account: with a token (the client's Azure CLI
// login, or a VM's managed identity) at https://<account>.<service>.core.windows.net, or, for
// emulators (Azurite in tests), with a connection string that carries its endpoints and key, or
// with the token at the emulator's own endpoints (Azurite over TLS with OAuth). storageAccess()
// is the one place that decides which. Only the SDK the caller uses is loaded: each port imports its own.
import type { TokenCredential } from '@azure/identity';

export type StorageService = 'table' | 'queue' | 'blob';

/** Each service's URL in place of https://<account>.<service>.core.windows.net (an emulator's, path-style: https://127.0.0.1:10002/devstoreaccount1). */
export type StorageEndpoints = Record<StorageService, string>;

export type StorageAccess =
  | { account: string; credential: TokenCredential; endpoints?: StorageEndpoints; connectionString?: undefined }
  | { connectionString: string; account?: undefined; credential?: undefined; endpoints?: undefined };

/**
 * How to reach the account: an emulator's connection string (with its key) when one is given,
 * else the account with the token credential (made only then), at `endpoints` when given (an emulator's).
 */
export function storageAccess(o: { account: string; credential: () => TokenCredential; connectionString?: string; endpoints?: StorageEndpoints }): StorageAccess {
  if (o.connectionString !== undefined) return { connectionString: o.connectionString };
  return { account: o.account, credential: o.credential(), ...(o.endpoints && { endpoints: o.endpoints }) };
}

/** The service's endpoint of an account reached with a token. */
export function serviceUrl(account: string, service: StorageService, endpoints?: StorageEndpoints): string {
  return endpoints?.[service] ?? `https://${account}.${service}.core.windows.net`;
}

/**
 * Storage endpoints written as JSON (`{"table": URL, "queue": URL, "blob": URL}`, as the tests
 * set MEADOWRUN_AZURE_STORAGE_ENDPOINTS); `what` names the setting in the error for anything else.
 */
export function parseStorageEndpoints(text: string, what: string): StorageEndpoints {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const o = parsed as Partial<Record<StorageService, unknown>> | undefined;
  const services: StorageService[] = ['table', 'queue', 'blob'];
  if (!o || typeof o !== 'object' || !services.every((s) => typeof o[s] === 'string' && /^https:\/\//.test(o[s] as string))) {
    throw new Error(`${what} must be JSON naming the https URL of each storage service: {"table": "https://…", "queue": "https://…", "blob": "https://…"}`);
  }
  return { table: o.table as string, queue: o.queue as string, blob: o.blob as string };
}

/** Error codes of the storage services, as the SDKs report them on a RestError. */
export function storageErrorCode(e: unknown): string | undefined {
  const err = e as { code?: string; details?: { errorCode?: string; odataError?: { code?: string } } };
  return err?.details?.errorCode ?? err?.details?.odataError?.code ?? err?.code;
}

export function statusCode(e: unknown): number | undefined {
  return (e as { statusCode?: number })?.statusCode;
}
