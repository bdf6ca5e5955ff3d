import type { AccountPartitionRemoval, CacheFormat, PartitionBatchRemoval, PartitionRemoval } from '../core/token-cache.js';
import { cpuTurn } from './cpu-turns.js';
import { layoutOf, type LaidOutEntry, type LayoutVocabulary, type PartitionLayout } from './json-layout.js';

/**
 * The unified MSAL token-cache schema that msal-node, MSAL.NET, MSAL Python and msal4j all write: these
 * sections, each an object of key → entry. An account's entries may sit in any section but AppMetadata
 * (which is per app, not per account), and in sections this list does not know.
 */
export const MSAL_SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken', 'AppMetadata'] as const;
const KEPT_SECTION = 'AppMetadata';
const OWNER_FIELD = 'home_account_id';
const isMsalSection = (name: string): boolean => (MSAL_SECTIONS as readonly string[]).includes(name);

/** The scanner's vocabulary for MSAL caches: every object member at the top but AppMetadata holds entries. */
export const MSAL_LAYOUT: LayoutVocabulary = { laysOut: (name) => name !== KEPT_SECTION, mustBeObject: isMsalSection, ownerField: OWNER_FIELD };

export interface PartitionRemovalOptions {
  /**
   * Partitions of this many bytes or more are laid out ({@link layoutOf}) instead of parsed whole, and
   * written back by cutting the removed entries out of their bytes. 64 KiB by default.
   */
  layoutFrom?: number;
}

type Blob = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ownerOf = (entry: unknown): string | undefined =>
  isObject(entry) && typeof entry[OWNER_FIELD] === 'string' ? entry[OWNER_FIELD].toLowerCase() : undefined;

/** Calls `each` for every entry of the sections that can hold an account's, in blob order. */
type EntryWalk = (each: (section: string, key: string, owner: string | undefined) => void) => void;

/** A partition as read for one batch removal: parsed whole, or laid out in its bytes. */
interface PartitionView {
  walk: EntryWalk;
  /** The partition without the entries `drop` says go (asked once per entry, in blob order), and how many Account entries it keeps. */
  without(drop: (section: string, key: string) => boolean): { next: string | Buffer; accountsLeft: number };
}

/** The partition parsed whole; written back with JSON.stringify. */
function parsedView(parsed: Blob): PartitionView {
  const sections = Object.keys(parsed).filter((name) => name !== KEPT_SECTION && isObject(parsed[name]));
  return {
    walk: (each) => {
      for (const name of sections) {
        const entries = parsed[name] as Blob;
        for (const key of Object.keys(entries)) each(name, key, ownerOf(entries[key]));
      }
    },
    without: (drop) => {
      // Start from the original parse: only the removed keys go, every other entry stays as it was.
      const next: Blob = { ...parsed };
      for (const name of sections) next[name] = Object.fromEntries(Object.entries(parsed[name] as Blob).filter(([key]) => !drop(name, key)));
      const accounts = next.Account;
      return { next: JSON.stringify(next), accountsLeft: isObject(accounts) ? Object.keys(accounts).length : 0 };
    },
  };
}

const [OPEN, COMMA, CLOSE] = ['{', ',', '}'].map((c) => Buffer.from(c)) as [Buffer, Buffer, Buffer];

