import type { Redis, Cluster } from 'ioredis';
import type { Config } from '../config/load.js';
import { connectRedis, connected, type RedisLocation } from '../redis/connect.js';
import { MemoryTokenCacheStore } from '../token-caches/memory.js';
import { RedisTokenCacheStore } from '../token-caches/redis.js';
import type { TokenCacheStore } from '../core/token-cache.js';
import { createMemoryStores } from './memory.js';
import { createRedisStores } from './redis.js';
import type { ServiceStores } from '../core/service-stores.js';

/** What the service keeps and where the apps' caches are, with every connection it opened. */
export interface Backends {
  stores: ServiceStores;
  /**
   * The same store for the logouts' attempts (session lookups and deletions, markers, journal
   * completions): with Redis, on a connection of its own, so that the few commands an answer waits on
   * (replay record, journal, marker, rate limit) never queue behind those of hundreds of attempts
   * under way. With the memory store, `stores` itself.
   */
  attemptStores: ServiceStores;
  tokenCaches: Map<string, TokenCacheStore>;
  /** The store's Redis connection and key prefix, for what else instances share (rate-limit counters). */
  shared?: { redis: Redis | Cluster; keyPrefix: string };
  /** Waits until every Redis connection is up, or `timeoutMs`; false when one is not. */
  connected(timeoutMs: number): Promise<boolean>;
  /** How many Redis connections were opened (one per location and use). */
  readonly connectionCount: number;
}

/**
 * The service's own store and each app's token-cache store, as configured. Apps whose caches share
 * a Redis URL share one connection; the service's own store has two of its own even on the same URL
 * (one for the answers, one for the attempts), so its small commands never wait behind a megabyte
 * partition in transit.
 */
export function createBackends(config: Config, onError: (err: Error, where: string) => void): Backends {
  const reportRetentionMs = config.retention.logoutReportSeconds * 1000;
  const connections = new Map<string, Redis | Cluster>();
  const connection = (location: RedisLocation, where: string, use: 'store' | 'store attempts' | 'token caches'): Redis | Cluster => {
    const id = JSON.stringify([use, location]);
    let client = connections.get(id);
    if (!client) connections.set(id, (client = connectRedis(location, (err) => onError(err, where))));
    return client;
  };

  let stores: ServiceStores;
  let attemptStores: ServiceStores | undefined; // with the memory store, the same as `stores`
  let shared: Backends['shared'];
  if (config.store.kind === 'redis') {
    const { keyPrefix, url, sentinel, cluster } = config.store;
    // In a Cluster the service's keys share one hash slot, so its MULTI transactions stay on one node.
    const prefix = cluster && !/\{.+\}/.test(keyPrefix) ? `{${keyPrefix}}` : keyPrefix;
    const location = { ...(url ? { url } : {}), ...(sentinel ? { sentinel } : {}), ...(cluster ? { cluster } : {}) };
    const redis = connection(location, 'store', 'store');
    stores = createRedisStores(redis, { keyPrefix: prefix, reportRetentionMs, ownsConnection: false });
    attemptStores = createRedisStores(connection(location, 'store', 'store attempts'), { keyPrefix: prefix, reportRetentionMs, ownsConnection: false });
    shared = { redis, keyPrefix: prefix };
  } else {
    stores = createMemoryStores({ reportRetentionMs });
  }

  const tokenCaches = new Map<string, TokenCacheStore>();
  for (const app of config.apps) {
    const url = app.tokenCache.kind === 'redis' ? (app.tokenCache.url as string) : undefined;
    tokenCaches.set(app.clientId, url ? new RedisTokenCacheStore(connection({ url }, `token cache of ${app.name}`, 'token caches'), false) : new MemoryTokenCacheStore());
  }

  // Closing the stores also ends every connection opened here (the token caches only borrow theirs).
  const closeConnections = () => Promise.all([...connections.values()].map((c) => c.quit().catch(() => c.disconnect())));
  const withConnections: ServiceStores = {
    ...stores,
    async close() {
      await stores.close();
      await closeConnections();
    },
  };
  return {
    stores: withConnections,
    attemptStores: attemptStores ?? withConnections,
    tokenCaches,
    ...(shared ? { shared } : {}),
    connectionCount: connections.size,
    connected: async (timeoutMs) => (await Promise.all([...connections.values()].map((c) => connected(c, timeoutMs)))).every(Boolean),
  };
}
