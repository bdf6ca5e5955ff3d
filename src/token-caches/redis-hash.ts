import type { Redis, Cluster } from 'ioredis';
import { Type } from 'typebox';
import { ForeignPartitionError } from '../core/token-cache.js';
import { checkRedisLocation, redisLocationOf, REDIS_LOCATION_SETTINGS, type RedisLocation } from '../redis/connect.js';
import { defineScript, replies } from '../redis/script.js';
import type { TokenCacheKind } from './kind.js';
import { removeWhereSoleInHashField } from './redis-sole-account.js';
import { foreignType, RedisTokenCacheStore, type RedisPartitionLayout } from './redis.js';

/** Writes `next` to the field (or deletes the key when `deletes` is '1') only when the field is still `expected`. */
const COMPARE_AND_SET_FIELD = defineScript({
  name: 'lrCompareAndSetHashField',
  keys: ['partition'],
  args: ['expected', 'deletes', 'next', 'field'],
  lua: `
local current = redis.call('HGET', partition, field)
if current ~= expected then return 0 end
if deletes == '1' then redis.call('DEL', partition) else redis.call('HSET', partition, field, next) end
return 1
`,
  reply: (raw) => replies.number(raw) === 1,
});

/**
 * A field of a HASH at the key, as ASP.NET Core's `IDistributedCache` on Redis
 * (Microsoft.Extensions.Caching.StackExchangeRedis, which Microsoft.Identity.Web uses) keeps an entry: fields
 * `absexp` and `sldexp` (.NET ticks, or -1) beside `data`, the blob, and the entry's expiry as the key's
 * TTL. Only `HSET key data` is ever written, which keeps the TTL and the expiry fields; a `SET` would make
 * the app fail with WRONGTYPE.
 */
export function hashFieldLayout(field: string): RedisPartitionLayout {
  const wrongType = foreignType('a hash');
  /** A key that exists without the field is not such an entry (asked only when the field is not there). */
  const read = async <T extends Buffer | string>(client: Redis | Cluster, key: string, get: Promise<T | null>): Promise<T | null> => {
    const value = await get.catch(wrongType);
    if (value === null && (await client.exists(key)) === 1) throw new ForeignPartitionError(`the hash has no ${field} field`);
    return value;
  };
  return {
    type: 'a hash',
    read: (client, key) => read(client, key, client.hgetBuffer(key, field)),
    readText: (client, key) => read(client, key, client.hget(key, field)),
    write: (transaction, key, next) => (next === null ? transaction.del(key) : transaction.hset(key, field, next)),
    compareAndSet: (client) => {
      const compareAndSet = COMPARE_AND_SET_FIELD.on(client);
      return (key, expected, next) => compareAndSet.run({ keys: { partition: key }, args: { expected, deletes: next === null ? '1' : '0', next: next ?? '', field } });
    },
    removeWhereSole: removeWhereSoleInHashField(field),
  };
}

/** `kind: redis-hash`: ASP.NET Core apps (Microsoft.Identity.Web's distributed token cache) on Redis. */
export const redisHashTokenCache: TokenCacheKind = {
  kind: 'redis-hash',
  settings: Type.Object({ ...REDIS_LOCATION_SETTINGS, field: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) }, { additionalProperties: false }),
  check: (settings) => checkRedisLocation(settings as RedisLocation),
  defaults: (settings) => ({ field: 'data', ...settings }),
  open: (settings, context) => new RedisTokenCacheStore(context.redis(redisLocationOf(settings as RedisLocation)), false, { layout: hashFieldLayout(settings.field as string) }),
};
