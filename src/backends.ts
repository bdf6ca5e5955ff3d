import type { Redis, Cluster } from 'ioredis';
import type { Config } from './config/config.js';
import { connectRedis, connected, redisErrorMessage, type RedisLocation } from './redis/connect.js';
import type { ServiceStores } from './core/service-stores.js';
import type { OpenContext, OpenedTokenCache } from './token-caches/kind.js';
import { TOKEN_CACHE_KINDS } from './token-caches/kinds.js';
import { STORE_KINDS } from './stores/kinds.js';
import type { WebSessionStore } from './core/web-session.js';
import { WEB_SESSION_KINDS } from './web-sessions/kinds.js';

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
  tokenCaches: Map<string, OpenedTokenCache>;
  /** Each app's web-session stores (its `webSession` list, in order), by clientId; apps without have none. */
  webSessions: Map<string, WebSessionStore[]>;
  /** The store's Redis connection and key prefix, for what else instances share (rate-limit counters). */
  shared?: { redis: Redis | Cluster; keyPrefix: string };
  /** Waits until every Redis connection is up, or `timeoutMs`; false when one is not. */
  connected(timeoutMs: number): Promise<boolean>;
  /** How many Redis connections were opened (one per location and use). */
  readonly connectionCount: number;
}

/**
 * The service's own store and each app's token-cache store and web-session stores, as configured. Apps whose caches share
 * a Redis URL share one connection; the service's own store has two of its own even on the same URL
 * (one for the answers, one for the attempts), so its small commands never wait behind a megabyte
 * partition in transit. `onConnectionError` is told each failure of a connection (safe text),
 * `onConnectionReady` each (re)connect, by where.
 */
export function createBackends(config: Config, onConnectionError: (reason: string, where: string) => void, onConnectionReady: (where: string) => void = () => {}): Backends {
  // Told with a text safe to log (no URL credentials), so that nothing above reads a client's errors.
  const onError = (err: Error, where: string) => onConnectionError(redisErrorMessage(err), where);
  const reportRetentionMs = config.retention.logoutReportSeconds * 1000;
  const connections = new Map<string, Redis | Cluster>();
  const connection = (location: RedisLocation, where: string, use: 'store' | 'store attempts' | 'token caches'): Redis | Cluster => {
    const id = JSON.stringify([use, location]);
    let client = connections.get(id);
    if (!client)
      connections.set(
        id,
        (client = connectRedis(
          location,
          (err) => onError(err, where),
          () => onConnectionReady(where),
        )),
      );
    return client;
  };
  const others = new Map<string, { value: unknown; close: () => Promise<unknown> }>();

  const { kind, ...storeSettings } = config.store;
  const opened = kindOf(STORE_KINDS, kind).open(storeSettings, { reportRetentionMs, redis: (location, use) => connection(location, 'store', use) });

  const tokenCaches = new Map<string, OpenedTokenCache>();
  const webSessions = new Map<string, WebSessionStore[]>();
  const contextFor = (where: string): OpenContext => ({
    redis: (location) => connection(location, where, 'token caches'),
    shared: <T>(id: string, open: () => T, close: (value: T) => Promise<unknown>): T => {
      let entry = others.get(id);
      if (!entry) {
        const value = open();
        others.set(id, (entry = { value, close: () => close(value) }));
      }
      return entry.value as T;
    },
    onError: (err) => onError(err, where),
  });
  for (const app of config.apps) {
    tokenCaches.set(app.clientId, kindOf(TOKEN_CACHE_KINDS, app.tokenCache.kind).open(app.tokenCache, contextFor(`token cache of ${app.name}`)));
    if (app.webSessions)
      webSessions.set(
        app.clientId,
        app.webSessions.map((settings) => kindOf(WEB_SESSION_KINDS, settings.kind).open(settings, contextFor(`web session of ${app.name}`))),
      );
  }

  // Closing the stores also ends every connection opened here (the token caches only borrow theirs).
  const closeConnections = () => Promise.all([...[...connections.values()].map(closeRedis), ...[...others.values()].map((o) => o.close().catch(() => {}))]);
  const { stores } = opened;
  const withConnections: ServiceStores = {
    ...stores,
    async close() {
      await stores.close();
      await closeConnections();
    },
  };
  return {
    stores: withConnections,
    attemptStores: opened.attemptStores ?? withConnections,
    tokenCaches,
    webSessions,
    ...(opened.shared ? { shared: opened.shared } : {}),
    connectionCount: connections.size,
    connected: async (timeoutMs) => (await Promise.all([...connections.values()].map((c) => connected(c, timeoutMs)))).every(Boolean),
  };
}

/** QUIT, then disconnect: with Sentinel, only disconnect() also ends the failover detector's subscriptions to the sentinels. */
const closeRedis = async (client: Redis | Cluster): Promise<void> => {
  await client.quit().catch(() => {});
  client.disconnect();
};

/** The kind of that name from a list (the configuration was checked against the list). */
function kindOf<K extends { kind: string }>(kinds: readonly K[], name: string): K {
  const kind = kinds.find((k) => k.kind === name);
  if (!kind) throw new Error(`no kind "${name}"`);
  return kind;
}
