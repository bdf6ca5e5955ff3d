import type { Redis, Cluster } from 'ioredis';
import { ForeignPartitionError, type TokenCacheStore } from './types.js';

const foreign = (err: unknown): never => {
  if (err instanceof Error && err.message.startsWith('WRONGTYPE')) throw new ForeignPartitionError('the key holds another Redis type than a string');
  throw err;
};

/**
 * Replaces (or deletes) the value only if it is still the one we read, keeping the key's TTL: an app's
 * write in between makes it answer 0 and the sweeper reads again. (Naming what we read by length and
 * SHA-1 instead of sending it back was measured: no faster, since a 13 MB value costs Redis about as
 * much to hash as to take as an argument; most of the cost is moving megabytes into Lua at all.)
 */
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL') end
return 1
`;

export interface RedisTokenCacheOptions {
  /**
   * Values longer than this (in characters; 64 Ki by default) are compared-and-set with WATCH and
   * MULTI on a connection of their own instead of the Lua script (not on a Cluster connection).
   */
  watchAbove?: number;
}

/** Partitions where the apps' msal-node DistributedCachePlugin keeps them, in Redis. */
export class RedisTokenCacheStore implements TokenCacheStore {
  private readonly watchAbove: number;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly ownsConnection = true,
    options: RedisTokenCacheOptions = {},
  ) {
    redis.defineCommand('lrCompareAndSet', { numberOfKeys: 1, lua: COMPARE_AND_SET });
    this.watchAbove = options.watchAbove ?? 64 * 1024;
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(key).catch(foreign);
  }

  async set(key: string, value: string): Promise<void> {
    await this.redis.set(key, value);
  }

  async compareAndSet(key: string, expected: string, next: string | null): Promise<boolean> {
    if (expected.length > this.watchAbove && !this.redis.isCluster) return this.watchedSet(this.redis as Redis, key, expected, next);
    const run = (this.redis as unknown as { lrCompareAndSet(key: string, expected: string, del: string, next: string): Promise<number> }).lrCompareAndSet;
    return (await run.call(this.redis, key, expected, next === null ? '1' : '0', next ?? '').catch(foreign)) === 1;
  }

  /**
   * Compare-and-set of a large value: Lua takes its arguments and what it GETs as Lua strings, and a
   * shared partition of megabytes then held Redis (and every other client of it) for 18 ms at 2.7 MB
   * and 110 ms at 13 MB of CPU per compare-and-set; WATCH, GET and MULTI/SET/EXEC cost 1.4 and 20 ms.
   * WATCH belongs to a connection, so each call opens its own, one that never reconnects nor resends:
   * a write can only go out on the connection whose WATCH guards it, and a dropped one fails the call.
   */
  private async watchedSet(redis: Redis, key: string, expected: string, next: string | null): Promise<boolean> {
    const conn = redis.duplicate({ lazyConnect: true, enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    conn.on('error', () => {}); // a failure reaches the caller through the command that meets it
    try {
      await conn.connect();
      await conn.watch(key);
      if ((await conn.get(key).catch(foreign)) !== expected) return false;
      const transaction = next === null ? conn.multi().del(key) : conn.multi().set(key, next, 'KEEPTTL');
      const results = await transaction.exec();
      if (results === null) return false; // written by someone else since the WATCH
      const failed = results.find(([err]) => err);
      if (failed) throw failed[0];
      return true;
    } finally {
      conn.disconnect();
    }
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
