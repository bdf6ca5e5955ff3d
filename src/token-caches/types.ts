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
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The key holds something that is not a token-cache blob (another Redis type): never retried, never written. */
export class ForeignPartitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForeignPartitionError';
  }
}
