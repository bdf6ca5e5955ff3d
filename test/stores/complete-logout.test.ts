import t, { type Test } from 'tap';
import type { LogoutReport } from '../../src/core/model.js';
import type { ServiceStores } from '../../src/core/service-stores.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { redisForTest } from '../helpers/redis.js';

/** The same contract on both stores: a logout's end is one step, or nothing. */
async function completeLogoutContract(t: Test, stores: ServiceStores): Promise<void> {
  const expiresAt = new Date(Date.now() + 60_000).toISOString();
  const add = (sub: string, sid: string, homeAccountId: string) => stores.sessions.add({ clientId: 'c', issuer: 'https://cl', sid, sub, homeAccountId, expiresAt });
  const queued = (id: string, sub: string): LogoutReport => ({ id, state: 'pending', channel: 'api', target: { kind: 'sub', issuer: 'https://cl', sub }, receivedAt: new Date().toISOString(), attempts: 1, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] });
  const completed = (report: LogoutReport, sessionIds: string[]): LogoutReport => ({ ...report, state: 'completed', completedAt: new Date().toISOString(), sessionIds, sessionsEnded: sessionIds.length });

  t.test('completeLogout removes the sessions found from every index and saves the report completed, off the queue, in one step', async (t) => {
    const [a, b] = [await add('cl-1', 'cl-1a', 'CL.1'), await add('cl-1', 'cl-1b', 'CL.2')];
    const report = queued('cl-r1', 'cl-1');
    await stores.journal.save(report, Date.now() - 1);
    const found = await stores.sessions.bySub('https://cl', 'cl-1');
    const done = completed(report, [a.id, b.id]);
    t.equal(await stores.completeLogout(done, found), true);
    t.same(await stores.journal.get('cl-r1'), done, 'the report as given');
    t.same(await stores.journal.claimDue(Date.now(), 10, 1_000), [], 'off the queue');
    t.same(await stores.sessions.bySub('https://cl', 'cl-1'), []);
    for (const [sid, account] of [
      ['cl-1a', 'CL.1'],
      ['cl-1b', 'CL.2'],
    ] as const) {
      t.same(await stores.sessions.bySid('https://cl', sid), [], `${sid} left the sid index`);
      t.same(await stores.sessions.byHomeAccountId(account), [], `${account} left the account index`);
    }
  });

  t.test('completeLogout with dueAt ends the sessions and keeps the report queued: pending counts in the backlog, completed (its second pass to come) does not', async (t) => {
    const s = await add('cl-3', 'cl-3a', 'CL.3');
    const retry = queued('cl-r3', 'cl-3');
    await stores.journal.save(retry, Date.now() - 1);
    const before = await stores.journal.backlog();
    const dueAt = Date.now() + 60_000;
    t.equal(await stores.completeLogout({ ...retry, sessionIds: [s.id], sessionsEnded: 1 }, await stores.sessions.bySub('https://cl', 'cl-3'), dueAt), true);
    t.same(await stores.sessions.bySub('https://cl', 'cl-3'), [], 'the sessions ended, while a retry is queued');
    t.equal(await stores.journal.backlog(), before, 'still pending: still backlog');
    t.same(await stores.journal.claimDue(Date.now(), 10, 1_000), [], 'not due before dueAt');
    t.same(
      (await stores.journal.claimDue(dueAt, 10, 1_000)).map(({ report }) => report.id),
      ['cl-r3'],
      'due at dueAt',
    );

    const second = queued('cl-r4', 'cl-4');
    await stores.journal.save(second, Date.now() - 1);
    const withSecond = await stores.journal.backlog();
    t.equal(await stores.completeLogout(completed(second, []), [], dueAt + 1), true);
    t.equal(await stores.journal.backlog(), withSecond - 1, 'completed: no longer backlog');
    t.same(
      (await stores.journal.claimDue(dueAt + 1, 10, 1_000)).map(({ report }) => report.id),
      ['cl-r4'],
      'yet queued for its second pass',
    );
  });

  t.test('completeLogout writes nothing when one of the sessions found is already gone', async (t) => {
    const [c, d] = [await add('cl-2', 'cl-2c', 'CL.3'), await add('cl-2', 'cl-2d', 'CL.4')];
    const report = queued('cl-r2', 'cl-2');
    await stores.journal.save(report, Date.now() - 1);
    const found = await stores.sessions.bySub('https://cl', 'cl-2');
    await stores.sessions.remove(d.id);
    t.equal(await stores.completeLogout(completed(report, [c.id, d.id]), found), false);
    t.same(
      (await stores.sessions.bySub('https://cl', 'cl-2')).map((s) => s.id),
      [c.id],
      'the other session is still there',
    );
    t.same(await stores.journal.get('cl-r2'), report, 'the report as it was');
    t.same(
      (await stores.journal.claimDue(Date.now(), 10, 1_000)).map(({ report }) => report.id),
      ['cl-r2'],
      'still queued',
    );
    await stores.journal.dequeue('cl-r2');
  });

  t.test('completeLogout with no session found saves the report, off the queue', async (t) => {
    const report = queued('cl-r3', 'nobody');
    await stores.journal.save(report, Date.now() - 1);
    const done = completed(report, []);
    t.equal(await stores.completeLogout(done, []), true);
    t.same(await stores.journal.get('cl-r3'), done);
    t.equal(await stores.journal.oldestPending(), null, 'nothing pending');
  });
}

t.test('memory', async (t) => {
  const stores = createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 });
  t.teardown(() => stores.close());
  await completeLogoutContract(t, stores);
});

t.test('redis', async (t) => {
  const ctx = await redisForTest(t);
  if (!ctx) return;
  await completeLogoutContract(t, createRedisStores(ctx.redis, { keyPrefix: ctx.prefix, reportRetentionMs: 60_000, ownsConnection: false }));
});

t.test("redis, in a Cluster's buckets (on one node)", async (t) => {
  const ctx = await redisForTest(t);
  if (!ctx) return;
  await completeLogoutContract(t, createRedisStores(ctx.redis, { keyPrefix: ctx.prefix, buckets: 16, reportRetentionMs: 60_000, ownsConnection: false }));
});
