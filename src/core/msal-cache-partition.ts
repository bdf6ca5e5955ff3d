import { ConfidentialClientApplication, type TokenCache } from '@azure/msal-node';

/** What removing one account from one serialized msal-node cache partition comes to. */
export interface PartitionRemoval {
  outcome: 'removed' | 'not_present' | 'skipped';
  /** The blob to write back, or null to delete the partition; undefined when nothing changes. */
  next?: string | null;
  /** Cache keys of the removed account, id-token, access-token and refresh-token entries. */
  removedKeys: string[];
  /** Why nothing was removed (never token values). */
  detail?: string;
}

const ACCOUNT_SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken'] as const;
type Blob = Record<string, unknown>;
type Section = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An msal-node token cache of its own (no plugin, no network): MSAL's cache model, offline. */
function msalTokenCache(): TokenCache {
  return new ConfidentialClientApplication({
    auth: { clientId: '00000000-0000-0000-0000-000000000000', clientSecret: 'unused-offline-cache-model' },
  }).getTokenCache();
}

/**
 * What MSAL needs to see to judge one account: the well-formed entries whose key or owner names it.
 * Loading the whole partition instead costs MSAL time that grows faster than the partition (seconds for
 * a thousand accounts), and one malformed entry elsewhere could stop it loading at all.
 */
function sliceFor(blob: Blob, account: string): string {
  const slice: Blob = {};
  for (const name of ACCOUNT_SECTIONS) {
    const section = blob[name];
    if (!isObject(section)) continue;
    slice[name] = Object.fromEntries(
      Object.entries(section).filter(
        ([key, entry]) => isObject(entry) && (key.toLowerCase().includes(account) || (typeof entry.home_account_id === 'string' && entry.home_account_id.toLowerCase() === account)),
      ),
    );
  }
  return JSON.stringify(slice);
}

/** Entries of the account by their own fields or key: MSAL keys start with the lower-cased homeAccountId. */
function directMatches(blob: Blob, account: string): Set<string> {
  const keys = new Set<string>();
  for (const name of ACCOUNT_SECTIONS) {
    const section = blob[name] as Section | undefined;
    for (const [key, entry] of Object.entries(section ?? {})) {
      const owner = isObject(entry) && typeof entry.home_account_id === 'string' ? entry.home_account_id.toLowerCase() : undefined;
      if (owner === account || (owner === undefined && key.toLowerCase().startsWith(`${account}-`))) keys.add(key);
    }
  }
  return keys;
}

const kvKeys = (cache: TokenCache): Set<string> => new Set(Object.keys(cache.getKVStore()));

/**
 * What MSAL's own removeAccount removes, called once per environment the blob holds the account under:
 * it matches keys case-sensitively on homeAccountId and environment, so one call with the wrong alias
 * (login.microsoftonline.com for a login.windows.net cache) silently removes nothing.
 */
async function removedByMsal(blob: Blob, account: string, environments: Set<string>): Promise<Set<string>> {
  const cache = msalTokenCache();
  cache.deserialize(sliceFor(blob, account));
  const before = kvKeys(cache);
  for (const info of await cache.getAllAccounts()) {
    if (info.homeAccountId.toLowerCase() !== account) continue;
    for (const environment of new Set([info.environment, ...environments])) await cache.removeAccount({ ...info, environment });
  }
  const after = kvKeys(cache);
  // MSAL matches by substring; keep only keys that are this account's by MSAL's key format.
  return new Set([...before].filter((key) => !after.has(key) && key.toLowerCase().startsWith(`${account}-`)));
}

/** Re-reads the result with MSAL and checks the account left no trace; a failure here is a bug. */
async function confirmGone(next: Blob, account: string): Promise<void> {
  if (directMatches(next, account).size > 0) throw new Error('account entries remain after removal');
  let accounts;
  try {
    const cache = msalTokenCache();
    cache.deserialize(sliceFor(next, account));
    accounts = await cache.getAllAccounts();
  } catch {
    return; // MSAL cannot read it at all; the direct check above is what remains.
  }
  if (accounts.some((a) => a.homeAccountId.toLowerCase() === account)) throw new Error('msal-node still finds the account after removal');
}

/**
 * Removes an account (homeAccountId, any letter case) and its id, access and refresh tokens from a
 * serialized msal-node token cache, in every environment alias. Every other entry is kept as it was,
 * byte for byte; a partition left with no account is to be deleted; data that is not an msal-node
 * cache is never rewritten.
 */
export async function removeAccountFromPartition(serialized: string, homeAccountId: string): Promise<PartitionRemoval> {
  let blob: unknown;
  try {
    blob = JSON.parse(serialized);
  } catch {
    return { outcome: 'skipped', removedKeys: [], detail: 'the partition is not JSON' };
  }
  if (!isObject(blob)) return { outcome: 'skipped', removedKeys: [], detail: 'the partition is not a JSON object' };
  for (const name of [...ACCOUNT_SECTIONS, 'AppMetadata'])
    if (blob[name] !== undefined && !isObject(blob[name]))
      return { outcome: 'skipped', removedKeys: [], detail: `the partition's ${name} section is not an object` };

  const account = homeAccountId.toLowerCase();
  const keys = directMatches(blob, account);
  const environments = new Set<string>();
  for (const name of ACCOUNT_SECTIONS)
    for (const [key, entry] of Object.entries((blob[name] as Section | undefined) ?? {}))
      if (keys.has(key) && isObject(entry) && typeof entry.environment === 'string') environments.add(entry.environment);
  try {
    for (const key of await removedByMsal(blob, account, environments)) keys.add(key);
  } catch {
    // MSAL could not load this blob; the direct match still removes the account.
  }
  if (keys.size === 0) return { outcome: 'not_present', removedKeys: [] };

  const next: Blob = { ...blob };
  for (const name of ACCOUNT_SECTIONS) {
    const section = blob[name] as Section | undefined;
    if (section) next[name] = Object.fromEntries(Object.entries(section).filter(([key]) => !keys.has(key)));
  }
  await confirmGone(next, account);
  const accountsLeft = Object.keys((next.Account as Section | undefined) ?? {}).length;
  return { outcome: 'removed', next: accountsLeft === 0 ? null : JSON.stringify(next), removedKeys: [...keys] };
}
