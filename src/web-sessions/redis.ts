import type { Redis, Cluster } from 'ioredis';
import { Type } from 'typebox';
import { checkRedisLocation, isStoreOutage, redisErrorMessage, redisLocationOf, REDIS_LOCATION_SETTINGS, type RedisLocation } from '../redis/connect.js';
import { keyFor } from './key-template.js';
import type { WebSessionEnding, WebSessionKind, WebSessionSettings, WebSessionStore, WebSessionTarget } from './kind.js';

/** A Redis command's failure as a `failed` ending (an outage, a replica, a key of another type). */
export const failedOnRedis = (err: unknown): WebSessionEnding => ({ outcome: 'failed', detail: `${isStoreOutage(err) ? 'the store is unreachable: ' : ''}${redisErrorMessage(err)}`.slice(0, 200) });

/** Where a Redis is, as one string: two apps on the same one share its keys (credentials left out). */
export function redisStoreIdentity(settings: RedisLocation): string {
  if (settings.cluster) return `redis cluster ${[...settings.cluster.nodes].sort().join(',')}`;
  if (settings.sentinel) return `redis sentinel ${settings.sentinel.name} ${[...settings.sentinel.nodes].sort().join(',')}`;
  try {
    const url = new URL(settings.url ?? '');
    return `redis ${url.hostname.toLowerCase()}:${url.port || '6379'}/${Number(url.pathname.slice(1) || '0')}`;
  } catch {
    return `redis ${settings.url}`;
  }
}

/** The write the token caches' readiness check does: a URL that points at a read-only replica is not usable. */
export const redisPing = async (client: Redis | Cluster): Promise<void> => {
  await client.set('logout-receiver:readyz', '1', 'PX', 10_000);
};

/** A web session as one Redis key of any type, ended by `DEL`. */
export class RedisKeyWebSessionStore implements WebSessionStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly template: string,
  ) {}

  async end(target: WebSessionTarget): Promise<WebSessionEnding> {
    const named = keyFor(this.template, target);
    if (!('key' in named)) return named;
    try {
      return { outcome: (await this.redis.del(named.key)) > 0 ? 'removed' : 'not_present' };
    } catch (err) {
      return failedOnRedis(err);
    }
  }

  ping = (): Promise<void> => redisPing(this.redis);
  async close(): Promise<void> {} // the connection is shared by every app at the same place, and closed with the service
}

/** The settings and the conflict check of a kind whose record is the one key its template names. */
export const redisKeyKind = (kind: string): Omit<WebSessionKind, 'open'> => ({
  kind,
  settings: Type.Object(REDIS_LOCATION_SETTINGS, { additionalProperties: false }),
  check: (settings) => checkRedisLocation(settings as RedisLocation),
  key: { literalPrefix: true },
  keySpace: (settings) => ({ store: redisStoreIdentity(settings as RedisLocation), patterns: [settings.key as string] }),
});

/** `kind: redis`: express-session + connect-redis (`sess:{sessionKey}`), Flask-Session (`session:{sessionKey}`), Django cache sessions, starsessions. */
export const redisWebSession: WebSessionKind = {
  ...redisKeyKind('redis'),
  open: (settings: WebSessionSettings, context) => new RedisKeyWebSessionStore(context.redis(redisLocationOf(settings as RedisLocation)), settings.key as string),
};
