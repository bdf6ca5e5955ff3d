import type { Redis, Cluster } from 'ioredis';
import type { KindSettings } from '../core/kind-settings.js';
import type { TokenCacheSettings } from '../core/registrations.js';
import type { TokenCacheStore } from '../core/token-cache.js';
import type { RedisLocation } from '../redis/connect.js';

/** What a kind is given to open an app's store: connections shared with every app at the same place. */
export interface OpenContext {
  /** One Redis connection per location for every app's token cache there. */
  redis(location: RedisLocation): Redis | Cluster;
  /** One `T` per id for every app that asks (a connection pool per URL), closed with the service. */
  shared<T>(id: string, open: () => T, close: (value: T) => Promise<unknown>): T;
  /** Told of errors of a shared connection that no command reports (logged, counted). */
  onError(err: Error): void;
}

/** An app's token-cache store as opened: what the sweeper uses, and what the service's readiness and shutdown use. */
export interface OpenedTokenCache extends TokenCacheStore {
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** One kind of place where apps keep their token-cache partitions (`tokenCache.kind`); listed in `kinds.ts`. */
export interface TokenCacheKind extends KindSettings {
  open(settings: TokenCacheSettings, context: OpenContext): OpenedTokenCache;
}
