import type { StoreKind } from './kind.js';
import { memoryStore } from './memory.js';
import { redisStore } from './redis/kind.js';

/** Every kind of store the service can keep its own data in (`store.kind`); a new kind is its file and a line here. */
export const STORE_KINDS: readonly StoreKind[] = [memoryStore, redisStore];
