import t from 'tap';
import type { LogoutReport } from '../../src/core/model.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { Keyspace } from '../../src/stores/redis/keys.js';
import { redisForTest } from '../helpers/redis.js';

// The Cluster layout (issuers hashed into buckets, each its own hash tag), exercised on one node: the
// keys are what a Cluster would get, and every store operation must find them.
const ctx = await redisForTest(t);
if (ctx) {
  const { redis, prefix } = ctx;
  const buckets = 16;
  const ks = new Keyspace(prefix, buckets);
  const stores = createRedisStores(redis, { keyPrefix: prefix, buckets, reportRetentionMs: 60_000, ownsConnection: false });
  // Two issuers in different buckets.
  const [A, B] = (() => {
    const a = 'https://bucket-a.example';
    for (let n = 0; ; n++) if (ks.bucketOf(`https://bucket-b${n}.example`) !== ks.bucketOf(a)) return [a, `https://bucket-b${n}.example`];
  })();
  const tagOf = (issuer: string) => ks.of(ks.bucketOf(issuer));
  const keysIn = async (tag: string) => (await redis.keys(`${tag}*`)).map((k) => k.slice(tag.length).split(':')[0]).sort();
  const expiresAt = new Date(Date.now() + 60_000).toISOString();
  const report = (id: string, target: LogoutReport['target']): LogoutReport => ({ id, state: 'pending', channel: 'backchannel', target, receivedAt: new Date().toISOString(), attempts: 0, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] });

  t.test('buckets: each issuer has a hash tag of its own; a session id names its bucket and every lookup finds it', async (t) => {
    t.not(tagOf(A), tagOf(B));
    t.match(tagOf(A), /^\{.+\d+\}$/, 'a hash tag per bucket');
    const a = await stores.sessions.add({ clientId: 'c', issuer: A, sid: 'ka', sub: 'u', homeAccountId: 'Both.T', expiresAt });
    const b = await stores.sessions.add({ clientId: 'c', issuer: B, sid: 'kb', sub: 'u', homeAccountId: 'both.t', expiresAt });
    t.equal(Number.parseInt(a.id.slice(0, 2), 16), ks.bucketOf(A), "the session id's first two hex digits are its issuer's bucket");
    t.ok(await redis.exists(`${tagOf(A)}session:${a.id}`), "the session is under its issuer's tag");
    t.same((await stores.sessions.get(b.id))?.issuer, B);
    t.same(
      (await stores.sessions.bySid(A, 'ka')).map((s) => s.id),
      [a.id],
    );
    t.same(
      (await stores.sessions.bySub(B, 'u')).map((s) => s.id),
      [b.id],
    );
    t.same((await stores.sessions.byHomeAccountId('BOTH.T')).map((s) => s.id).sort(), [a.id, b.id].sort(), 'by account, across buckets');
    t.same((await stores.sessions.removeFound(await stores.sessions.byHomeAccountId('both.t'))).sort(), [a.id, b.id].sort());
    t.same(await stores.sessions.byHomeAccountId('both.t'), []);
    t.same(await stores.sessions.bySid(A, 'ka'), []);
    t.same(await stores.sessions.bySub(B, 'u'), []);
  });

  t.test("buckets: a back-channel logout's admission writes every key in its issuer's bucket, and the worker claims from every bucket", async (t) => {
    const now = Date.now();
    for (const [issuer, id] of [
      [A, 'bk-a'],
      [B, 'bk-b'],
    ] as const) {
      t.equal(await stores.admitLogout({ replay: { key: JSON.stringify([issuer, id]), expiresAt: now + 60_000 }, report: report(id, { kind: 'sid', issuer, sid: `sid-${id}` }), dueAt: now, marker: { issuer, sid: `sid-${id}`, expiresAt: now + 60_000 } }), true);
    }
    t.same(await keysIn(tagOf(A)), ['jti', 'loggedout', 'logout', 'logouts', 'logouts', 'logouts'], `${A}: replay record, marker, report, due queue, pending-since, target index`);
    t.ok(await stores.markers.isMarked(B, 'sid-bk-b'));
    t.equal(await stores.journal.backlog(), 2, 'the backlog counts every bucket');
    t.ok((await stores.journal.oldestPending())! <= Date.now());
    t.equal((await stores.journal.get('bk-b'))?.id, 'bk-b', 'a report is found by its id alone');
    t.same(
      (await stores.journal.byTarget({ kind: 'sid', issuer: A, sid: 'sid-bk-a' }, 10)).map((r) => r.id),
      ['bk-a'],
    );
    const claimed = await stores.journal.claimDue(now, 10, 30_000);
    t.same(claimed.map(({ report }) => report.id).sort(), ['bk-a', 'bk-b'], 'claimed from both buckets');
    await stores.replay.forget(JSON.stringify([B, 'bk-b']), 'bk-b', now + 60_000);
    t.equal(await stores.admitLogout({ replay: { key: JSON.stringify([B, 'bk-b']), expiresAt: now + 60_000 }, report: report('bk-b2', { kind: 'sid', issuer: B, sid: 'sid-bk-b' }), dueAt: now + 60_000 }), true, 'forgotten in its bucket, the token is let in again');
    for (const id of ['bk-a', 'bk-b', 'bk-b2']) await stores.journal.dequeue(id);
    t.equal(await stores.journal.backlog(), 0);
  });

  t.test('buckets: a logout completes in one step in its bucket; one by account, with sessions at another issuer, in steps', async (t) => {
    const s = await stores.sessions.add({ clientId: 'c', issuer: A, sid: 'done-a', sub: 'u2', homeAccountId: 'acc.two', expiresAt });
    const bySid = report('done-1', { kind: 'sid', issuer: A, sid: 'done-a' });
    await stores.journal.save(bySid, Date.now());
    const found = await stores.sessions.bySid(A, 'done-a');
    t.equal(await stores.completeLogout({ ...bySid, state: 'completed', sessionIds: [s.id], sessionsEnded: 1 }, found), true);
    t.same(await stores.sessions.byHomeAccountId('acc.two'), [], 'the account index, in its own bucket, left too');
    t.equal((await stores.journal.get('done-1'))?.state, 'completed');
    const other = await stores.sessions.add({ clientId: 'c', issuer: B, sid: 'done-b', sub: 'u3', homeAccountId: 'acc.three', expiresAt });
    const byAccount = report('done-2', { kind: 'account', homeAccountId: 'acc.three' });
    t.not(ks.bucketOfTarget(byAccount.target), ks.bucketOf(B), 'the report is in the account’s bucket, the session in its issuer’s');
    t.equal(await stores.completeLogout({ ...byAccount, state: 'completed' }, [other]), false, 'not one script: nothing written');
    t.ok(await stores.sessions.get(other.id), 'the session is still there');
    await stores.sessions.remove(other.id);
  });

  t.test('buckets: readiness writes under every bucket', async (t) => {
    await stores.ping();
    for (const bucket of ks.all()) t.ok(await redis.exists(`${ks.of(bucket)}readyz`), `bucket ${bucket}`);
  });
}
