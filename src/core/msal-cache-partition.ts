import { ConfidentialClientApplication, type AccountInfo, type TokenCache } from '@azure/msal-node';
import { cpuTurn } from './cpu-turns.js';
import { ACCOUNT_SECTIONS, CACHE_SECTIONS, layoutOf, type AccountSection, type LaidOutEntry, type PartitionLayout } from './partition-layout.js';

/** What removing one account from one serialized msal-node cache partition comes to. */
export interface PartitionRemoval<B extends string | Buffer = string> {
  outcome: 'removed' | 'not_present' | 'skipped';
  /** The blob to write back, as the blob was given (text or bytes), or null meaning "delete the partition key"; undefined when nothing changes. */
  next?: B | null;
  /** Cache keys of the entries that were removed (account, id-token, access-token, refresh-token entries). */
  removedKeys: string[];
  /** Short human reason (never token values), e.g. why skipped. */
  detail?: string;
}

/** One account's part of a batch removal: what {@link removeAccountFromPartition} reports, less the blob. */
export type AccountPartitionRemoval = Omit<PartitionRemoval, 'next'>;

/** What removing several accounts from one partition comes to: each account's result and one blob to write. */
export interface PartitionBatchRemoval<B extends string | Buffer = string> {
  /** One per homeAccountId given, in the same order. */
  accounts: AccountPartitionRemoval[];
  /** As {@link PartitionRemoval.next}: undefined when no account was removed. */
  next?: B | null;
}

export interface PartitionRemovalOptions {
  /**
   * Partitions of this many bytes or more are laid out ({@link layoutOf}) instead of parsed whole, and
   * written back by cutting the removed entries out of their bytes. 64 KiB by default.
   */
  layoutFrom?: number;
}

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
  section: AccountSection;
  key: string;
  value: unknown;
  /** The entry's own `home_account_id`, lower-cased. */
  owner: string | undefined;
  /** The lower-cased key starts with `<account>-` (MSAL's key format is `homeAccountId-environment-…`). */
  keyed: boolean;
}

/** Calls `each` for every entry of the account sections, in section order then blob order. */
type EntryWalk = (each: (section: Entry['section'], key: string, owner: string | undefined, read: () => unknown) => void) => void;

/**
 * The entries of each wanted account, found in one pass over the blob: those whose owner field is the
 * account and those whose key starts with `<account>-` (any letter case). Only the prefixes as long as
 * a wanted account are looked up, and only their values are read. Entries stay in blob order.
 */
