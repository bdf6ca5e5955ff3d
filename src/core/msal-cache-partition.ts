import { setImmediate as nextTurn } from 'node:timers/promises';
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

/** One account's part of a batch removal: what {@link removeAccountFromPartition} reports, less the blob. */
export type AccountPartitionRemoval = Omit<PartitionRemoval, 'next'>;

/** What removing several accounts from one partition comes to: each account's result and one blob to write. */
export interface PartitionBatchRemoval {
  /** One per homeAccountId given, in the same order. */
  accounts: AccountPartitionRemoval[];
  /** As {@link PartitionRemoval.next}: undefined when no account was removed. */
  next?: string | null;
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


/** An entry of the blob that names one of the accounts being removed, by its owner field or its key. */
interface Entry {
  section: (typeof ACCOUNT_SECTIONS)[number];
  key: string;
  value: unknown;
  /** The entry's own `home_account_id`, lower-cased. */
  owner: string | undefined;
  /** The lower-cased key starts with `<account>-` (MSAL's key format is `homeAccountId-environment-…`). */
  keyed: boolean;
}

/**
 * The entries of each wanted account, found in one pass over the blob: those whose owner field is the
 * account and those whose key starts with `<account>-` (any letter case). Only the prefixes as long as
 * a wanted account are looked up. Entries stay in blob order (section, then key).
 */
function entriesByAccount(blob: Blob, accounts: Set<string>): Map<string, Entry[]> {
  const groups = new Map<string, Entry[]>([...accounts].map((account) => [account, []]));
  const lengths = [...new Set([...accounts].map((account) => account.length))];
  for (const section of ACCOUNT_SECTIONS) {
    const entries = sectionOf(blob, section);
    for (const key of Object.keys(entries)) {
      const value = entries[key];
      const owner = ownerOf(value);
      const lower = key.toLowerCase();
      const keyedBy = new Set<string>();
      for (const length of lengths) {
        const prefix = lower[length] === '-' ? lower.slice(0, length) : undefined;
        if (prefix !== undefined && accounts.has(prefix)) keyedBy.add(prefix);
      }
      const named = owner !== undefined && accounts.has(owner) ? new Set([owner, ...keyedBy]) : keyedBy;
      for (const account of named) groups.get(account)!.push({ section, key, value, owner, keyed: keyedBy.has(account) });
    }
  }
  return groups;
}

/**
 * What MSAL needs to see to judge one account: its well-formed entries. Loading the whole partition
 * instead costs MSAL time that grows faster than the partition (seconds for a thousand accounts), and
 * one malformed entry elsewhere (a `null` entry makes msal-node's deserialize throw) could stop it
 * loading at all. MSAL's removeAccount only ever removes keys that contain the homeAccountId, and only
 * those that start with it are taken from its result, so nothing it would remove is left out.
 */
function sliceFor(entries: Entry[]): string {
  const slice: Record<string, Section> = Object.fromEntries(ACCOUNT_SECTIONS.map((name) => [name, {}]));
  for (const { section, key, value } of entries) if (isObject(value)) slice[section]![key] = value;
  return JSON.stringify(slice);
}

/**
 * The account's entries by their own `home_account_id` (any letter case), and entries without a usable
 * owner field whose key is the account's (MSAL keys start with the lower-cased `homeAccountId-`).
 */
function directMatches(entries: Entry[], account: string): Set<string> {
  return new Set(entries.filter((e) => e.owner === account || (e.owner === undefined && e.keyed)).map((e) => e.key));
}

/** The environment aliases the given entries are stored under, as written and lower-cased (keys are lower-case). */
function environmentsOf(blob: Blob, keys: Set<string>): Set<string> {
  const environments = new Set<string>();
  for (const key of keys)
    for (const name of ACCOUNT_SECTIONS) {
      const section = sectionOf(blob, name);
      const entry = Object.hasOwn(section, key) ? section[key] : undefined;
      if (isObject(entry) && typeof entry.environment === 'string' && entry.environment !== '') {
        environments.add(entry.environment);
        environments.add(entry.environment.toLowerCase());
      }
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
async function removedByMsal(entries: Entry[], account: string, environments: Set<string>): Promise<Set<string>> {
  const cache = msalTokenCache();
  cache.deserialize(sliceFor(entries));
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

/** Checks the account's entries left in the result, directly and with MSAL; a failure here is a bug. */
async function confirmGone(left: Entry[], account: string): Promise<void> {
  if (directMatches(left, account).size > 0) throw new Error('msal-cache-partition: account entries remain after removal');
  let accounts: AccountInfo[];
  try {
    const cache = msalTokenCache();
    cache.deserialize(sliceFor(left));
    accounts = await cache.getAllAccounts();
  } catch {
    return; // MSAL cannot read what is left of the account's entries; the direct check above stands.
  }
  if (accounts.some((a) => a.homeAccountId.toLowerCase() === account))
    throw new Error('msal-cache-partition: msal-node still finds the account after removal');
}

/**
 * Removes accounts (homeAccountIds, any letter case) and their id, access and refresh tokens from a
 * serialized msal-node token cache, in every environment alias: the same as removing them one after
 * the other with {@link removeAccountFromPartition}, with the blob parsed, indexed and serialized once.
 * Every other entry is kept as it was, byte for byte; a partition left with no account is to be
 * deleted; data that is not an msal-node cache is never rewritten. Pure: no I/O.
 */
export async function removeAccountsFromPartition(blob: string, homeAccountIds: readonly string[]): Promise<PartitionBatchRemoval> {
  const accounts = homeAccountIds.map((id) => id.toLowerCase());
  if (accounts.includes('')) throw new TypeError('msal-cache-partition: homeAccountId is empty');
  const skipped = (detail: string): PartitionBatchRemoval => ({ accounts: accounts.map(() => ({ outcome: 'skipped', removedKeys: [], detail })) });

  let parsed: unknown;
  try {
    parsed = JSON.parse(blob);
  } catch {
    return skipped('the partition is not JSON');
  }
  if (!isObject(parsed)) return skipped('the partition is not a JSON object');
  for (const name of CACHE_SECTIONS)
    if (parsed[name] !== undefined && !isObject(parsed[name])) return skipped(`the partition's ${name} section is not an object`);

  const groups = entriesByAccount(parsed, new Set(accounts));
  /** Removed key → the position of the account it was removed for. */
  const removedBy = new Map<string, number>();
  /** An account's entries still in the partition (earlier accounts of the batch removed theirs). */
  const left = (account: string): Entry[] => groups.get(account)!.filter((e) => !removedBy.has(e.key));
  const results: AccountPartitionRemoval[] = [];
  for (const [i, account] of accounts.entries()) {
    // MSAL's promises settle at once, so a batch would hold the event loop for its whole length
    // (hundreds of ms for a large one) and keep the answers to other requests waiting: one account per turn.
    if (i > 0) await nextTurn();
    const entries = left(account);
    const keys = directMatches(entries, account);
    let detail: string | undefined;
    try {
      for (const key of await removedByMsal(entries, account, environmentsOf(parsed, keys))) keys.add(key);
    } catch {
      // MSAL could not load or remove the account's entries (malformed); the direct match still removes them.
      detail = "msal-node could not read the account's entries; removed by direct match";
    }
    for (const key of keys) removedBy.set(key, i);
    results.push(keys.size === 0 ? { outcome: 'not_present', removedKeys: [] } : { outcome: 'removed', removedKeys: [], ...(detail ? { detail } : {}) });
  }
  if (removedBy.size === 0) return { accounts: results };

  // Start from the original parse: only the removed keys go, every other entry stays as it was.
  const next: Blob = { ...parsed };
  for (const name of ACCOUNT_SECTIONS) {
    const section = parsed[name];
    if (!isObject(section)) continue;
    next[name] = Object.fromEntries(
      Object.entries(section).filter(([key]) => {
        const by = removedBy.get(key);
        if (by === undefined) return true;
        results[by]!.removedKeys.push(key);
        return false;
      }),
    );
  }
  for (const account of new Set(accounts)) {
    if (accounts.length > 1) await nextTurn();
    await confirmGone(left(account), account);
  }
  const accountsLeft = Object.keys(sectionOf(next, 'Account')).length;
  return { accounts: results, next: accountsLeft === 0 ? null : JSON.stringify(next) };
}

/**
 * Removes an account (homeAccountId, any letter case) and its id, access and refresh tokens from a
 * serialized msal-node token cache, in every environment alias. Every other entry is kept as it was,
 * byte for byte; a partition left with no account is to be deleted; data that is not an msal-node
 * cache is never rewritten. Pure: no I/O.
 */
export async function removeAccountFromPartition(blob: string, homeAccountId: string): Promise<PartitionRemoval> {
  const { accounts, next } = await removeAccountsFromPartition(blob, [homeAccountId]);
  const result = accounts[0]!;
  return result.outcome === 'removed' ? { ...result, next } : result;
}
