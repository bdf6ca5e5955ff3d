import type { TokenCacheKind } from './kind.js';
import { memoryTokenCache } from './memory.js';
import { postgresTokenCache } from './postgres.js';
import { redisHashTokenCache } from './redis-hash.js';
import { redisTokenCache } from './redis.js';

/** Every kind of token-cache store an app can name in `tokenCache.kind`; a new kind is its file and a line here. */
export const TOKEN_CACHE_KINDS: readonly TokenCacheKind[] = [memoryTokenCache, redisTokenCache, redisHashTokenCache, postgresTokenCache];

/** The kind a `tokenCache` without `kind` is. */
export const DEFAULT_TOKEN_CACHE_KIND = 'redis';
