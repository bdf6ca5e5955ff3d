import { ConfidentialClientApplication, type AccountInfo, type TokenCache } from '@azure/msal-node';

/** What removing one account from one serialized msal-node cache partition comes to. */
export interface PartitionRemoval {
  outcome: 'removed' | 'not_present' | 'skipped';
  /** The blob to write back: a string, or null meaning "delete the partition key"; undefined when nothing changes. */
  next?: string | null;
  /** Cache keys of the entries that were removed (account, id-token, access-token, refresh-token entries). */
  removedKeys: string[];
  /** Short human reason (never token values), e.g. why skipped. */
  detail?: string;
}

const ACCOUNT_SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken'] as const;
/** Sections that must be objects for the blob to count as an msal-node cache. */
const CACHE_SECTIONS = [...ACCOUNT_SECTIONS, 'AppMetadata'] as const;
type Blob = Record<string, unknown>;
type Section = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const sectionOf = (blob: Blob, name: string): Section => (isObject(blob[name]) ? blob[name] : {});
const ownerOf = (entry: unknown): string | undefined =>
  isObject(entry) && typeof entry.home_account_id === 'string' ? entry.home_account_id.toLowerCase() : undefined;

/** An msal-node token cache of its own (no plugin, no network): MSAL's cache model, offline. */
function msalTokenCache(): TokenCache {
  return new ConfidentialClientApplication({
    auth: { clientId: '00000000-0000-0000-0000-000000000000', clientSecret: 'unused-offline-cache-model' },
  }).getTokenCache();
}

/**
 * What MSAL needs to see to judge one account: the well-formed entries whose key or owner names it.
 * Loading the whole partition instead costs MSAL time that grows faster than the partition (seconds for
 * a thousand accounts), and one malformed entry elsewhere (a `null` entry makes msal-node's
 * deserialize throw) could stop it loading at all. MSAL's removeAccount only ever removes keys that
 * contain the homeAccountId, so nothing it would remove is left out of the slice.
 */
function sliceFor(blob: Blob, account: string): string {
  const slice: Blob = {};
  for (const name of ACCOUNT_SECTIONS) {
    slice[name] = Object.fromEntries(
      Object.entries(sectionOf(blob, name)).filter(([key, entry]) => isObject(entry) && (key.toLowerCase().includes(account) || ownerOf(entry) === account)),
    );
  }
  return JSON.stringify(slice);
}

/**
 * The account's entries by their own `home_account_id` (any letter case), and entries without a usable
 * owner field whose key is the account's (MSAL keys start with the lower-cased `homeAccountId-`).
 */
function directMatches(blob: Blob, account: string): Set<string> {
  const keys = new Set<string>();
  for (const name of ACCOUNT_SECTIONS)
    for (const [key, entry] of Object.entries(sectionOf(blob, name))) {
      const owner = ownerOf(entry);
      if (owner === account || (owner === undefined && key.toLowerCase().startsWith(`${account}-`))) keys.add(key);
    }
  return keys;
}

/** The environment aliases the given entries are stored under, as written and lower-cased (keys are lower-case). */
function environmentsOf(blob: Blob, keys: Set<string>): Set<string> {
  const environments = new Set<string>();
  for (const name of ACCOUNT_SECTIONS)
    for (const [key, entry] of Object.entries(sectionOf(blob, name)))
      if (keys.has(key) && isObject(entry) && typeof entry.environment === 'string' && entry.environment !== '') {
        environments.add(entry.environment);
        environments.add(entry.environment.toLowerCase());
      }
  return environments;
}

const kvKeys = (cache: TokenCache): Set<string> => new Set(Object.keys(cache.getKVStore()));

/**
 * What MSAL's own removeAccount removes. Its CacheManager matches keys with a case-sensitive
 * `key.includes(homeAccountId) && key.includes(environment)`, so one call with the AccountInfo it
 * reports removes nothing when the blob is under another alias (login.windows.net rather than
 * login.microsoftonline.com) or when `home_account_id` has upper-case letters (keys are lower-case).
 * It is therefore called for every environment the account's entries have in the blob, with the
 * homeAccountId both as reported and lower-cased.
 */
