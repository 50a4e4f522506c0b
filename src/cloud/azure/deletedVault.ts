// A deleted Key Vault is only soft-deleted: it keeps its name and its secrets (Meadowrun's SSH key
// among them) for its retention days, and is listed under the subscription's deletedVaults. Uninstall
// purges Meadowrun's (unless purge protection forbids it, which it then says); status lists one
// that is still there. Resource Manager has no generic call for the purge (a POST, a long-running
// operation), and @azure/arm-keyvault is not a dependency: these are its two REST calls
// (Microsoft.KeyVault 2023-07-01, Vaults_GetDeleted and Vaults_PurgeDeleted); the purge answers 202
// with a Location (…/operationResults/…) that answers 202 until it is done.
import type { TokenCredential } from '@azure/identity';
import { MeadowrunError } from '../../core/errors';

const API = 'api-version=2023-07-01';
const SCOPE = 'https://management.azure.com/.default';

export interface ArmAccess {
  /** https://management.azure.com, or a stand-in's address. */
  endpoint: string;
  credential: TokenCredential;
  subscription: string;
  /** How long to wait between polls when Resource Manager does not say (ms). */
  pollMs?: number;
}

export interface DeletedVault {
  name: string;
  location: string;
  /** ISO dates. */
  deletionDate?: string;
  scheduledPurgeDate?: string;
  purgeProtectionEnabled: boolean;
}

async function call(arm: ArmAccess, method: 'GET' | 'POST', url: string): Promise<{ status: number; body: any; headers: Headers }> {
  const token = await arm.credential.getToken(SCOPE);
  const res = await fetch(url, { method, headers: { authorization: `Bearer ${token?.token}` }, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, headers: res.headers };
}

export function deletedVaultId(subscription: string, location: string, name: string): string {
  return `/subscriptions/${subscription}/providers/Microsoft.KeyVault/locations/${location}/deletedVaults/${name}`;
}

function deletedVaultUrl(arm: ArmAccess, location: string, name: string): string {
  return `${arm.endpoint}${deletedVaultId(arm.subscription, location, name)}`;
}

function failure(what: string, r: { status: number; body: any }, fix?: string): Error {
  const e = r.body?.error;
  return new Error(`${what}: HTTP ${r.status}${e?.code ? ` ${e.code}` : ''}${e?.message ? `: ${e.message}` : ''}${fix ? ` (${fix})` : ''}`);
}

/** The soft-deleted vault of that name in that location, or undefined when there is none. */
export async function getDeletedVault(arm: ArmAccess, location: string, name: string): Promise<DeletedVault | undefined> {
  const r = await call(arm, 'GET', `${deletedVaultUrl(arm, location, name)}?${API}`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw failure(`Could not look for the deleted Key Vault ${name}`, r);
  const p = r.body?.properties ?? {};
  return {
    name: r.body?.name ?? name,
    location: p.location ?? location,
    deletionDate: p.deletionDate,
    scheduledPurgeDate: p.scheduledPurgeDate,
    purgeProtectionEnabled: p.purgeProtectionEnabled === true,
  };
}

/**
 * Purges the soft-deleted vault, waiting for the purge to finish (202, then its Location polled);
 * nothing when there is none. With purge protection on it cannot be purged: it is left, and the
 * answer says so, with the date Azure purges it itself (undefined: nothing is left).
 */
export async function purgeDeletedVault(arm: ArmAccess, location: string, name: string, say: (line: string) => void, deadlineMs = 10 * 60_000): Promise<string | undefined> {
  const found = await getDeletedVault(arm, location, name);
  if (!found) return undefined;
  if (found.purgeProtectionEnabled) {
    return (
      `Key Vault ${name} has purge protection, so it cannot be purged: it stays soft-deleted, with the SSH key and secrets in it, ` +
      `until Azure purges it on ${found.scheduledPurgeDate ?? 'the end of its retention'} (a prepare before then recovers it)`
    );
  }
  say(`purging the deleted Key Vault ${name} (it held the SSH key)`);
  const r = await call(arm, 'POST', `${deletedVaultUrl(arm, location, name)}/purge?${API}`);
  if (r.status === 200) return undefined;
  // E.g. 403 without the right to purge: the vault stays soft-deleted until someone who may purges it.
  if (r.status !== 202) throw failure(`Could not purge the deleted Key Vault ${name}`, r, `purge it with \`az keyvault purge --name ${name} --location ${location}\``);
  const poll = r.headers.get('location');
  if (!poll) throw failure(`Could not follow the purge of the deleted Key Vault ${name} (no Location)`, r);
  const end = Date.now() + deadlineMs;
  let retryAfter = r.headers.get('retry-after');
  for (;;) {
    if (Date.now() > end) throw new MeadowrunError(`The purge of the deleted Key Vault ${name} did not finish in ${deadlineMs / 60_000} minutes; purge it with \`az keyvault purge --name ${name}\``, 'error');
    const waitMs = Math.min(10_000, retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : arm.pollMs ?? 1000);
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    const p = await call(arm, 'GET', poll);
    retryAfter = p.headers.get('retry-after');
    if (p.status === 202) continue;
    if (p.status === 200 || p.status === 204) return undefined;
    throw failure(`The purge of the deleted Key Vault ${name} failed`, p);
  }
}
