import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis, Cluster } from 'ioredis';
import { Type } from 'typebox';
import { ForeignPartitionError, type PartitionContext, type PartitionUpdate, type TokenCacheStore } from '../core/token-cache.js';
import { checkRedisLocation, redisErrorMessage, redisLocationOf, REDIS_LOCATION_SETTINGS, type RedisLocation } from '../redis/connect.js';
import { defineScript, replies } from '../redis/script.js';
import type { TokenCacheKind } from './kind.js';

/**
 * How a partition sits at its Redis key: how it is read, written inside a WATCH transaction, and
 * compared-and-set in Lua (on a Cluster, where the WATCH connections are not used).
 */
export interface RedisPartitionLayout {
  /** The Redis type it takes, for the report when the key holds another. */
  type: string;
  /** The partition's bytes, or null when the key does not exist. */
  read(client: Redis | Cluster, key: string): Promise<Buffer | null>;
  /** The partition as text, or null when the key does not exist. */
  readText(client: Redis | Cluster, key: string): Promise<string | null>;
  /** Queues the write of `next` (null deletes the key) on the transaction; the key's TTL is kept. */
  write(transaction: ChainableCommander, key: string, next: string | Buffer | null): ChainableCommander;
  /** Its compare-and-set on a connection: true when the partition still was `expected` and is now `next` (null deletes it). */
  compareAndSet(client: Redis | Cluster): CompareAndSet;
}

export type CompareAndSet = (key: string, expected: string | Buffer, next: string | Buffer | null) => Promise<boolean>;

/** A WRONGTYPE from Redis: the key holds something else than the layout's type; never retried, never written. */
export const foreignType =
  (type: string) =>
  (err: unknown): never => {
    if (err instanceof Error && err.message.startsWith('WRONGTYPE')) throw new ForeignPartitionError(`the key holds another Redis type than ${type}`);
    throw err;
  };

/** Writes `next` (or deletes the key when `deletes` is '1') only when the string there is still `expected`; the TTL is kept. */
const COMPARE_AND_SET_STRING = defineScript({
  name: 'lrCompareAndSetString',
  keys: ['partition'],
  args: ['expected', 'deletes', 'next'],
  lua: `
local current = redis.call('GET', partition)
if current ~= expected then return 0 end
if deletes == '1' then redis.call('DEL', partition) else redis.call('SET', partition, next, 'KEEPTTL') end
return 1
`,
  reply: (raw) => replies.number(raw) === 1,
});

/**
 * A string at the key. Compare-and-set keeps the TTL. (Naming what was read by length and SHA-1 instead
 * of sending it back is no cheaper for Redis: bench/README.md, "Tried, measured and not kept".)
 */
export const STRING_LAYOUT: RedisPartitionLayout = {
  type: 'a string',
  read: (client, key) => client.getBuffer(key).catch(foreignType('a string')),
  readText: (client, key) => client.get(key).catch(foreignType('a string')),
  write: (transaction, key, next) => (next === null ? transaction.del(key) : transaction.set(key, next, 'KEEPTTL')),
  compareAndSet: (client) => {
    const compareAndSet = COMPARE_AND_SET_STRING.on(client);
    return (key, expected, next) => compareAndSet.run({ keys: { partition: key }, args: { expected, deletes: next === null ? '1' : '0', next: next ?? '' } });
  },
};

export interface RedisTokenCacheOptions {
  /** Connections kept for updates (WATCH belongs to a connection); 8 by default. */
  updateConnections?: number;
  /** Their name in `CLIENT LIST`. */
  updateConnectionName?: string;
  /** How the partition sits at its key: a string by default. */
  layout?: RedisPartitionLayout;
}

/** One connection for updates, and the update it is taken by (the next waits for it). */
interface UpdateSlot {
  connection?: Redis;
  free: Promise<void>;
}

/**
 * Partitions where the apps' msal-node DistributedCachePlugin keeps them, in Redis.
 *
 * An update (read, remove accounts, write back) of a partition of one account is a GET and a
 * compare-and-set in Lua. One of a shared partition WATCHes the key on a connection kept for updates,
 * GETs it, and writes with MULTI/SET KEEPTTL/EXEC, which Redis refuses if anything wrote the key since
 * the WATCH: Lua would take both blobs as Lua strings and hold Redis, and every client of it, for the
 * copy (bench/README.md, finding 7). Those connections never reconnect nor
 * resend: a write can only go out on the connection whose WATCH guards it, and one that dropped fails the
 * update, which is retried. Updates read and write the partition as bytes. On a Cluster, every update
 * uses the Lua compare-and-set.
 */
export class RedisTokenCacheStore implements TokenCacheStore {
  private readonly slots: UpdateSlot[];
  private readonly updateConnectionName: string;
  private readonly layout: RedisPartitionLayout;
  private readonly compareAndSetInLua: CompareAndSet;
  private closed = false;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly ownsConnection = true,
    options: RedisTokenCacheOptions = {},
  ) {
    this.layout = options.layout ?? STRING_LAYOUT;
    this.compareAndSetInLua = this.layout.compareAndSet(redis);
    this.slots = Array.from({ length: options.updateConnections ?? 8 }, () => ({ free: Promise.resolve() }));
    this.updateConnectionName = options.updateConnectionName ?? 'logout-receiver:token-cache-update';
  }

  async readForUpdate(key: string, context?: PartitionContext): Promise<PartitionUpdate> {
    // One account's partition is small: a read and a compare-and-set in Lua, two commands instead of five.
    if (this.redis.isCluster || this.closed || context?.oneAccountPerPartition) return this.updateInLua(key);
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
      // As bytes: a shared partition of megabytes is then never decoded into a string (see cache-formats/msal-json).
      [, value] = await Promise.all([connection.watch(key), this.layout.read(connection, key)]);
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
        const transaction = this.layout.write(watching.multi(), key, next);
        const results = await transaction.exec().catch((err: unknown) => {
          throw new Error(redisErrorMessage(err)); // the report says why (READONLY behind EXECABORT)
        });
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

  /** A read and a compare-and-set in Lua, as bytes (an encrypted partition is no UTF-8 text). */
  private async updateInLua(key: string): Promise<PartitionUpdate> {
    const value = await this.layout.read(this.redis, key);
    return { value, write: async (next) => value !== null && this.compareAndSet(key, value, next), release: () => {} };
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
    return this.layout.readText(this.redis, key);
  }

  async set(key: string, value: string): Promise<void> {
    await this.redis.set(key, value);
  }

  async compareAndSet(key: string, expected: string | Buffer, next: string | Buffer | null): Promise<boolean> {
    return this.compareAndSetInLua(key, expected, next).catch(foreignType(this.layout.type));
  }

  /** A write, not a PING: a URL that now points at a read-only replica is not a usable cache store. */
  async ping(): Promise<void> {
    await this.redis.set('logout-receiver:readyz', '1', 'PX', 10_000);
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

/** `kind: redis` (also what a `tokenCache` with no kind means): a string per partition, as msal-node's DistributedCachePlugin keeps it. */
export const redisTokenCache: TokenCacheKind = {
  kind: 'redis',
  settings: Type.Object(REDIS_LOCATION_SETTINGS, { additionalProperties: false }),
  check: (settings) => checkRedisLocation(settings as RedisLocation),
  open: (settings, context) => new RedisTokenCacheStore(context.redis(redisLocationOf(settings as RedisLocation)), false),
};
