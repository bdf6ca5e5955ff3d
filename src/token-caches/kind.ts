import type { Redis, Cluster } from 'ioredis';
import type { TObject } from 'typebox';
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

/** One kind of place where apps keep their token-cache partitions (`tokenCache.kind`); listed in `kinds.ts`. */
export interface TokenCacheKind {
  kind: string;
  /** Its settings besides `kind` and `key`, strict, so a mistake names the setting. */
  settings: TObject;
  /** What the schema cannot check: the setting at fault ('' for the whole) and why. */
  check?(settings: Record<string, unknown>): { setting: string; reason: string } | undefined;
  /** Fills in the settings' defaults. */
  defaults?(settings: Record<string, unknown>): Record<string, unknown>;
  open(settings: TokenCacheSettings, context: OpenContext): TokenCacheStore;
}