async function removedByMsal(blob: Blob, account: string, environments: Set<string>): Promise<Set<string>> {
  const cache = msalTokenCache();
  cache.deserialize(sliceFor(blob, account));
  const before = kvKeys(cache);
  const mine = (await cache.getAllAccounts()).filter((info) => info.homeAccountId.toLowerCase() === account);
  const calls = new Map<string, AccountInfo>();
  for (const info of mine)
    for (const homeAccountId of [info.homeAccountId, account])
      for (const environment of [info.environment, ...environments]) calls.set(`${homeAccountId} ${environment}`, { ...info, homeAccountId, environment });
  for (const info of calls.values()) await cache.removeAccount(info);
  const after = kvKeys(cache);
  // MSAL matches by substring: keep only keys that are this account's by MSAL's key format, never
  // those of an account whose id merely contains this one.
  return new Set([...before].filter((key) => !after.has(key) && key.toLowerCase().startsWith(`${account}-`)));
}

/** Re-reads the result, directly and with MSAL, and checks the account left no trace; a failure here is a bug. */
async function confirmGone(next: Blob, account: string): Promise<void> {
  if (directMatches(next, account).size > 0) throw new Error('msal-cache-partition: account entries remain after removal');
  let accounts: AccountInfo[];
  try {
    const cache = msalTokenCache();
    cache.deserialize(sliceFor(next, account));
    accounts = await cache.getAllAccounts();
  } catch {
    return; // MSAL cannot read what is left of the account's entries; the direct check above stands.
  }
  if (accounts.some((a) => a.homeAccountId.toLowerCase() === account))
    throw new Error('msal-cache-partition: msal-node still finds the account after removal');
}

/**
 * Removes an account (homeAccountId, any letter case) and its id, access and refresh tokens from a
 * serialized msal-node token cache, in every environment alias. Every other entry is kept as it was,
 * byte for byte; a partition left with no account is to be deleted; data that is not an msal-node
 * cache is never rewritten. Pure: no I/O.
 */
export async function removeAccountFromPartition(blob: string, homeAccountId: string): Promise<PartitionRemoval> {
  const account = homeAccountId.toLowerCase();
  if (account === '') throw new TypeError('msal-cache-partition: homeAccountId is empty');

  let parsed: unknown;
  try {
    parsed = JSON.parse(blob);
  } catch {
    return { outcome: 'skipped', removedKeys: [], detail: 'the partition is not JSON' };
  }
  if (!isObject(parsed)) return { outcome: 'skipped', removedKeys: [], detail: 'the partition is not a JSON object' };
  for (const name of CACHE_SECTIONS)
    if (parsed[name] !== undefined && !isObject(parsed[name]))
      return { outcome: 'skipped', removedKeys: [], detail: `the partition's ${name} section is not an object` };

  const keys = directMatches(parsed, account);
  let detail: string | undefined;
  try {
    for (const key of await removedByMsal(parsed, account, environmentsOf(parsed, keys))) keys.add(key);
  } catch {
    // MSAL could not load or remove the account's entries (malformed); the direct match still removes them.
    detail = "msal-node could not read the account's entries; removed by direct match";
  }
  if (keys.size === 0) return { outcome: 'not_present', removedKeys: [] };

  // Start from the original parse: only the removed keys go, every other entry stays as it was.
  const next: Blob = { ...parsed };
  const removedKeys: string[] = [];
  for (const name of ACCOUNT_SECTIONS) {
    const section = parsed[name];
    if (!isObject(section)) continue;
    next[name] = Object.fromEntries(
      Object.entries(section).filter(([key]) => {
        if (!keys.has(key)) return true;
        removedKeys.push(key);
        return false;
      }),
    );
  }
  await confirmGone(next, account);
  const accountsLeft = Object.keys(sectionOf(next, 'Account')).length;
  return { outcome: 'removed', next: accountsLeft === 0 ? null : JSON.stringify(next), removedKeys, ...(detail ? { detail } : {}) };
}
