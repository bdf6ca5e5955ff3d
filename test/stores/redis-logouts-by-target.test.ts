import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { LogoutReport } from '../../src/core/model.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import { redisForTest } from '../helpers/redis.js';

// A logout is found by its target without a SCAN: admitted or journaled, its report is indexed by target.
const context = await redisForTest(t);
if (context) {
  const { redis, prefix } = context;
  const report = (sid: string, at: number): LogoutReport => ({
    id: randomUUID(),
    state: 'pending',
    channel: 'backchannel',
    target: { kind: 'sid', issuer: 'https://idp', sid },
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
    t.test(`${name}: the reports of a target, admitted or journaled, newest first; another target's are not among them`, async (t) => {
      const sid = `sid-${randomUUID()}`;
      const admitted = report(sid, Date.now() - 2000);
      t.ok(await stores.admitLogout({ replay: { key: randomUUID(), expiresAt: Date.now() + 60_000 }, report: admitted, dueAt: Date.now(), marker: { issuer: 'https://idp', sid, expiresAt: Date.now() + 60_000 } }));
      const journaled = report(sid, Date.now() - 1000);
      await stores.journal.save(journaled, Date.now());
      await stores.journal.save({ ...journaled, state: 'completed' }); // a later save of the same logout: not listed twice
      await stores.journal.save(report(`other-${sid}`, Date.now()), Date.now());
      const found = await stores.journal.byTarget({ kind: 'sid', issuer: 'https://idp', sid }, 10);
      t.same(
        found.map((r) => [r.id, r.state]),
        [
          [journaled.id, 'completed'],
          [admitted.id, 'pending'],
        ],
      );
      t.same(await stores.journal.byTarget({ kind: 'sid', issuer: 'https://idp', sid: 'none' }, 10), []);
    });
}
