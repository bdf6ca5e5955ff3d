import type { Redis, Cluster } from 'ioredis';
import { outagesAsUnavailable } from '../../redis/connect.js';
import type { ServiceStores } from '../../core/service-stores.js';
import { Keyspace, readyKey } from './keys.js';
import { RedisLogoutJournal } from './journal.js';
import { redisLogoutSteps } from './logouts.js';
import { RedisLoggedOutMarkers } from './markers.js';
import { RedisReplayStore } from './replay.js';
import { RedisSessionStore } from './sessions.js';

export interface RedisStoreOptions {
  keyPrefix: string;
  /** Buckets of issuers, each a hash tag of its own (see {@link Keyspace}); 1, the default, keeps every key under the prefix. */
  buckets?: number;
  reportRetentionMs: number;
  now?: () => number;
  /** Whether close() ends the connection (false when it is shared). */
  ownsConnection?: boolean;
  /** What must reach this many replicas (WAIT) within `replicaWaitMs` before it counts as recorded; 0 waits for none. */
  replicas?: number;
  replicaWaitMs?: number;
}

/** The production store: sessions, replay records, logged-out markers and the logout journal in Redis. */
export function createRedisStores(redis: Redis | Cluster, options: RedisStoreOptions): ServiceStores {
  const ks = new Keyspace(options.keyPrefix, options.buckets ?? 1);
  const replication = { replicas: options.replicas ?? 0, waitMs: options.replicaWaitMs ?? 500 };
  const replay = new RedisReplayStore(redis, ks, replication);
  const sessions = new RedisSessionStore(redis, ks, options.now ?? Date.now);
  const stores: ServiceStores = {
    sessions: outagesAsUnavailable(sessions),
    replay: outagesAsUnavailable(replay),
    markers: outagesAsUnavailable(new RedisLoggedOutMarkers(redis, ks)),
    journal: outagesAsUnavailable(new RedisLogoutJournal(redis, ks, options.reportRetentionMs, replication)),
    ...redisLogoutSteps(redis, ks, options.reportRetentionMs, replication),
    markAndFindBySid: (issuer, sid, expiresAt) => sessions.markAndFindBySid(issuer, sid, expiresAt),
    async ping() {
      // A write under the prefix, not a PING: it must reach a writable master owning the service's keys (a
      // replica answers READONLY, a Cluster shard that is down fails), which is what readiness means here.
      await Promise.all(ks.all().map((bucket) => redis.set(readyKey(ks.of(bucket)), '1', 'PX', 10_000)));
    },
    async close() {
      replay.stop();
      if (options.ownsConnection ?? true) await redis.quit().catch(() => redis.disconnect());
    },
  };
  return outagesAsUnavailable(stores);
}
