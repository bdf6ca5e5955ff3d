import t from 'tap';
import { Redis } from 'ioredis';
import type { ServiceStores } from '../../src/core/service-stores.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { logoutSemantics } from '../helpers/logout-semantics.js';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';

// DESIGN.md "Logout semantics" on the memory store and on Redis (one node, and in a Cluster's buckets on
// one node; test/redis/cluster.test.ts runs them on a real Cluster).

t.test('memory store', async (t) => {
  let shared: ServiceStores | undefined;
  // One store for the whole world (as one process has); "another worker" reads the same one.
  t.beforeEach(() => void (shared = undefined));
  logoutSemantics(t, async (now) => (shared ??= createMemoryStores({ reportRetentionMs: 86_400_000, pruneIntervalMs: 0, now })));
});

for (const buckets of [1, 16])
  t.test(buckets === 1 ? 'redis store' : "redis store, in a Cluster's buckets (on one node)", async (t) => {
    const ctx = await redisForTest(t);
    if (!ctx) return;
    let n = 0;
    let prefix = ctx.prefix;
    t.beforeEach(() => void (prefix = `${ctx.prefix}${++n}:`));
    logoutSemantics(t, async (now) => {
      // A connection of its own for each (a restarted process has new ones).
      const redis = new Redis(REDIS_URL);
      t.teardown(() => redis.quit());
      return createRedisStores(redis, { keyPrefix: prefix, buckets, reportRetentionMs: 86_400_000, now, ownsConnection: false });
    });
  });
