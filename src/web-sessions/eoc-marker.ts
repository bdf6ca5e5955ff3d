import type { Redis, Cluster } from 'ioredis';
import { Type } from 'typebox';
import { checkRedisLocation, redisLocationOf, REDIS_LOCATION_SETTINGS, type RedisLocation } from '../redis/connect.js';
import type { WebSessionEnding, WebSessionKind, WebSessionStore, WebSessionTarget } from './kind.js';
import { failedOnRedis, redisPing, redisStoreIdentity } from './redis.js';

/** The markers' keys in the app's store: what express-openid-connect's `isLoggedOut` reads, `${issuer}|${sid}` and `${issuer}|${sub}`, behind the store's prefix. */
export const eocMarkerKey = (prefix: string, iss: string, id: string): string => `${prefix}${iss}|${id}`;

/**
 * The value express-openid-connect's `onLogoutToken` writes: a session-shaped object, so that a
 * connect-style store (connect-redis parses every value as JSON) reads it like any session.
 */
export const eocMarkerValue = (ttlSeconds: number, now = Date.now()): string => JSON.stringify({ cookie: { expires: now + ttlSeconds * 1000, maxAge: ttlSeconds * 1000 } });

/**
 * Writes the logout markers an express-openid-connect app with `backchannelLogout` checks on every
 * request: its next request with the old cookie is signed out. By `sid` for one session; by `sub` too when
 * the logout names the user (or the session has no `sid`). The app's next sign-in deletes both markers.
 */
export class EocMarkerStore implements WebSessionStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  async end(target: WebSessionTarget): Promise<WebSessionEnding> {
    const ids = [target.sid, target.bySub || !target.sid ? target.sub : undefined].filter((id): id is string => !!id);
    if (ids.length === 0) return { outcome: 'skipped', detail: 'no sid or sub for this session' };
    const value = eocMarkerValue(this.ttlSeconds);
    try {
      await Promise.all(ids.map((id) => this.redis.set(eocMarkerKey(this.prefix, target.iss, id), value, 'EX', this.ttlSeconds)));
      return { outcome: 'removed' };
    } catch (err) {
      return failedOnRedis(err);
    }
  }

  ping = (): Promise<void> => redisPing(this.redis);
  async close(): Promise<void> {}
}

/** `kind: eoc-marker`: express-openid-connect with `backchannelLogout` over a Redis store (cookie sessions included). */
export const eocMarkerWebSession: WebSessionKind = {
  kind: 'eoc-marker',
  settings: Type.Object(
    {
      ...REDIS_LOCATION_SETTINGS,
      // The store's prefix (connect-redis: `sess:`); a marker with none could be any key.
      prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' })),
      // The app's session lifetime: min(absoluteDuration, rollingDuration) with rolling sessions (the library's default 1 day).
      ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 31_536_000 })),
    },
    { additionalProperties: false },
  ),
  check: (settings) => checkRedisLocation(settings as RedisLocation),
  defaults: (settings) => ({ prefix: 'sess:', ttlSeconds: 86_400, ...settings }),
  key: 'none',
  // A marker by sid is the old sign-in's alone; one by sub would sign a later sign-in out too.
  identity: (target) => (target.bySub || !target.sid ? 'user' : 'sid'),
  keySpace: (settings) => ({ store: redisStoreIdentity(settings as RedisLocation), patterns: [eocMarkerKey(settings.prefix as string, '{iss}', '{sid}')] }),
  open: (settings, context) => new EocMarkerStore(context.redis(redisLocationOf(settings as RedisLocation)), settings.prefix as string, settings.ttlSeconds as number),
};
