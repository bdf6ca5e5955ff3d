import t from 'tap';
import { receivedReport } from '../../src/core/model.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { importSessions } from '../../src/stores/redis/sessions.js';
import { RedisTokenCacheStore } from '../../src/token-caches/redis.js';
import { ForeignPartitionError } from '../../src/core/token-cache.js';
import { resolveConfig } from '../../src/config/load.js';
import { createBackends } from '../../src/backends.js';
import { markerKey, replayKey, subIndexKey } from '../../src/stores/redis/keys.js';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';
import { ISSUER, ORDERS, testConfigFile } from '../helpers/service.js';

const ctx = await redisForTest(t);
if (ctx) {
  const { redis, prefix } = ctx;
  const stores = createRedisStores(redis, { keyPrefix: prefix, reportRetentionMs: 60_000, ownsConnection: false });
  const inAMinute = () => new Date(Date.now() + 60_000).toISOString();

  t.test('sessions are found by (issuer, sid), (issuer, sub) and homeAccountId, expire with their session, and leave every index on removal', async (t) => {
    const s = await stores.sessions.add({ clientId: 'c', issuer: 'https://i', sid: 'x', sub: 'u', homeAccountId: 'A.B', expiresAt: inAMinute() });
    t.same(
      (await stores.sessions.bySid('https://i', 'x')).map((v) => v.id),
      [s.id],
    );
    t.same(
      (await stores.sessions.bySub('https://i', 'u')).map((v) => v.id),
      [s.id],
    );
    t.same(
      (await stores.sessions.byHomeAccountId('a.b')).map((v) => v.id),
      [s.id],
    );
    t.same(await stores.sessions.bySid('https://other', 'x'), []);
    const ttl = await redis.pttl(`${prefix}session:${s.id}`);
    t.ok(ttl > 55_000 && ttl <= 60_000, `the session key expires with the session (${ttl} ms)`);
    t.equal(await stores.sessions.remove(s.id), true);
    t.equal(await stores.sessions.remove(s.id), false);
    t.same(await stores.sessions.byHomeAccountId('A.B'), []);
  });

  t.test('sessions just found are removed in one transaction from the lookup’s copies: every index left, only those still there reported', async (t) => {
    const add = (sid: string, homeAccountId: string) => stores.sessions.add({ clientId: 'c', issuer: 'https://rf', sid, sub: 'rf-user', homeAccountId, expiresAt: inAMinute() });
    const [a, b, c] = [await add('rf-1', 'RF.1'), await add('rf-2', 'RF.2'), await add('rf-3', 'RF.3')];
    const found = await stores.sessions.bySub('https://rf', 'rf-user');
    t.equal(found.length, 3);
    t.equal(await stores.sessions.remove(b.id), true, 'one of them goes meanwhile');
    t.same((await stores.sessions.removeFound(found)).sort(), [a.id, c.id].sort(), 'the ids of those that were still there');
    t.same(await stores.sessions.bySub('https://rf', 'rf-user'), []);
    for (const [sid, account] of [
      ['rf-1', 'RF.1'],
      ['rf-3', 'RF.3'],
    ]) {
      t.same(await stores.sessions.bySid('https://rf', sid!), []);
      t.same(await stores.sessions.byHomeAccountId(account!), []);
    }
    t.same(
      await redis
        .keys(`${prefix}idx:*`)
        .then((keys) => Promise.all(keys.map((k) => redis.smembers(k))))
        .then((sets) => sets.flat().filter((id) => [a.id, b.id, c.id].includes(id))),
      [],
      'no index entry of theirs is left',
    );
    t.same(await stores.sessions.removeFound([]), []);
  });

  t.test('imported sessions are found and removed like added ones, in the same layout', async (t) => {
    const sessions = Array.from({ length: 3 }, (_, n) => ({
      id: `imported-${n}`,
      clientId: 'c',
      issuer: 'https://imp',
      sid: `sid-${n}`,
      sub: 'shared-sub',
      homeAccountId: `Oid-${n}.T`,
      createdAt: new Date().toISOString(),
      expiresAt: inAMinute(),
    }));
    await importSessions(redis, prefix, sessions);
    t.same(
      (await stores.sessions.bySid('https://imp', 'sid-1')).map((v) => v.id),
      ['imported-1'],
    );
    t.same((await stores.sessions.bySub('https://imp', 'shared-sub')).map((v) => v.id).sort(), ['imported-0', 'imported-1', 'imported-2']);
    t.same(
      (await stores.sessions.byHomeAccountId('oid-2.t')).map((v) => v.id),
      ['imported-2'],
    );
    const ttl = await redis.pttl(`${prefix}session:imported-0`);
    t.ok(ttl > 55_000 && ttl <= 60_000, `an imported session expires with the session (${ttl} ms)`);
    t.equal(await stores.sessions.remove('imported-1'), true);
    t.same(await stores.sessions.bySid('https://imp', 'sid-1'), []);
    t.equal((await stores.sessions.bySub('https://imp', 'shared-sub')).length, 2);
  });

  t.test('an identical registration returns the existing session', async (t) => {
    const input = { clientId: 'c', issuer: 'i', sid: 'y', sub: 'u2', homeAccountId: 'h', expiresAt: inAMinute() };
    const first = await stores.sessions.add(input);
    t.equal((await stores.sessions.add(input)).id, first.id);
    t.equal((await stores.sessions.bySub('i', 'u2')).length, 1);
    const other = await stores.sessions.add({ ...input, webSessionKey: 'another-web-session' });
    t.not(other.id, first.id, 'one with another web-session key is a registration of its own (a new web session)');
    t.equal(other.webSessionKey, 'another-web-session', 'kept in the store, for the logout');
  });

  t.test('a session lookup reads the index and its sessions in one script; beyond 1,000 sessions in steps; ids of sessions gone leave the index either way', async (t) => {
    const smembers = redis.smembers.bind(redis);
    let inSteps = 0;
    t.teardown(() => void (redis.smembers = smembers));
    redis.smembers = ((...args: Parameters<typeof smembers>) => (inSteps++, smembers(...args))) as typeof smembers;
    const sessions = (sub: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${sub}-${i}`, clientId: 'c', issuer: 'https://lk', sub, homeAccountId: `${sub}.${i}`, expiresAt: inAMinute(), createdAt: '' }));
    await importSessions(redis, prefix, [...sessions('lk-few', 3), ...sessions('lk-many', 1_001)]);
    await redis.del(`${prefix}session:lk-few-1`, `${prefix}session:lk-many-7`); // what their TTL does
    const few = await stores.sessions.bySub('https://lk', 'lk-few');
    t.same(few.map((s) => s.id).sort(), ['lk-few-0', 'lk-few-2']);
    t.equal(inSteps, 0, 'in one script: no SMEMBERS sent on its own');
    const many = await stores.sessions.bySub('https://lk', 'lk-many');
    t.equal(many.length, 1_000);
    t.equal(inSteps, 1, 'more than the script reads: in steps');
    for (const [sub, gone] of [
      ['lk-few', 'lk-few-1'],
      ['lk-many', 'lk-many-7'],
    ])
      t.same([await redis.sismember(subIndexKey(prefix, 'https://lk', sub!), gone!), await redis.sismember(subIndexKey(prefix, 'https://lk', sub!), `${sub}-0`)], [0, 1], `${sub}: the stale id left the index, the others stay`);
  });

  t.test("the front channel's lookup marks the sid and reads its sessions in one script (markAndFindBySid)", async (t) => {
    const sent: string[] = [];
    const [set, smembers] = [redis.set.bind(redis), redis.smembers.bind(redis)];
    t.teardown(() => void Object.assign(redis, { set, smembers }));
    redis.set = ((...args: Parameters<typeof set>) => (sent.push('set'), set(...args))) as typeof set;
    redis.smembers = ((...args: Parameters<typeof smembers>) => (sent.push('smembers'), smembers(...args))) as typeof smembers;
    const s = await stores.sessions.add({ clientId: 'c', issuer: 'https://mf', sid: 'mf-sid', sub: 'mf-user', homeAccountId: 'MF.1', expiresAt: inAMinute() });
    sent.length = 0;
    const expiresAt = Date.now() + 600_000;
    t.same(
      (await stores.markAndFindBySid('https://mf', 'mf-sid', expiresAt)).map((found) => found.id),
      [s.id],
      'its sessions',
    );
    t.equal(await stores.markers.isMarked('https://mf', 'mf-sid'), true, 'the sid marked');
    const ttl = await redis.pttl(markerKey(prefix, 'https://mf', 'mf-sid'));
    t.ok(ttl > 595_000 && ttl <= 600_000, `until expiresAt (${ttl} ms)`);
    t.same(await stores.markAndFindBySid('https://mf', 'no-such-sid', expiresAt), [], 'a sid no session has: none');
    t.equal(await stores.markers.isMarked('https://mf', 'no-such-sid'), true, 'and marked all the same');
    t.same(sent, [], 'no SET or SMEMBERS sent on its own: one script');
    await stores.sessions.remove(s.id);
  });

  t.test('a session that expired drops out of its indexes', async (t) => {
    const s = await stores.sessions.add({ clientId: 'c', issuer: 'i', sid: 'gone', sub: 'u3', homeAccountId: 'h3', expiresAt: inAMinute() });
    await redis.del(`${prefix}session:${s.id}`); // what its TTL does
    t.same(await stores.sessions.bySid('i', 'gone'), []);
    t.equal(await redis.sismember((await redis.keys(`${prefix}idx:sid:*`))[0] ?? 'none', s.id), 0, 'the stale id was cleaned from the index');
  });

  /** A back-channel logout's admission of the token `replayKey`, by the admission (its report) `id`. */
  const admissionOf = (replayKey: string, id: string) => ({
    replay: { key: replayKey, expiresAt: Date.now() + 60_000 },
    report: receivedReport(id, 'backchannel', { kind: 'sub', issuer: 'iss', sub: 'u' }, ''),
    dueAt: Date.now() + 60_000,
  });

  t.test("a replay record forgotten by its own admission lets the same token be admitted again; another admission's forget, or a late one, keeps it", async (t) => {
    const admission = (id: string) => admissionOf('iss jti-1', id);
    t.equal(await stores.admitLogout(admission('f1')), true);
    await stores.replay.forget('iss jti-1', 'f2', Date.now() + 60_000);
    t.equal(await redis.get(replayKey(prefix, 'iss jti-1')), 'f1', "another admission's forget leaves the record of f1");
    await stores.replay.forget('iss jti-1', 'f1', Date.now() + 60_000);
    t.equal(await stores.admitLogout(admission('f3')), true, 'forgotten by its own admission, it can be recorded again');
    await stores.replay.forget('iss jti-1', 'f1', Date.now() + 60_000);
    t.equal(await stores.admitLogout(admission('f5')), false, "a late forget of f1 leaves f3's record: no replay of an answered logout");
    for (const id of ['f1', 'f3']) await stores.journal.dequeue(id);
  });

  t.test("a replay record that refused a token survives the late forget of the admission that made it (the provider's retry was told: received)", async (t) => {
    // A failover: r1's admission reached the promoted replica but was answered 400; the provider's retry
    // was refused as a replay there; r1's forget, retried until replicated, lands after that refusal.
    const admission = (id: string) => admissionOf('iss jti-refused', id);
    t.equal(await stores.admitLogout(admission('r1')), true);
    t.equal(await stores.admitLogout(admission('r2')), false, "the provider's retry: a replay");
    const ttl = await redis.pttl(replayKey(prefix, 'iss jti-refused'));
    await stores.replay.forget('iss jti-refused', 'r1', Date.now() + 60_000);
    t.equal(await stores.admitLogout(admission('r3')), false, 'a replay after the late forget is still refused');
    t.ok(ttl > 0 && (await redis.pttl(replayKey(prefix, 'iss jti-refused'))) <= ttl, 'the record keeps its expiry');
    await stores.journal.dequeue('r1');
  });

  t.test('a back-channel logout is admitted once: its replay record, its journal entry queued and its marker together; a replay writes nothing (admitLogout)', async (t) => {
    const report = (id: string) => ({
      id,
      state: 'pending' as const,
      channel: 'backchannel' as const,
      target: { kind: 'sid' as const, issuer: 'https://adm', sid: 'adm-sid' },
      receivedAt: '2026-11-27T00:00:00.000Z',
      attempts: 0,
      sessionsEnded: 0,
      sessionIds: [],
      accounts: [],
      removals: [],
    });
    const now = Date.now();
    const admission = (id: string, sid = 'adm-sid') => ({ replay: { key: 'https://adm adm-jti', expiresAt: now + 60_000 }, report: report(id), dueAt: now + 30_000, marker: { issuer: 'https://adm', sid, expiresAt: now + 90_000 } });
    const results = await Promise.all(Array.from({ length: 10 }, (_, n) => stores.admitLogout(admission(`adm-${n}`, `adm-sid-${n}`))));
    t.equal(results.filter(Boolean).length, 1, 'exactly one of 10 concurrent admissions of one token wins');
    const winner = results.indexOf(true);
    t.same(await stores.journal.get(`adm-${winner}`), report(`adm-${winner}`), 'its report is journaled');
    t.equal(await redis.zscore(`${prefix}logouts:due`, `adm-${winner}`), String(now + 30_000), 'and queued for a worker at dueAt');
    t.equal(await stores.markers.isMarked('https://adm', `adm-sid-${winner}`), true, 'its target is marked');
    for (let n = 0; n < 10; n++) {
      if (n === winner) continue;
      t.equal(await stores.journal.get(`adm-${n}`), null, `the refused admission ${n} journaled nothing`);
      t.equal(await stores.markers.isMarked('https://adm', `adm-sid-${n}`), false, `and marked nothing`);
    }
    const ttl = async (pattern: string) => redis.pttl((await redis.keys(`${prefix}${pattern}`))[0] ?? 'none');
    t.ok((await redis.pttl(`${prefix}logout:adm-${winner}`)) > 55_000, 'the report is kept for the retention');
    t.ok((await ttl('jti:*')) > 55_000 && (await ttl('jti:*')) <= 60_000, 'the replay record until its expiry');
    t.ok((await ttl('loggedout:*')) > 85_000, 'the marker until its expiry');
    const bySub = { replay: { key: 'https://adm adm-jti-2', expiresAt: now + 60_000 }, report: { ...report('adm-sub'), target: { kind: 'sub' as const, issuer: 'https://adm', sub: 'u' } }, dueAt: now };
    t.equal(await stores.admitLogout(bySub), true, 'a sub target: no marker');
    t.same(
      (await stores.journal.claimDue(now, 10, 30_000)).map(({ report }) => report.id),
      ['adm-sub'],
    );
    for (const id of ['adm-sub', `adm-${winner}`]) await stores.journal.dequeue(id);
  });

  t.test('a front-channel logout is admitted without a replay record: its journal entry queued and its marker in one script, no jti key written (admitLogout)', async (t) => {
    const now = Date.now();
    const report = receivedReport('front-adm', 'frontchannel', { kind: 'sid', issuer: 'https://front', sid: 'front-sid' }, new Date(now).toISOString());
    const jtis = async () => (await redis.keys(`${prefix}jti:*`)).length;
    const before = await jtis();
    t.equal(await stores.admitLogout({ report, dueAt: now + 30_000, marker: { issuer: 'https://front', sid: 'front-sid', expiresAt: now + 90_000 } }), true);
    t.same(await stores.journal.get('front-adm'), report, 'its report is journaled');
    t.equal(await redis.zscore(`${prefix}logouts:due`, 'front-adm'), String(now + 30_000), 'and queued for a worker at dueAt');
    t.same(
      (await stores.journal.byTarget(report.target, 10)).map((r) => r.id),
      ['front-adm'],
      'found by its target',
    );
    t.equal(await stores.markers.isMarked('https://front', 'front-sid'), true, 'its target is marked');
    t.ok((await redis.pttl(markerKey(prefix, 'https://front', 'front-sid'))) > 85_000, 'the marker until its expiry');
    t.equal(await jtis(), before, 'no replay record');
    t.equal(await stores.journal.oldestPending(), Date.parse(report.receivedAt), 'counted as pending since it was received');
    await stores.journal.dequeue('front-adm');
  });

  t.test('logged-out markers', async (t) => {
    await stores.markers.mark('i', 's', Date.now() + 60_000);
    t.equal(await stores.markers.isMarked('i', 's'), true);
    t.equal(await stores.markers.isMarked('i', 'other'), false);
  });

  t.test('the journal queues due logouts and lets one claimant have each', async (t) => {
    const report = { id: 'r1', state: 'pending' as const, channel: 'api' as const, target: { kind: 'account' as const, homeAccountId: 'h' }, receivedAt: new Date().toISOString(), attempts: 0, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] };
    const now = Date.now();
    await stores.journal.save(report, now - 1);
    t.equal(await stores.journal.backlog(), 1);
    const claims = await Promise.all([stores.journal.claimDue(now, 10, 30_000), stores.journal.claimDue(now, 10, 30_000)]);
    t.same(claims.flat(), [{ report }], 'one of two concurrent claims gets it, with its report (a logout by account: no sessions)');
    t.same(await stores.journal.claimDue(now, 10, 30_000), [], 'a claimed logout is not due during its lease');
    t.same(
      (await stores.journal.claimDue(now + 30_000, 10, 30_000)).map(({ report }) => report.id),
      ['r1'],
      'due again once its lease is over',
    );
    await redis.zadd(`${prefix}logouts:due`, now - 1, 'gone');
    await redis.zadd(`${prefix}logouts:pending-since`, now - 1, 'gone');
    t.same(await stores.journal.claimDue(now, 10, 30_000), [], 'a queued id whose report is gone is not claimed');
    t.equal(await redis.zscore(`${prefix}logouts:due`, 'gone'), null, 'and leaves the queue');
    t.equal(await redis.zscore(`${prefix}logouts:pending-since`, 'gone'), null, 'and the backlog age');
    await stores.journal.save({ ...report, state: 'completed' });
    t.equal(await stores.journal.backlog(), 0, 'saved without a due time, it leaves the queue');
    t.equal((await stores.journal.get('r1'))!.state, 'completed');
  });

  t.test('token cache: compare-and-set writes only over the value it read, and keeps the TTL', async (t) => {
    const caches = new RedisTokenCacheStore(redis, false);
    const key = `${prefix}cache:1`;
    await redis.set(key, 'v1', 'EX', 3600);
    t.equal(await caches.compareAndSet(key, 'stale', 'v2'), false, 'refused over a value it did not read');
    t.equal(await redis.get(key), 'v1');
    t.equal(await caches.compareAndSet(key, 'v1', 'v2'), true);
    t.equal(await redis.get(key), 'v2');
    t.ok((await redis.ttl(key)) > 3500, 'KEEPTTL: the app’s expiry is kept');
    t.equal(await caches.compareAndSet(key, 'v2', null), true, 'null deletes');
    t.equal(await redis.exists(key), 0);
    t.equal(await caches.compareAndSet(key, 'v2', 'v3'), false, 'refused over a key that is gone');
    t.equal(await redis.exists(key), 0, 'and it is not created');
  });

  t.test('token cache: compare-and-set tells values of the same length apart, and counts UTF-8 bytes', async (t) => {
    const caches = new RedisTokenCacheStore(redis, false);
    const key = `${prefix}cache:2`;
    await redis.set(key, '{"name":"Zoë Ünal"}');
    t.equal(await caches.compareAndSet(key, '{"name":"Zoe Unal"}', 'x'), false, 'same length in characters, other bytes: refused');
    t.equal(await caches.compareAndSet(key, '{"name":"Zoë Ünaj"}', 'x'), false, 'same length in bytes, other content: refused');
    t.equal(await redis.get(key), '{"name":"Zoë Ünal"}', 'unchanged');
    t.equal(await caches.compareAndSet(key, '{"name":"Zoë Ünal"}', '{"name":"Zoë"}'), true, 'the value it read, non-ASCII: written');
    t.equal(await redis.get(key), '{"name":"Zoë"}');
  });

  t.test('token cache: a compare-and-set over a key of another Redis type is foreign data and changes nothing', async (t) => {
    const caches = new RedisTokenCacheStore(redis, false);
    const key = `${prefix}cache:list`;
    await redis.rpush(key, 'a');
    await t.rejects(caches.compareAndSet(key, 'a', 'b'), ForeignPartitionError);
    t.same(await redis.lrange(key, 0, -1), ['a']);
  });

  t.test('token cache: an update writes only if nothing wrote the key since its read, keeps the TTL, and null deletes', async (t) => {
    const caches = new RedisTokenCacheStore(redis, false, { updateConnections: 2 });
    t.teardown(() => caches.close());
    const key = `${prefix}cache:update:1`;
    await redis.set(key, 'v1', 'EX', 3600);
    const first = await caches.readForUpdate(key);
    t.ok(Buffer.isBuffer(first.value), 'read as bytes');
    t.equal(first.value?.toString(), 'v1');
    t.equal(await first.write(Buffer.from('v2')), true, 'bytes written');
    first.release();
    t.equal(await redis.get(key), 'v2');
    t.ok((await redis.ttl(key)) > 3500, 'KEEPTTL: the app’s expiry is kept');

    const raced = await caches.readForUpdate(key);
    await redis.set(key, 'the app wrote this', 'KEEPTTL'); // between the read and the write
    t.equal(await raced.write('v3'), false, 'refused: the key was written since the read');
    raced.release();
    t.equal(await redis.get(key), 'the app wrote this', 'the app’s write is kept');

    const last = await caches.readForUpdate(key);
    t.equal(await last.write(null), true, 'null deletes');
    last.release();
    t.equal(await redis.exists(key), 0);
    const gone = await caches.readForUpdate(key);
    t.equal(gone.value, null, 'a key that is not there reads as null');
    gone.release();
  });

  t.test('token cache: a partition of one account is updated by a read and a compare-and-set in Lua, as bytes, on no update connection; a write since the read wins', async (t) => {
    const name = `lr-test-one-account-${prefix.replace(/[^a-z0-9]/gi, '')}`;
    const caches = new RedisTokenCacheStore(redis, false, { updateConnections: 1, updateConnectionName: name });
    t.teardown(() => caches.close());
    const key = `${prefix}cache:one-account`;
    await redis.set(key, 'v1', 'EX', 3600);
    const oneAccount = { oneAccountPerPartition: true };
    const first = await caches.readForUpdate(key, oneAccount);
    t.ok(Buffer.isBuffer(first.value), 'read as bytes');
    t.equal(await first.write(Buffer.from('v2')), true);
    first.release();
    t.equal(await redis.get(key), 'v2');
    t.ok((await redis.ttl(key)) > 3500, 'KEEPTTL: the app’s expiry is kept');
    const raced = await caches.readForUpdate(key, oneAccount);
    await redis.set(key, 'the app wrote this', 'KEEPTTL');
    t.equal(await raced.write(null), false, 'refused: the key was written since the read');
    raced.release();
    t.equal(await redis.get(key), 'the app wrote this', 'the app’s write is kept');
    const last = await caches.readForUpdate(key, oneAccount);
    t.equal(await last.write(null), true, 'null deletes');
    t.equal(await redis.exists(key), 0);
    const encrypted = Buffer.from([0x09, 0xf0, 0xc9, 0xf0, 0xff, 0xfe, 0x00, 0x80]);
    await redis.set(key, encrypted);
    const binary = await caches.readForUpdate(key, oneAccount);
    t.same(binary.value, encrypted, 'bytes that are no UTF-8 come back as they are');
    t.equal(await binary.write(null), true, 'and compare equal to themselves');
    t.equal(await redis.exists(key), 0);
    const named = ((await redis.client('LIST')) as string).split('\n').filter((line) => line.includes(` name=${name} `));
    t.same(named, [], 'no update connection was opened');
  });

  t.test('token cache: an update released without a write leaves no WATCH behind for the next one', async (t) => {
    const caches = new RedisTokenCacheStore(redis, false, { updateConnections: 1 });
    t.teardown(() => caches.close());
    const key = `${prefix}cache:update:2`;
    await redis.set(key, 'v1');
    (await caches.readForUpdate(key)).release(); // nothing to write
    await redis.set(key, 'v2'); // would abort the next write if the first WATCH were still on
    const next = await caches.readForUpdate(key);
    t.equal(next.value?.toString(), 'v2');
    t.equal(await next.write('v3'), true);
    next.release();
    t.equal(await redis.get(key), 'v3');
  });

  t.test('token cache: an update whose connection dropped writes nothing, and the next update opens another', async (t) => {
    const name = `lr-test-update-${prefix.replace(/[^a-z0-9]/gi, '')}`;
    const caches = new RedisTokenCacheStore(redis, false, { updateConnections: 1, updateConnectionName: name });
    t.teardown(() => caches.close());
    const key = `${prefix}cache:update:3`;
    await redis.set(key, 'v1');
    const update = await caches.readForUpdate(key);
    const ids = ((await redis.client('LIST')) as string)
      .split('\n')
      .filter((line) => line.includes(` name=${name} `))
      .map((line) => /\bid=(\d+)/.exec(line)![1]!);
    t.equal(ids.length, 1, 'one update connection');
    await redis.client('KILL', 'ID', ids[0]!);
    await t.rejects(update.write('v2'), 'the write fails: no reconnect, no resend on another connection');
    update.release();
    t.equal(await redis.get(key), 'v1', 'nothing written');
    const again = await caches.readForUpdate(key);
    t.equal(await again.write('v2'), true, 'a new connection takes over');
    again.release();
    t.equal(await redis.get(key), 'v2');
  });

  t.test('token cache: an update of a key of another Redis type is foreign data', async (t) => {
    const caches = new RedisTokenCacheStore(redis, false, { updateConnections: 1 });
    t.teardown(() => caches.close());
    const key = `${prefix}cache:update:hash`;
    await redis.hset(key, 'a', '1');
    await t.rejects(caches.readForUpdate(key), ForeignPartitionError);
    const other = `${prefix}cache:update:4`;
    await redis.set(other, 'v1');
    const update = await caches.readForUpdate(other);
    t.equal(update.value?.toString(), 'v1', 'the slot is free again');
    update.release();
  });

  t.test('token cache: a key of another Redis type is foreign data', async (t) => {
    const caches = new RedisTokenCacheStore(redis, false);
    const key = `${prefix}cache:hash`;
    await redis.hset(key, 'a', '1');
    await t.rejects(caches.get(key), ForeignPartitionError);
  });

  t.test('the service store has two Redis connections of its own (answers, attempts); apps whose caches share a URL share one', async (t) => {
    const count = async (cacheUrls: string[], storeOnRedis = true) => {
      const file = testConfigFile('https://idp.example.test/jwks');
      if (storeOnRedis) file.store = { kind: 'redis', url: REDIS_URL, keyPrefix: prefix };
      cacheUrls.forEach((url, i) => (file.apps[i]!.tokenCache = { url, key: 'msal:{clientId}:{homeAccountId}' }));
      const backends = createBackends(resolveConfig(file), () => {});
      t.ok(await backends.connected(5_000), 'connected');
      t.equal(backends.attemptStores === backends.stores, !storeOnRedis, storeOnRedis ? 'the attempts have stores of their own' : 'memory: one store for both');
      await backends.stores.close();
      return backends.connectionCount;
    };
    t.equal(await count([REDIS_URL, REDIS_URL]), 3, 'store and both apps on one URL: the store’s two, and the apps’ shared one');
    t.equal(await count([REDIS_URL, `${REDIS_URL}/1`]), 4, 'apps on different URLs: one each');
    t.equal(await count([REDIS_URL, REDIS_URL], false), 1, 'memory store: only the apps’ connection');
  });

  t.test('the attempts’ store sees what the answers’ store wrote, over its own connection', async (t) => {
    const file = testConfigFile('https://idp.example.test/jwks');
    file.store = { kind: 'redis', url: REDIS_URL, keyPrefix: `${prefix}split:` };
    const backends = createBackends(resolveConfig(file), () => {});
    t.teardown(() => backends.stores.close());
    t.ok(await backends.connected(5_000));
    const { stores, attemptStores } = backends;
    const session = await stores.sessions.add({ clientId: ORDERS, issuer: ISSUER, sid: 'split', sub: 'u', homeAccountId: 'h.t', expiresAt: new Date(Date.now() + 60_000).toISOString() });
    t.same(
      (await attemptStores.sessions.bySid(ISSUER, 'split')).map((s) => s.id),
      [session.id],
    );
    t.ok(await attemptStores.sessions.remove(session.id));
    t.same(await stores.sessions.bySid(ISSUER, 'split'), []);
  });
}
