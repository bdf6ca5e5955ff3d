import { createHash } from 'node:crypto';
import type { Redis, Cluster } from 'ioredis';
import { ForeignPartitionError, type TokenCacheStore } from './types.js';

const foreign = (err: unknown): never => {
  if (err instanceof Error && err.message.startsWith('WRONGTYPE')) throw new ForeignPartitionError('the key holds another Redis type than a string');
  throw err;
};

/**
 * Replaces (or deletes) the value only if it is still the one we read, keeping the key's TTL: an app's
 * write in between makes it answer 0 and the sweeper reads again. What we read is named by its length
 * and SHA-1 rather than sent back whole: a shared partition holding every account is megabytes, and
 * sending it twice per round (what we read, what to write) was most of the round's time.
 */
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if not current or string.len(current) ~= tonumber(ARGV[1]) or redis.sha1hex(current) ~= ARGV[2] then return 0 end
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL') end
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
    type Run = (key: string, length: number, sha1: string, del: string, next: string) => Promise<number>;
    const run = (this.redis as unknown as { lrCompareAndSet: Run }).lrCompareAndSet;
    // Redis counts bytes; the blob is UTF-8 on the wire.
    const length = Buffer.byteLength(expected, 'utf8');
    const sha1 = createHash('sha1').update(expected, 'utf8').digest('hex');
    return (await run.call(this.redis, key, length, sha1, next === null ? '1' : '0', next ?? '').catch(foreign)) === 1;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
