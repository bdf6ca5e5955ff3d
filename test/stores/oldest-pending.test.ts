import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { LogoutReport } from '../../src/core/model.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import { redisForTest } from '../helpers/redis.js';

// The backlog's age: when the oldest logout still queued was received, whatever its retries made its due time.
const context = await redisForTest(t);
if (context) {
  const { redis, prefix } = context;
  const report = (at: number): LogoutReport => ({
    id: randomUUID(),
    state: 'pending',
    channel: 'backchannel',
    target: { kind: 'sid', issuer: 'https://idp', sid: randomUUID() },
    receivedAt: new Date(at).toISOString(),
    attempts: 0,
    sessionsEnded: 0,
    sessionIds: [],
    accounts: [],
    removals: [],
  });
  for (const [name, stores] of [
    ['redis', createRedisStores(redis, { keyPrefix: prefix, reportRetentionMs: 60_000, ownsConnection: false })],
    ['memory', createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 })],
  ] as const)
    t.test(`${name}: oldestPending is the receipt time of the oldest queued logout, admitted or journaled, and null once none is queued`, async (t) => {
      const now = Date.now();
      t.equal(await stores.journal.oldestPending(), null, 'none queued');
      const admitted = report(now - 5_000);
      t.ok(await stores.admitLogout({ replay: { key: randomUUID(), expiresAt: now + 60_000 }, report: admitted, dueAt: now }));
      const later = report(now - 1_000);
      await stores.journal.save(later, now);
      t.equal(await stores.journal.oldestPending(), now - 5_000, 'the admitted one');
      await stores.journal.save({ ...admitted, attempts: 1 }, now + 60_000); // retried later: its age stays its receipt's
      t.equal(await stores.journal.oldestPending(), now - 5_000, 'a retry does not make it younger');
      await stores.journal.save({ ...admitted, state: 'completed', attempts: 2 });
      t.equal(await stores.journal.oldestPending(), now - 1_000, 'carried out: the next one');
      await stores.journal.dequeue(later.id);
      t.equal(await stores.journal.oldestPending(), null, 'dequeued: none');
    });
}
