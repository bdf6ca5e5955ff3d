/**
 * Where one registered app keeps its MSAL token-cache partitions (what the app's
 * DistributedCachePlugin reads and writes). Implementations hide the backing store.
 */
export interface TokenCacheStore {
  /** The serialized cache blob at `key`, or null when the key does not exist. */
  get(key: string): Promise<string | null>;
  /**
   * Replaces the blob at `key` with `next` (or deletes the key when `next` is null) only if it
   * still holds `expected`; keeps the key's TTL. Returns false when someone else changed it first.
   */
  compareAndSet(key: string, expected: string, next: string | null): Promise<boolean>;
  /**
   * Reads the blob at `key` for one update: `write(next)` replaces it (null deletes the key; the TTL is
   * kept) only if nothing has written the key since this read, and says whether it did. `release()`
   * must follow, written or not.
   */
  readForUpdate(key: string): Promise<PartitionUpdate>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface PartitionUpdate {
  /** As text, or as bytes where the store reads them so (a large partition is then never a string). */
  value: string | Buffer | null;
  /** `next` as text or bytes, whichever `value` was. */
  write(next: string | Buffer | null): Promise<boolean>;
  release(): void;
}

/** An update as a read and a compare-and-set against what was read (for stores with nothing better). */
export async function updateByCompareAndSet(store: Pick<TokenCacheStore, 'get' | 'compareAndSet'>, key: string): Promise<PartitionUpdate> {
  const value = await store.get(key);
  return {
    value,
    write: async (next) => value !== null && store.compareAndSet(key, value, Buffer.isBuffer(next) ? next.toString('utf8') : next),
    release: () => {},
  };
}

/** The key holds something that is not a token-cache blob (another Redis type): never retried, never written. */
export class ForeignPartitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForeignPartitionError';
  }
}
