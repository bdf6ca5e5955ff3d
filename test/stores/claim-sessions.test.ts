import t, { type Test } from 'tap';
import { receivedReport, type LogoutChannel, type LogoutReport, type LogoutTarget } from '../../src/core/model.js';
import type { ServiceStores } from '../../src/core/service-stores.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { Keyspace, sessionKey, sidIndexKey } from '../../src/stores/redis/keys.js';
import { redisForTest } from '../helpers/redis.js';

const ISSUER = 'https://claims.example';

const newReport = (id: string, channel: LogoutChannel, target: LogoutTarget, extra: Partial<LogoutReport> = {}): LogoutReport => ({
  ...receivedReport(id, channel, target, new Date().toISOString()),
  ...extra,
});

/** The same contract on every store: a claim brings a first attempt's sessions where the attempt may take them, and only there. */
async function claimContract(t: Test, stores: ServiceStores, tag: string): Promise<void> {
  const expiresAt = new Date(Date.now() + 60_000).toISOString();
  const add = (sid: string, sub: string, clientId = 'c') => stores.sessions.add({ clientId, issuer: ISSUER, sid, sub, homeAccountId: `${sub}.home`, expiresAt });
  /** Queues the reports, claims them all, and gives each one's sessions (their ids), or 'none' when the claim read none. */
  const claimed = async (reports: LogoutReport[]) => {
    for (const report of reports) await stores.journal.save(report, Date.now() - 1);
    const claims = await stores.journal.claimDue(Date.now(), 100, 60_000);
    for (const { report } of claims) await stores.journal.dequeue(report.id);
    return Object.fromEntries(claims.map(({ report, sessions }) => [report.id, sessions ? sessions.map((s) => s.id).sort() : 'none']));
  };

  t.test("a first attempt at a sid marked at admission, or at a sub, is claimed with its target's sessions and nothing else", async (t) => {
    const [a, b] = [await add(`${tag}-s1`, `${tag}-u1`, 'c1'), await add(`${tag}-s1`, `${tag}-u1`, 'c2')];
    const other = await add(`${tag}-s2`, `${tag}-u1`);
    const stranger = await add(`${tag}-s3`, `${tag}-u2`);
    const got = await claimed([
      newReport(`${tag}-back-sid`, 'backchannel', { kind: 'sid', issuer: ISSUER, sid: `${tag}-s1` }),
      newReport(`${tag}-front-sid`, 'frontchannel', { kind: 'sid', issuer: ISSUER, sid: `${tag}-s1` }),
      newReport(`${tag}-back-sub`, 'backchannel', { kind: 'sub', issuer: ISSUER, sub: `${tag}-u1` }),
      newReport(`${tag}-api-sub`, 'api', { kind: 'sub', issuer: ISSUER, sub: `${tag}-u1` }),
      newReport(`${tag}-nobody`, 'backchannel', { kind: 'sid', issuer: ISSUER, sid: `${tag}-nobody` }),
    ]);
    t.same(got, {
      [`${tag}-back-sid`]: [a.id, b.id].sort(),
      [`${tag}-front-sid`]: [a.id, b.id].sort(),
      [`${tag}-back-sub`]: [a.id, b.id, other.id].sort(),
      [`${tag}-api-sub`]: [a.id, b.id, other.id].sort(),
      [`${tag}-nobody`]: [],
    });
    t.notOk(Object.values(got).flat().includes(stranger.id), "another user's session is not among them");
    const claims = await stores.journal.claimDue(Date.now(), 1, 60_000);
    t.same(claims, [], 'claimed: off the queue for the lease');
  });

  t.test('a retry, a second pass, an API logout by sid and a logout by account are claimed without sessions', async (t) => {
    await add(`${tag}-s4`, `${tag}-u4`);
    const firstPassAt = new Date().toISOString();
    const got = await claimed([
      newReport(`${tag}-retry`, 'backchannel', { kind: 'sid', issuer: ISSUER, sid: `${tag}-s4` }, { attempts: 1, firstPassAt }),
      newReport(`${tag}-second`, 'frontchannel', { kind: 'sub', issuer: ISSUER, sub: `${tag}-u4` }, { state: 'completed', attempts: 1, firstPassAt, secondPass: { dueAt: firstPassAt, removals: [] } }),
      newReport(`${tag}-api-sid`, 'api', { kind: 'sid', issuer: ISSUER, sid: `${tag}-s4` }),
      newReport(`${tag}-account`, 'backchannel', { kind: 'account', homeAccountId: `${tag}-u4.home` }),
    ]);
    t.same(got, { [`${tag}-retry`]: 'none', [`${tag}-second`]: 'none', [`${tag}-api-sid`]: 'none', [`${tag}-account`]: 'none' });
  });

  t.test('a report claimed with its sessions reads back as it was saved, after its first pass too', async (t) => {
    const report = newReport(`${tag}-as-saved`, 'backchannel', { kind: 'sid', issuer: ISSUER, sid: `${tag}-s5` });
    await stores.journal.save(report, Date.now() - 1);
    t.strictSame(await stores.journal.get(report.id), report, 'by id');
    t.strictSame(await stores.journal.byTarget(report.target, 10), [report], 'by target');
    const [claim] = await stores.journal.claimDue(Date.now(), 100, 60_000);
    t.strictSame(claim?.report, report, 'as claimed');
    const done = { ...report, state: 'completed' as const, attempts: 1, firstPassAt: new Date().toISOString() };
    t.equal(await stores.completeLogout(done, []), true);
    t.strictSame(await stores.journal.get(report.id), done, 'completed');
  });
}

