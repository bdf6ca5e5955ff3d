import type { Redis, Cluster } from 'ioredis';
import type { KindSettings } from '../core/kind-settings.js';
import type { ServiceStores } from '../core/service-stores.js';
import type { RedisLocation } from '../redis/connect.js';

/** What a store kind is given to open itself. */
export interface StoreOpenContext {
  /** A Redis connection for one use, opened once per location and use, closed with the service. */
  redis(location: RedisLocation, use: 'store' | 'store attempts'): Redis | Cluster;
  reportRetentionMs: number;
}

export interface OpenedStore {
  stores: ServiceStores;
  /** The same store for the logouts' attempts on a connection of its own; `stores` when absent. */
  attemptStores?: ServiceStores;
  /** Where instances share what else they share (rate-limit counters), if they can. */
  shared?: { redis: Redis | Cluster; keyPrefix: string };
}

/** One kind of store for what the service keeps of its own (`store.kind`); listed in `kinds.ts`. */
export interface StoreKind extends KindSettings {
  open(settings: Record<string, unknown>, context: StoreOpenContext): OpenedStore;
}