/** The partition laid out in its bytes; written back by cutting the dropped entries out. */
function laidOutView(bytes: Buffer, layout: PartitionLayout): PartitionView {
  return {
    walk: (each) => {
      for (const { name, entries } of layout.sections) for (const entry of entries) each(name, entry.key, entry.owner?.toLowerCase());
    },
    without: (drop) => {
      const dropped = new Set<LaidOutEntry>();
      for (const { name, entries } of layout.sections) for (const entry of entries) if (drop(name, entry.key)) dropped.add(entry);
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

/** The partition parsed whole, or why it is not an MSAL cache. */
function parse(blob: string): Blob | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(blob);
  } catch {
    return 'the partition is not JSON';
  }
  if (!isObject(parsed)) return 'the partition is not a JSON object';
  for (const name of MSAL_SECTIONS) if (parsed[name] !== undefined && !isObject(parsed[name])) return `the partition's ${name} section is not an object`;
  return parsed;
}

/** The partition laid out when it is large and the layout takes it, else parsed whole (or why it is not a cache). */
async function viewOf(blob: string | Buffer, layoutFrom: number): Promise<PartitionView | string> {
  const size = typeof blob === 'string' ? blob.length : blob.byteLength;
  if (size >= layoutFrom) {
    const bytes = typeof blob === 'string' ? Buffer.from(blob) : blob;
    const layout = await layoutOf(bytes, MSAL_LAYOUT);
    if (layout) return laidOutView(bytes, layout);
  }
  const parsed = parse(typeof blob === 'string' ? blob : blob.toString('utf8'));
  return typeof parsed === 'string' ? parsed : parsedView(parsed);
}

/**
 * Which of `accounts` (lower-cased) own an entry: the one its `home_account_id` names (any letter case),
 * and each whose `<homeAccountId>-` starts its key (any letter case; MSAL keys are
 * `homeAccountId-environment-…` in every library, whatever the environment alias).
 */
function ownersOf(accounts: Set<string>, lengths: number[], key: string, owner: string | undefined): string[] {
  const lower = key.toLowerCase();
  const found: string[] = [];
  if (owner !== undefined && accounts.has(owner)) found.push(owner);
  for (const length of lengths) {
    if (lower[length] !== '-') continue;
    const prefix = lower.slice(0, length);
    if (prefix !== owner && accounts.has(prefix)) found.push(prefix);
  }
  return found;
}

/**
 * Removes accounts (homeAccountIds, any letter case) and all their entries from a serialized MSAL token
 * cache of any MSAL library: every entry whose `home_account_id` is one of them or whose key starts with
 * `<homeAccountId>-`, in any section but AppMetadata, of any entry type, in any environment alias. Every
 * other entry is kept as it was, byte for byte; a partition left without an Account entry is to be
 * deleted; data that is not an MSAL cache is skipped and never rewritten. A parsed result is read again
 * to confirm that none of the accounts' entries is left. Pure: no I/O, no MSAL library.
 *
 * A large partition (`layoutFrom`) is laid out rather than parsed: only keys and owner fields are read,
 * and what is written back is the original bytes less the removed entries. A partition the layout
 * leaves to JSON.parse (see {@link layoutOf}) is parsed whole, as a small one is.
 */
export async function removeAccountsFromPartition<B extends string | Buffer>(
  blob: B,
  homeAccountIds: readonly string[],
  options: PartitionRemovalOptions = {},
): Promise<PartitionBatchRemoval<B>> {
  const accounts = homeAccountIds.map((id) => id.toLowerCase());
  if (accounts.includes('')) throw new TypeError('msal-json: homeAccountId is empty');
  const layoutFrom = options.layoutFrom ?? 64 * 1024;

  await cpuTurn(); // the removal is CPU work from here: it starts in a turn of its own (cpu-turns.ts)
  const view = await viewOf(blob, layoutFrom);
  if (typeof view === 'string') return { accounts: accounts.map(() => ({ outcome: 'skipped', removedKeys: [], detail: view })) };

  const wanted = new Set(accounts);
  const lengths = [...new Set(accounts.map((account) => account.length))];
  /** Section → key → the account it is removed for (the first of the batch that owns it). */
  const removedBy = new Map<string, Map<string, string>>();
  view.walk((section, key, owner) => {
    const owners = ownersOf(wanted, lengths, key, owner);
    if (owners.length === 0) return;
    let keys = removedBy.get(section);
    if (!keys) removedBy.set(section, (keys = new Map()));
    keys.set(key, accounts.find((account) => owners.includes(account))!);
  });
  const removedKeys = new Map<string, string[]>(accounts.map((account) => [account, []]));
  if (removedBy.size === 0) return { accounts: accounts.map(() => ({ outcome: 'not_present', removedKeys: [] })) };

  const { next, accountsLeft } = view.without((section, key) => {
    const by = removedBy.get(section)?.get(key);
    if (by === undefined) return false;
    removedKeys.get(by)!.push(key);
    return true;
  });
  // A parsed partition is read again to confirm; a laid-out one is its own bytes less the removed entries,
  // already judged entry by entry above (reading megabytes again per round cost more than the removal).
  if (typeof next === 'string') await confirmGone(next, wanted, lengths);
  const results: AccountPartitionRemoval[] = accounts.map((account, i) => {
    // An account given twice in one batch: its entries are reported once, for its first position.
    const keys = accounts.indexOf(account) === i ? removedKeys.get(account)! : [];
    return keys.length > 0 ? { outcome: 'removed', removedKeys: keys } : { outcome: 'not_present', removedKeys: [] };
  });
  if (accountsLeft === 0) return { accounts: results, next: null };
  if (typeof blob === 'string') return { accounts: results, next: (typeof next === 'string' ? next : next.toString('utf8')) as B };
  return { accounts: results, next: (typeof next === 'string' ? Buffer.from(next) : next) as B };
}

/** Reads what is to be written back and checks that no entry of the accounts is left; a failure here is a bug. */
async function confirmGone(next: string, accounts: Set<string>, lengths: number[]): Promise<void> {
  const view = await viewOf(next, Infinity);
  if (typeof view === 'string') throw new Error(`msal-json: the rewritten partition does not read back (${view})`);
  let left = 0;
  view.walk((_section, key, owner) => {
    left += ownersOf(accounts, lengths, key, owner).length;
  });
  if (left > 0) throw new Error('msal-json: account entries remain after removal');
}

/** One account's removal: {@link removeAccountsFromPartition} for a batch of one. */
export async function removeAccountFromPartition<B extends string | Buffer>(blob: B, homeAccountId: string, options: PartitionRemovalOptions = {}): Promise<PartitionRemoval<B>> {
  const { accounts, next } = await removeAccountsFromPartition(blob, [homeAccountId], options);
  const result = accounts[0]!;
  return result.outcome === 'removed' ? { ...result, next } : result;
}

/** MSAL's JSON, as every MSAL library serializes its cache; last in the list, it judges whatever no other format took. */
export const msalJsonFormat: CacheFormat = {
  name: 'msal-json',
  recognizes: () => true,
  removeAccounts: (blob, homeAccountIds) => removeAccountsFromPartition(blob, homeAccountIds),
};
