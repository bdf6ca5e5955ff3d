import { Type } from 'typebox';
import { updateByCompareAndSet, type PartitionUpdate, type TokenCacheStore } from '../core/token-cache.js';
import type { TokenCacheKind } from './kind.js';

/** Token-cache partitions held in this process (for trying the service out and for tests). */
export class MemoryTokenCacheStore implements TokenCacheStore {
  readonly partitions = new Map<string, string>();

  async get(key: string): Promise<string | null> {
    return this.partitions.get(key) ?? null;
  }

  async set(key: string, value: string): Promise<void> {
    this.partitions.set(key, value);
  }

  async compareAndSet(key: string, expected: string, next: string | null): Promise<boolean> {
    if (this.partitions.get(key) !== expected) return false;
    if (next === null) this.partitions.delete(key);
    else this.partitions.set(key, next);
    return true;
  }

  readForUpdate(key: string): Promise<PartitionUpdate> {
    return updateByCompareAndSet(this, key);
  }

  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

/** `kind: memory`: partitions kept in the service itself (trying it out, tests). */
export const memoryTokenCache: TokenCacheKind = {
  kind: 'memory',
  settings: Type.Object({}, { additionalProperties: false }),
  open: () => new MemoryTokenCacheStore(),
};
