import type { Config } from '../config/load.js';
import { ConfigError } from '../config/load.js';
import { MemoryTokenCacheStore } from '../token-caches/memory.js';
import type { TokenCacheStore } from '../token-caches/types.js';
import { createMemoryStores } from './memory.js';
import type { ServiceStores } from './types.js';

/** The service's own store, as configured. */
export function createStores(config: Config): ServiceStores {
  if (config.store.kind !== 'memory') throw new ConfigError('store.kind', 'redis is not supported by this build yet; use { kind: memory }');
  return createMemoryStores({ reportRetentionMs: config.retention.logoutReportSeconds * 1000 });
}

/** Each app's token-cache store, by clientId. */
export function createTokenCaches(config: Config): Map<string, TokenCacheStore> {
  const caches = new Map<string, TokenCacheStore>();
  config.apps.forEach((app, i) => {
    if (app.tokenCache.kind !== 'memory')
      throw new ConfigError(`apps[${i}].tokenCache.url`, 'Redis token caches are not supported by this build yet; use { kind: memory }');
    caches.set(app.clientId, new MemoryTokenCacheStore());
  });
  return caches;
}