function entriesByAccount(walk: EntryWalk, accounts: Set<string>): Map<string, Entry[]> {
  const groups = new Map<string, Entry[]>([...accounts].map((account) => [account, []]));
  const lengths = [...new Set([...accounts].map((account) => account.length))];
  walk((section, key, owner, read) => {
    const lower = key.toLowerCase();
    const keyedBy = new Set<string>();
    for (const length of lengths) {
      const prefix = lower[length] === '-' ? lower.slice(0, length) : undefined;
      if (prefix !== undefined && accounts.has(prefix)) keyedBy.add(prefix);
    }
    const named = owner !== undefined && accounts.has(owner) ? new Set([owner, ...keyedBy]) : keyedBy;
    if (named.size === 0) return;
    const value = read();
    for (const account of named) groups.get(account)!.push({ section, key, value, owner, keyed: keyedBy.has(account) });
  });
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
function environmentsOf(lookup: PartitionView['lookup'], keys: Set<string>): Set<string> {
  const environments = new Set<string>();
  for (const key of keys)
    for (const name of ACCOUNT_SECTIONS) {
      const entry = lookup(name, key);
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

/** A partition as read for one batch removal: parsed whole, or laid out in its bytes. */
interface PartitionView {
  walk: EntryWalk;
  /** The entry under `key` in `section`, if there is one. */
  lookup(section: string, key: string): unknown;
  /**
   * The partition without the entries `drop` says go (asked once per entry, in section order then blob
   * order), and how many accounts it keeps.
   */
  without(drop: (key: string) => boolean): { next: string | Buffer; accountsLeft: number };
}

/** The partition parsed whole; written back with JSON.stringify. */
function parsedView(parsed: Blob): PartitionView {
  return {
    walk: (each) => {
      for (const section of ACCOUNT_SECTIONS) {
        const entries = sectionOf(parsed, section);
        for (const key of Object.keys(entries)) each(section, key, ownerOf(entries[key]), () => entries[key]);
      }
    },
    lookup: (name, key) => {
      const section = sectionOf(parsed, name);
      return Object.hasOwn(section, key) ? section[key] : undefined;
    },
    without: (drop) => {
      // Start from the original parse: only the removed keys go, every other entry stays as it was.
      const next: Blob = { ...parsed };
      for (const name of ACCOUNT_SECTIONS) {
        const section = parsed[name];
        if (isObject(section)) next[name] = Object.fromEntries(Object.entries(section).filter(([key]) => !drop(key)));
      }
      return { next: JSON.stringify(next), accountsLeft: Object.keys(sectionOf(next, 'Account')).length };
    },
  };
}

const [OPEN, COMMA, CLOSE] = ['{', ',', '}'].map((c) => Buffer.from(c)) as [Buffer, Buffer, Buffer];

/** The partition laid out in its bytes: entries read one by one when needed; written back by cutting. */
function laidOutView(bytes: Buffer, layout: PartitionLayout): PartitionView {
  const sections = [...layout.sections].sort((x, y) => ACCOUNT_SECTIONS.indexOf(x.name) - ACCOUNT_SECTIONS.indexOf(y.name));
  const read = (entry: LaidOutEntry): unknown => JSON.parse(bytes.toString('utf8', entry.valueStart, entry.end));
  let byKey: Map<string, Map<string, LaidOutEntry>> | undefined;
  return {
    walk: (each) => {
      for (const { name, entries } of sections)
        for (const entry of entries) each(name, entry.key, entry.owner?.toLowerCase(), () => read(entry));
    },
    lookup: (name, key) => {
      byKey ??= new Map(layout.sections.map((section) => [section.name, new Map(section.entries.map((entry) => [entry.key, entry]))]));
      const entry = byKey.get(name)?.get(key);
      return entry && read(entry);
    },
    without: (drop) => {
      const dropped = new Set<LaidOutEntry>();
      for (const { entries } of sections) for (const entry of entries) if (drop(entry.key)) dropped.add(entry);
      // Every entry kept is copied as it was, with the separators between neighbours kept together.
      const pieces: Buffer[] = [];
      let at = 0;
      for (const section of layout.sections) {
        if (!section.entries.some((entry) => dropped.has(entry))) continue;
        pieces.push(bytes.subarray(at, section.start), OPEN);
        let run: LaidOutEntry | undefined;
        let last: LaidOutEntry | undefined;
        let first = true;
        const close = () => {
          if (!run) return;
          if (!first) pieces.push(COMMA);
          pieces.push(bytes.subarray(run.start, last!.end));
          first = false;
          run = undefined;
        };
        for (const entry of section.entries) {
          if (dropped.has(entry)) close();
          else {
            run ??= entry;
            last = entry;
          }
        }
        close();
        pieces.push(CLOSE);
        at = section.end;
      }
      pieces.push(bytes.subarray(at));
      const accounts = layout.sections.find((section) => section.name === 'Account')?.entries ?? [];
      return { next: Buffer.concat(pieces), accountsLeft: accounts.filter((entry) => !dropped.has(entry)).length };
    },
  };
}

/** The partition parsed whole, or why it is not an msal-node cache. */
function parse(blob: string): Blob | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(blob);
  } catch {
    return 'the partition is not JSON';
  }
  if (!isObject(parsed)) return 'the partition is not a JSON object';
  for (const name of CACHE_SECTIONS) if (parsed[name] !== undefined && !isObject(parsed[name])) return `the partition's ${name} section is not an object`;
  return parsed;
}

/**
 * Removes accounts (homeAccountIds, any letter case) and their id, access and refresh tokens from a
 * serialized msal-node token cache, in every environment alias: the same as removing them one after
 * the other with {@link removeAccountFromPartition}, with the blob read and written once. Every other
 * entry is kept as it was, byte for byte; a partition left with no account is to be deleted; data that
 * is not an msal-node cache is never rewritten. Pure: no I/O.
 *
 * A large partition (`layoutFrom`) is laid out rather than parsed: only the removed accounts' entries
 * are read as objects, and what is written back is the original bytes less those entries. A partition
 * the layout leaves to JSON.parse (see {@link layoutOf}) is parsed whole, as a small one is.
 */
export async function removeAccountsFromPartition<B extends string | Buffer>(
  blob: B,
  homeAccountIds: readonly string[],
  options: PartitionRemovalOptions = {},
): Promise<PartitionBatchRemoval<B>> {
  const accounts = homeAccountIds.map((id) => id.toLowerCase());
  if (accounts.includes('')) throw new TypeError('msal-cache-partition: homeAccountId is empty');
  const skipped = (detail: string): PartitionBatchRemoval<B> => ({ accounts: accounts.map(() => ({ outcome: 'skipped', removedKeys: [], detail })) });

  await cpuTurn(); // the removal is CPU work from here: it starts in a turn of its own (cpu-turns.ts)
  let view: PartitionView | undefined;
  const given: string | Buffer = blob;
  const size = typeof given === 'string' ? given.length : given.byteLength;
  if (size >= (options.layoutFrom ?? 64 * 1024)) {
    const bytes = typeof given === 'string' ? Buffer.from(given) : given;
    const layout = await layoutOf(bytes);
    if (layout) view = laidOutView(bytes, layout);
  }
  if (!view) {
    const parsed = parse(typeof given === 'string' ? given : given.toString('utf8'));
    if (typeof parsed === 'string') return skipped(parsed);
    view = parsedView(parsed);
  }

  const groups = entriesByAccount(view.walk, new Set(accounts));
  /** Removed key → the position of the account it was removed for. */
  const removedBy = new Map<string, number>();
  /** An account's entries still in the partition (earlier accounts of the batch removed theirs). */
  const left = (account: string): Entry[] => groups.get(account)!.filter((e) => !removedBy.has(e.key));
  const results: AccountPartitionRemoval[] = [];
  for (const [i, account] of accounts.entries()) {
    // MSAL's promises settle at once, so a batch would hold the event loop for its whole length
    // (hundreds of ms for a large one) and keep the answers to other requests waiting: one account per turn,
    // and a turn of its own (cpu-turns.ts), so concurrent removals do not fill one turn either.
    if (i > 0) await cpuTurn();
    const entries = left(account);
    const keys = directMatches(entries, account);
    let detail: string | undefined;
    try {
      for (const key of await removedByMsal(entries, account, environmentsOf(view.lookup, keys))) keys.add(key);
    } catch {
      // MSAL could not load or remove the account's entries (malformed); the direct match still removes them.
      detail = "msal-node could not read the account's entries; removed by direct match";
    }
    for (const key of keys) removedBy.set(key, i);
    results.push(keys.size === 0 ? { outcome: 'not_present', removedKeys: [] } : { outcome: 'removed', removedKeys: [], ...(detail ? { detail } : {}) });
  }
  if (removedBy.size === 0) return { accounts: results };

  const { next, accountsLeft } = view.without((key) => {
    const by = removedBy.get(key);
    if (by === undefined) return false;
    results[by]!.removedKeys.push(key);
    return true;
  });
  for (const account of new Set(accounts)) {
    if (accounts.length > 1) await cpuTurn();
    await confirmGone(left(account), account);
  }
  if (accountsLeft === 0) return { accounts: results, next: null };
  if (typeof blob === 'string') return { accounts: results, next: (typeof next === 'string' ? next : next.toString('utf8')) as B };
  return { accounts: results, next: (typeof next === 'string' ? Buffer.from(next) : next) as B };
}

/**
 * Removes an account (homeAccountId, any letter case) and its id, access and refresh tokens from a
 * serialized msal-node token cache, in every environment alias. Every other entry is kept as it was,
 * byte for byte; a partition left with no account is to be deleted; data that is not an msal-node
 * cache is never rewritten. Pure: no I/O.
 */
export async function removeAccountFromPartition<B extends string | Buffer>(blob: B, homeAccountId: string, options: PartitionRemovalOptions = {}): Promise<PartitionRemoval<B>> {
  const { accounts, next } = await removeAccountsFromPartition(blob, [homeAccountId], options);
  const result = accounts[0]!;
  return result.outcome === 'removed' ? { ...result, next } : result;
}