t.test('memory', async (t) => {
  const stores = createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 });
  t.teardown(() => stores.close());
  await claimContract(t, stores, 'm');
});

for (const buckets of [1, 16])
  t.test(buckets === 1 ? 'redis' : "redis, in a Cluster's buckets (on one node)", async (t) => {
    const ctx = await redisForTest(t);
    if (!ctx) return;
    const { redis, prefix } = ctx;
    const stores = createRedisStores(redis, { keyPrefix: prefix, buckets, reportRetentionMs: 60_000, ownsConnection: false });
    await claimContract(t, stores, `r${buckets}`);
    const ks = new Keyspace(prefix, buckets);
    const index = (sid: string) => sidIndexKey(ks.of(ks.bucketOf(ISSUER)), ISSUER, sid);
    const expiresAt = new Date(Date.now() + 60_000).toISOString();

    t.test("the claim drops an index entry whose session is gone, as a lookup does, and keeps the others'", async (t) => {
      const [kept, gone] = [await stores.sessions.add({ clientId: 'c1', issuer: ISSUER, sid: 'stale', sub: 'u', homeAccountId: 'h', expiresAt }), await stores.sessions.add({ clientId: 'c2', issuer: ISSUER, sid: 'stale', sub: 'u', homeAccountId: 'h', expiresAt })];
      await redis.del(sessionKey(ks, gone.id).key);
      await stores.journal.save(newReport('stale-1', 'backchannel', { kind: 'sid', issuer: ISSUER, sid: 'stale' }), Date.now() - 1);
      const [claim] = await stores.journal.claimDue(Date.now(), 10, 60_000);
      t.same(
        claim?.sessions?.map((s) => s.id),
        [kept.id],
      );
      t.same(await redis.smembers(index('stale')), [kept.id], 'the stale id left the index');
      await stores.journal.dequeue('stale-1');
    });

    if (buckets > 1)
      t.test("an index entry of another bucket's session (not readable in the claim's slot) leaves the lookup to the attempt, and the entry in place", async (t) => {
        const s = await stores.sessions.add({ clientId: 'c', issuer: ISSUER, sid: 'foreign', sub: 'u', homeAccountId: 'h', expiresAt });
        const foreign = `${ks.sessionIdTag((ks.bucketOf(ISSUER) + 1) % buckets)}${s.id.slice(2)}`;
        await redis.sadd(index('foreign'), foreign);
        await stores.journal.save(newReport('foreign-1', 'backchannel', { kind: 'sid', issuer: ISSUER, sid: 'foreign' }), Date.now() - 1);
        const [claim] = await stores.journal.claimDue(Date.now(), 10, 60_000);
        t.equal(claim?.report.id, 'foreign-1', 'claimed');
        t.equal(claim?.sessions, undefined, 'without sessions');
        t.same((await redis.smembers(index('foreign'))).sort(), [s.id, foreign].sort(), 'the index untouched');
        await stores.journal.dequeue('foreign-1');
      });
  });
