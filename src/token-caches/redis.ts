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

/** Partitions where the apps' msal-node DistributedCachePlugin keeps them, in Redis. */
export class RedisTokenCacheStore implements TokenCacheStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly ownsConnection = true,
  ) {
    redis.defineCommand('lrCompareAndSet', { numberOfKeys: 1, lua: COMPARE_AND_SET });
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(key).catch(foreign);
  }

  async set(key: string, value: string): Promise<void> {
    await this.redis.set(key, value);
  }

  async compareAndSet(key: string, expected: string, next: string | null): Promise<boolean> {
    const run = (this.redis as unknown as { lrCompareAndSet(key: string, expected: string, del: string, next: string): Promise<number> }).lrCompareAndSet;
    return (await run.call(this.redis, key, expected, next === null ? '1' : '0', next ?? '').catch(foreign)) === 1;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
