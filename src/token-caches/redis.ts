import { createHash } from 'node:crypto';
import type { Redis, Cluster } from 'ioredis';
import { ForeignPartitionError, updateByCompareAndSet, type PartitionUpdate, type TokenCacheStore } from '../core/token-cache.js';

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
  /** Connections kept for updates (WATCH belongs to a connection); 8 by default. */
  updateConnections?: number;
  /** Their name in `CLIENT LIST`. */
  updateConnectionName?: string;
}

/** One connection for updates, and the update it is taken by (the next waits for it). */
interface UpdateSlot {
  connection?: Redis;
  free: Promise<void>;
}

/**
 * Partitions where the apps' msal-node DistributedCachePlugin keeps them, in Redis.
 *
 * An update (read, remove accounts, write back) WATCHes the key on a connection kept for updates, GETs
 * it, and writes with MULTI/SET KEEPTTL/EXEC, which Redis refuses if anything wrote the key since the
 * WATCH. A compare-and-set in Lua does the same in as many round trips, but Lua takes both blobs as
 * Lua strings: on a shared partition of 13 MB that held Redis, and every client of it, for 110 ms of
 * CPU per write, against 20 ms. Those connections never reconnect nor resend: a write can only go out
 * on the connection whose WATCH guards it, and one that dropped fails the update, which is retried.
 * Updates read and write the partition as bytes. On a Cluster, updates use the Lua compare-and-set, on text.
 */
export class RedisTokenCacheStore implements TokenCacheStore {
  private readonly slots: UpdateSlot[];
  private readonly updateConnectionName: string;
  private closed = false;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly ownsConnection = true,
    options: RedisTokenCacheOptions = {},
  ) {
    redis.defineCommand('lrCompareAndSet', { numberOfKeys: 1, lua: COMPARE_AND_SET });
    this.slots = Array.from({ length: options.updateConnections ?? 8 }, () => ({ free: Promise.resolve() }));
    this.updateConnectionName = options.updateConnectionName ?? 'logout-receiver:token-cache-update';
  }

  async readForUpdate(key: string): Promise<PartitionUpdate> {
    if (this.redis.isCluster || this.closed) return updateByCompareAndSet(this, key);
    // Updates of one key are one after the other already (the sweeper's rounds); a key's slot is fixed.
    const slot = this.slots[slotOf(key, this.slots.length)]!;
    const previous = slot.free;
    let release!: () => void;
    slot.free = new Promise((resolve) => (release = resolve));
    await previous;
    let connection: Redis | undefined;
    let value: Buffer | null;
    try {
      connection = await this.updateConnection(slot);
      // As bytes: a shared partition of megabytes is then never decoded into a string (see msal-cache-partition).
      [, value] = await Promise.all([connection.watch(key), connection.getBuffer(key).catch(foreign)]);
    } catch (err) {
      if (connection?.status === 'ready') void connection.unwatch().catch(() => {});
      release();
      throw err;
    }
    const watching = connection;
    let done = false;
    return {
      value,
      write: async (next) => {
        done = true;
        const transaction = next === null ? watching.multi().del(key) : watching.multi().set(key, next, 'KEEPTTL');
        const results = await transaction.exec();
        if (results === null) return false; // written by someone else since the WATCH
        const failed = results.find(([err]) => err);
        if (failed) throw failed[0];
        return true;
      },
      release: () => {
        // Sent before the next update's WATCH on this connection, so that one starts clean.
        if (!done && watching.status === 'ready') void watching.unwatch().catch(() => {});
        release();
      },
    };
  }

  /** The slot's connection, opened again when it is gone. */
  private async updateConnection(slot: UpdateSlot): Promise<Redis> {
    if (slot.connection?.status === 'ready') return slot.connection;
    slot.connection?.disconnect();
    const connection = (this.redis as Redis).duplicate({
      lazyConnect: true,
      connectionName: this.updateConnectionName,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    connection.on('error', () => {}); // reaches the update through the command that meets it
    slot.connection = connection;
    await connection.connect();
    return connection;
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
    this.closed = true;
    for (const slot of this.slots) slot.connection?.disconnect();
    if (this.ownsConnection) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** A key's slot, from a hash of the key. */
function slotOf(key: string, slots: number): number {
  return createHash('sha1').update(key).digest().readUInt32BE(0) % slots;
}
