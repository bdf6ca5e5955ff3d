/**
 * Where one registered app keeps its MSAL token-cache partitions (what the app's
 * DistributedCachePlugin reads and writes), as the sweeper uses it. Implementations hide the backing store.
 */
export interface TokenCacheStore {
  /**
   * Reads the blob at `key` for one update: `write(next)` replaces it (null deletes the key; the TTL is
   * kept) only if nothing has written the key since this read, and says whether it did. `release()`
   * must follow, written or not. `context` is what the sweeper knows of the partition (a store may choose
   * its way of updating by it).
   */
  readForUpdate(key: string, context?: PartitionContext): Promise<PartitionUpdate>;
}

export interface PartitionUpdate {
  /** As text, or as bytes where the store reads them so (a large partition is then never a string). */
  value: string | Buffer | null;
  /** `next` as text or bytes, whichever `value` was. */
  write(next: string | Buffer | null): Promise<boolean>;
  release(): void;
}

/** A store that can read a blob and replace it only if it is unchanged: enough for {@link updateByCompareAndSet}. */
export interface CompareAndSetStore {
  /** The serialized cache blob at `key`, or null when the key does not exist. */
  get(key: string): Promise<string | null>;
  /**
   * Replaces the blob at `key` with `next` (or deletes the key when `next` is null) only if it
   * still holds `expected`; keeps the key's TTL. Returns false when someone else changed it first.
   */
  compareAndSet(key: string, expected: string, next: string | null): Promise<boolean>;
}

/** An update as a read and a compare-and-set against what was read (for stores with nothing better). */
export async function updateByCompareAndSet(store: CompareAndSetStore, key: string): Promise<PartitionUpdate> {
  const value = await store.get(key);
  return {
    value,
    write: async (next) => value !== null && store.compareAndSet(key, value, Buffer.isBuffer(next) ? next.toString('utf8') : next),
    release: () => {},
  };
}

/** What removing one account from one partition comes to. */
export interface PartitionRemoval<B extends string | Buffer = string> {
  outcome: 'removed' | 'not_present' | 'skipped';
  /** The blob to write back, as the blob was given (text or bytes), or null meaning "delete the partition"; undefined when nothing changes. */
  next?: B | null;
  /** Cache keys of the entries that were removed. */
  removedKeys: string[];
  /** Short human reason (never token values), e.g. why skipped. */
  detail?: string;
}

/** One account's part of a batch removal: a {@link PartitionRemoval} less the blob. */
export type AccountPartitionRemoval = Omit<PartitionRemoval, 'next'>;

/** What removing several accounts from one partition comes to: each account's result and one blob to write. */
export interface PartitionBatchRemoval<B extends string | Buffer = string> {
  /** One per homeAccountId given, in the same order. */
  accounts: AccountPartitionRemoval[];
  /** As {@link PartitionRemoval.next}: undefined when no account was removed. */
  next?: B | null;
}

/** What the sweeper knows of the partition it hands a format. */
export interface PartitionContext {
  /** The app's key template gives each account a partition of its own (it names `{homeAccountId}`, or `{oid}` and `{tenantId}`). */
  oneAccountPerPartition: boolean;
}

/** One way a partition's bytes can be laid out (MSAL's JSON, an encrypted payload, …): recognizes its blobs and removes accounts from them. */
export interface CacheFormat {
  name: string;
  /** Whether the blob is this format's (by its first bytes); the first format of the list that says so takes it. */
  recognizes(blob: string | Buffer): boolean;
  /** Pure: what the partition comes to without the accounts (homeAccountIds, any letter case). */
  removeAccounts<B extends string | Buffer>(blob: B, homeAccountIds: readonly string[], context: PartitionContext): Promise<PartitionBatchRemoval<B>>;
}

/** The key holds something that is not a token-cache blob (another Redis type): never retried, never written. */
export class ForeignPartitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForeignPartitionError';
  }
}
