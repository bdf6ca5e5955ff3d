import { Type } from 'typebox';
import { checkRedisLocation, redisLocationOf, REDIS_LOCATION_SETTINGS, type RedisLocation } from '../../redis/connect.js';
import type { StoreKind } from '../kind.js';
import { CLUSTER_BUCKETS } from './keys.js';
import { createRedisStores } from './store.js';

/** `kind: redis`: the production store, shared by every instance. */
export const redisStore: StoreKind = {
  kind: 'redis',
  settings: Type.Object(
    {
      ...REDIS_LOCATION_SETTINGS,
      keyPrefix: Type.Optional(Type.String({ maxLength: 64 })),
      replicas: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 })),
      replicaWaitMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 10_000 })),
    },
    { additionalProperties: false },
  ),
  check: (settings) => checkRedisLocation(settings as RedisLocation),
  defaults: (settings) => ({ keyPrefix: 'lr:', replicas: 0, replicaWaitMs: 500, ...settings }),
  open(settings, context) {
    const keyPrefix = settings.keyPrefix as string;
    const location = redisLocationOf(settings as RedisLocation);
    // On a Cluster, issuers' keys spread over CLUSTER_BUCKETS hash tags, unless the prefix names its own tag
    // (every key in one slot, as before).
    const buckets = location.cluster && !/\{.+\}/.test(keyPrefix) ? CLUSTER_BUCKETS : 1;
    const options = { keyPrefix, buckets, reportRetentionMs: context.reportRetentionMs, ownsConnection: false, replicas: settings.replicas as number, replicaWaitMs: settings.replicaWaitMs as number };
    const redis = context.redis(location, 'store');
    return {
      stores: createRedisStores(redis, options),
      attemptStores: createRedisStores(context.redis(location, 'store attempts'), options),
      // The rate limiter's keys: each its own slot on a Cluster.
      shared: { redis, keyPrefix },
    };
  },
};
