import { redisLocationOf, type RedisLocation } from '../redis/connect.js';
import type { WebSessionKind } from './kind.js';
import { RedisKeyWebSessionStore, redisKeyKind } from './redis.js';

/**
 * `kind: redis-hash`: ASP.NET Core cookie authentication whose `ITicketStore` keeps tickets in an
 * `IDistributedCache` on Redis: a HASH (`absexp`, `sldexp`, `data`) at `InstanceName` + the ticket's key.
 * The whole entry goes (`DEL`): a hash left without `data` is a miss for the cache, and so for the app.
 */
export const redisHashWebSession: WebSessionKind = {
  ...redisKeyKind('redis-hash'),
  open: (settings, context) => new RedisKeyWebSessionStore(context.redis(redisLocationOf(settings as RedisLocation)), settings.key as string),
};
