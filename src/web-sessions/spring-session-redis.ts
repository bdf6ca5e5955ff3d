import type { Redis, Cluster } from 'ioredis';
import { Type } from 'typebox';
import { checkRedisLocation, redisLocationOf, REDIS_LOCATION_SETTINGS, type RedisLocation } from '../redis/connect.js';
import type { WebSessionEnding, WebSessionKind, WebSessionStore, WebSessionTarget } from './kind.js';
import { failedOnRedis, redisPing, redisStoreIdentity } from './redis.js';

/** `FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME`: the index's name in its Redis key. */
const PRINCIPAL_INDEX = 'org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME';

/**
 * A String as Java serialization writes it (`ObjectOutputStream.writeObject`): Spring Data Redis's default
 * value serializer (JdkSerializationRedisSerializer) writes the index's members so, unless the app set a
 * `springSessionDefaultRedisSerializer`. Ids are ASCII, so modified UTF-8 is their bytes.
 */
export function javaSerializedString(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([Buffer.from([0xac, 0xed, 0x00, 0x05, 0x74]), length, bytes]);
}

/** The keys Spring Session Data Redis (`RedisIndexedSessionRepository`, `RedisSessionRepository`) keeps a session at. */
export const springSessionKeys = (namespace: string, id: string) => ({
  session: `${namespace}:sessions:${id}`,
  expires: `${namespace}:sessions:expires:${id}`,
  principalIndex: (principal: string) => `${namespace}:index:${PRINCIPAL_INDEX}:${principal}`,
});

/**
 * Spring Session's session hash and its `expires` key go (`DEL`); the id leaves the principal-name index
 * (`SREM`, in each encoding a serializer may have written it: Java-serialized by default, plain, or JSON).
 */
export class SpringSessionRedisStore implements WebSessionStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly namespace: string,
  ) {}

  async end(target: WebSessionTarget): Promise<WebSessionEnding> {
    const id = target.sessionKey;
    if (!id) return { outcome: 'skipped', detail: 'no {sessionKey} for this session' };
    const keys = springSessionKeys(this.namespace, id);
    try {
      // One key per command: on a Cluster the two keys need not share a slot.
      const [session, expires] = await Promise.all([this.redis.del(keys.session), this.redis.del(keys.expires)]);
      if (target.principal) await this.redis.srem(keys.principalIndex(target.principal), javaSerializedString(id), id, JSON.stringify(id));
      return { outcome: session + expires > 0 ? 'removed' : 'not_present' };
    } catch (err) {
      return failedOnRedis(err);
    }
  }

  ping = (): Promise<void> => redisPing(this.redis);
  async close(): Promise<void> {}
}

/** `kind: spring-session-redis`: Spring Session Data Redis; the session id is the registered `webSessionKey`. */
export const springSessionRedisWebSession: WebSessionKind = {
  kind: 'spring-session-redis',
  settings: Type.Object(
    // Spring's `spring.session.redis.namespace`; Spring adds the ':' itself.
    { ...REDIS_LOCATION_SETTINGS, namespace: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' })) },
    { additionalProperties: false },
  ),
  check: (settings) => checkRedisLocation(settings as RedisLocation),
  defaults: (settings) => ({ namespace: 'spring:session', ...settings }),
  key: 'none',
  needsSessionKey: true,
  identity: () => 'sessionKey',
  keySpace: (settings) => {
    const keys = springSessionKeys(settings.namespace as string, '{sessionKey}');
    return { store: redisStoreIdentity(settings as RedisLocation), patterns: [keys.session, keys.expires, keys.principalIndex('{principal}')] };
  },
  open: (settings, context) => new SpringSessionRedisStore(context.redis(redisLocationOf(settings as RedisLocation)), settings.namespace as string),
};
