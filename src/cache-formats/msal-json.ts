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

/** The bytes of a partition given as text, or why it has none (a lone surrogate has no UTF-8 form). */
function bytesOf(blob: string | Buffer): Buffer | string {
  if (typeof blob !== 'string') return blob;
  return /\p{Cs}/u.test(blob) ? 'the partition is not valid UTF-8' : Buffer.from(blob);
}

/**
 * The partition's bytes less the dropped entries: ranges of the original bytes only. Within a section
 * each kept entry keeps the separator (commas, line breaks, indentation) that followed it, the last one
 * the section's closing whitespace; a section left empty is `{}`.
 */
function cut(bytes: Buffer, layout: PartitionLayout, dropped: Set<LaidOutEntry>): Buffer {
  const pieces: Buffer[] = [];
  let from = 0;
  let to = 0;
  const take = (start: number, end: number) => {
    if (start === to) return void (to = end);
    pieces.push(bytes.subarray(from, to));
    [from, to] = [start, end];
  };
  for (const { start, end, entries } of layout.sections) {
    if (!entries.some((entry) => dropped.has(entry))) continue;
    take(to, start);
    const kept = entries.flatMap((entry, i) => (dropped.has(entry) ? [] : [i]));
    if (kept.length === 0) {
      take(start, start + 1);
      take(end - 1, end);
      continue;
    }
    take(start, entries[0]!.start);
    kept.forEach((i, k) => {
      const entry = entries[i]!;
      if (k < kept.length - 1) take(entry.start, entries[i + 1]!.start);
      else take(entry.start, entry.end);
    });
    take(entries.at(-1)!.end, end);
  }
  take(to, bytes.length);
  pieces.push(bytes.subarray(from, to));
  return Buffer.concat(pieces);
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
 * `<homeAccountId>-`, in any section but AppMetadata, of any entry type, in any environment alias. What
 * is written back is the partition's own bytes less those entries: every other entry is kept byte for
 * byte, layout included; a partition left without an Account entry is to be deleted. Keys are compared
 * decoded; of repeated keys the last is the one MSAL reads, and the hidden ones go with it, or alone when
 * they are the accounts'. Data that is not such a cache, or that {@link layoutOf} refuses, is skipped
 * with the reason and never rewritten. Pure: no I/O, no MSAL library.
 */
export async function removeAccountsFromPartition<B extends string | Buffer>(blob: B, homeAccountIds: readonly string[]): Promise<PartitionBatchRemoval<B>> {
  const accounts = homeAccountIds.map((id) => id.toLowerCase());
  if (accounts.includes('')) throw new TypeError('msal-json: homeAccountId is empty');
  const skipped = (detail: string): PartitionBatchRemoval<B> => ({ accounts: accounts.map(() => ({ outcome: 'skipped', removedKeys: [], detail })) });

  await cpuTurn(); // the removal is CPU work from here: it starts in a turn of its own (cpu-turns.ts)
  const bytes = bytesOf(blob);
  if (typeof bytes === 'string') return skipped(bytes);
  const layout = await layoutOf(bytes, MSAL_LAYOUT);
  if ('refused' in layout) return skipped(layout.refused);

  const wanted = new Set(accounts);
  const lengths = [...new Set(accounts.map((account) => account.length))];
  const ownersOfEntry = (entry: LaidOutEntry) => ownersOf(wanted, lengths, entry.key, entry.owner?.toLowerCase());
  const namedInHiddenOwner = (entry: LaidOutEntry) => entry.hiddenOwners?.some((owner) => wanted.has(owner.toLowerCase())) ?? false;
  const removedKeys = new Map<string, string[]>(accounts.map((account) => [account, []]));
  const dropped = new Set<LaidOutEntry>();
  let accountsLeft = 0;
  for (const section of layout.sections) {
    // Hidden entries (a repeated section or key) are no one's to MSAL: they go when they are the accounts', or when what hid them goes.
    if (section.shadowed) {
      for (const entry of section.entries) if (ownersOfEntry(entry).length > 0 || namedInHiddenOwner(entry)) dropped.add(entry);
      continue;
    }
    const gone = new Set<string>();
    for (const entry of section.entries) {
      if (entry.shadowed) continue;
      const owners = ownersOfEntry(entry);
      if (owners.length > 0) {
        dropped.add(entry);
        gone.add(entry.key);
        removedKeys.get(accounts.find((account) => owners.includes(account))!)!.push(entry.key);
        continue;
      }
      if (section.name === 'Account') accountsLeft++;
      // Kept, it would keep the account's id in a field that MSAL does not read.
      if (namedInHiddenOwner(entry)) return skipped(`the ${section.name} entry ${JSON.stringify(entry.key)} names the account in a home_account_id that a repeated one hides`);
    }
    for (const entry of section.entries) if (entry.shadowed && (gone.has(entry.key) || ownersOfEntry(entry).length > 0 || namedInHiddenOwner(entry))) dropped.add(entry);
  }
  if ([...removedKeys.values()].every((keys) => keys.length === 0)) return { accounts: accounts.map(() => ({ outcome: 'not_present', removedKeys: [] })) };

  const results: AccountPartitionRemoval[] = accounts.map((account, i) => {
    // An account given twice in one batch: its entries are reported once, for its first position.
    const keys = accounts.indexOf(account) === i ? removedKeys.get(account)! : [];
    return keys.length > 0 ? { outcome: 'removed', removedKeys: keys } : { outcome: 'not_present', removedKeys: [] };
  });
  if (accountsLeft === 0) return { accounts: results, next: null };
  const next = cut(bytes, layout, dropped);
  // Read again to confirm (the contract): what is written back must lay out, and hold nothing of the accounts.
  const left = await layoutOf(next, MSAL_LAYOUT);
  if ('refused' in left) return skipped(`the removal could not be confirmed: ${left.refused}`);
  const stillThere = left.sections.some((section) => section.name !== KEPT_SECTION && section.entries.some((entry) => ownersOfEntry(entry).length > 0 || namedInHiddenOwner(entry)));
  if (stillThere) return skipped('the removal could not be confirmed: an entry of the account is still there');
  return { accounts: results, next: (typeof blob === 'string' ? next.toString('utf8') : next) as B };
}

/** One account's removal: {@link removeAccountsFromPartition} for a batch of one. */
export async function removeAccountFromPartition<B extends string | Buffer>(blob: B, homeAccountId: string): Promise<PartitionRemoval<B>> {
  const { accounts, next } = await removeAccountsFromPartition(blob, [homeAccountId]);
  const result = accounts[0]!;
  return result.outcome === 'removed' ? { ...result, next } : result;
}

/** MSAL's JSON, as every MSAL library serializes its cache; last in the list, it judges whatever no other format took. */
export const msalJsonFormat: CacheFormat = {
  name: 'msal-json',
  recognizes: () => true,
  removeAccounts: (blob, homeAccountIds) => removeAccountsFromPartition(blob, homeAccountIds),
};
