import t from 'tap';
import { receivedReport } from '../../src/core/model.js';
import { createMemoryStores } from '../../src/stores/memory.js';

let now = 1_000_000;
const stores = createMemoryStores({ reportRetentionMs: 10_000, now: () => now, pruneIntervalMs: 0 });
t.teardown(() => stores.close());
const expiresIn = (ms: number) => new Date(now + ms).toISOString();

t.test('sessions are found by (issuer, sid), (issuer, sub) and homeAccountId, and removed from every index', async (t) => {
  const s = await stores.sessions.add({ clientId: 'c', issuer: 'i', sid: 'x', sub: 'u', homeAccountId: 'A.B', expiresAt: expiresIn(60_000) });
  t.same(
    (await stores.sessions.bySid('i', 'x')).map((v) => v.id),
    [s.id],
  );
  t.same(
    (await stores.sessions.bySub('i', 'u')).map((v) => v.id),
    [s.id],
  );
  t.same(
    (await stores.sessions.byHomeAccountId('a.b')).map((v) => v.id),
    [s.id],
  );
  t.same(await stores.sessions.bySid('other', 'x'), [], 'the issuer is part of the sid index');
  t.equal(await stores.sessions.remove(s.id), true);
  t.equal(await stores.sessions.remove(s.id), false);
  t.same(await stores.sessions.bySub('i', 'u'), []);
});

t.test('sessions just found are removed at once; only those still there are reported', async (t) => {
  const stores = createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 });
  const expiresAt = new Date(Date.now() + 60_000).toISOString();
  const a = await stores.sessions.add({ clientId: 'c', issuer: 'https://rf', sid: 'rf-1', sub: 'u', homeAccountId: 'RF.1', expiresAt });
  const b = await stores.sessions.add({ clientId: 'c', issuer: 'https://rf', sid: 'rf-2', sub: 'u', homeAccountId: 'RF.2', expiresAt });
  const found = await stores.sessions.bySub('https://rf', 'u');
  await stores.sessions.remove(b.id);
  t.same(await stores.sessions.removeFound(found), [a.id]);
  t.same(await stores.sessions.bySub('https://rf', 'u'), []);
  t.same(await stores.sessions.bySid('https://rf', 'rf-1'), []);
});

t.test('an identical registration returns the existing session with the later expiry', async (t) => {
  const input = { clientId: 'c', issuer: 'i', sid: 'y', sub: 'u2', homeAccountId: 'h', expiresAt: expiresIn(1000) };
  const first = await stores.sessions.add(input);
  const again = await stores.sessions.add({ ...input, expiresAt: expiresIn(5000) });
  t.equal(again.id, first.id);
  now += 2000;
  t.ok(await stores.sessions.get(first.id), 'still there after the first expiry');
  const other = await stores.sessions.add({ ...input, expiresAt: expiresIn(5000), webSessionKey: 'another-web-session' });
  t.not(other.id, first.id, 'one with another web-session key is a registration of its own (a new web session)');
});

t.test('expired sessions, replay records, markers and reports vanish', async (t) => {
  const s = await stores.sessions.add({ clientId: 'c', issuer: 'i', sub: 'u3', homeAccountId: 'h3', expiresAt: expiresIn(100) });
  const admission = (id: string) => ({
    replay: { key: 'j', expiresAt: now + 100 },
    report: { id, state: 'pending' as const, channel: 'backchannel' as const, target: { kind: 'sub' as const, issuer: 'i', sub: 'u3' }, receivedAt: '', attempts: 0, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] },
    dueAt: now,
  });
  t.equal(await stores.admitLogout(admission('e1')), true);
  t.equal(await stores.admitLogout(admission('e2')), false, 'a jti is remembered once');
  await stores.markers.mark('i', 'z', now + 100);
  t.equal(await stores.markers.isMarked('i', 'z'), true);
  now += 101;
  t.equal(await stores.sessions.get(s.id), null);
  t.same(await stores.sessions.bySub('i', 'u3'), []);
  t.equal(await stores.admitLogout(admission('e3')), true, 'after expiry the record is gone');
  for (const id of ['e1', 'e3']) await stores.journal.dequeue(id);
  t.equal(await stores.markers.isMarked('i', 'z'), false);
});

t.test('a back-channel logout is admitted once: its replay record, its journal entry queued and its marker together; a replay writes nothing (admitLogout)', async (t) => {
  const report = (id: string) => ({ id, state: 'pending' as const, channel: 'backchannel' as const, target: { kind: 'sid' as const, issuer: 'i', sid: 'adm' }, receivedAt: '', attempts: 0, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] });
  const admission = (id: string, sid: string) => ({ replay: { key: 'i adm-jti', expiresAt: now + 100 }, report: report(id), dueAt: now + 50, marker: { issuer: 'i', sid, expiresAt: now + 100 } });
  t.equal(await stores.admitLogout(admission('adm-1', 'adm-sid-1')), true);
  t.same(await stores.journal.get('adm-1'), report('adm-1'));
  t.same(await stores.journal.claimDue(now + 49, 10, 1_000), [], 'not due before dueAt');
  t.same(
    (await stores.journal.claimDue(now + 50, 10, 1_000)).map(({ report }) => report.id),
    ['adm-1'],
    'queued for a worker at dueAt',
  );
  t.equal(await stores.markers.isMarked('i', 'adm-sid-1'), true);
  t.equal(await stores.admitLogout(admission('adm-2', 'adm-sid-2')), false, 'the same token again');
  t.equal(await stores.journal.get('adm-2'), null, 'journaled nothing');
  t.equal(await stores.markers.isMarked('i', 'adm-sid-2'), false, 'marked nothing');
  await stores.journal.dequeue('adm-1');
});

t.test("the front channel's lookup marks the sid, then reads its sessions (markAndFindBySid)", async (t) => {
  const s = await stores.sessions.add({ clientId: 'c', issuer: 'i', sid: 'mf-sid', sub: 'mf-user', homeAccountId: 'mf', expiresAt: expiresIn(1000) });
  t.same(
    (await stores.markAndFindBySid('i', 'mf-sid', now + 100)).map((found) => found.id),
    [s.id],
  );
  t.equal(await stores.markers.isMarked('i', 'mf-sid'), true);
  t.same(await stores.markAndFindBySid('i', 'mf-none', now + 100), [], 'a sid no session has: none');
  t.equal(await stores.markers.isMarked('i', 'mf-none'), true, 'and marked all the same');
  now += 101;
  t.equal(await stores.markers.isMarked('i', 'mf-none'), false, 'until expiresAt');
  await stores.sessions.remove(s.id);
});

t.test('a front-channel logout is admitted without a replay record: its journal entry queued and its marker together (admitLogout)', async (t) => {
  const report = receivedReport('front-adm', 'frontchannel', { kind: 'sid', issuer: 'i', sid: 'front-sid' }, '');
  const admission = { report, dueAt: now + 50, marker: { issuer: 'i', sid: 'front-sid', expiresAt: now + 100 } };
  t.equal(await stores.admitLogout(admission), true);
  t.same(await stores.journal.get('front-adm'), report);
  t.equal(await stores.markers.isMarked('i', 'front-sid'), true);
  t.same(
    (await stores.journal.claimDue(now + 50, 10, 1_000)).map(({ report }) => report.id),
    ['front-adm'],
    'queued for a worker at dueAt',
  );
  t.equal(await stores.admitLogout({ ...admission, report: { ...report, id: 'front-adm-2' } }), true, 'no token, so nothing to refuse as a replay');
  for (const id of ['front-adm', 'front-adm-2']) await stores.journal.dequeue(id);
});

t.test("a replay record that refused a token survives the late forget of the admission that made it (the provider's retry was told: received)", async (t) => {
  const admission = (id: string) => ({ replay: { key: 'i refused-jti', expiresAt: now + 100 }, report: receivedReport(id, 'backchannel', { kind: 'sub', issuer: 'i', sub: 'u' }, ''), dueAt: now + 50 });
  t.equal(await stores.admitLogout(admission('ref-1')), true);
  t.equal(await stores.admitLogout(admission('ref-2')), false, "the provider's retry: a replay");
  await stores.replay.forget('i refused-jti', 'ref-1', now + 100);
  t.equal(await stores.admitLogout(admission('ref-3')), false, 'a replay after the late forget is still refused');
  now += 100;
  t.equal(await stores.admitLogout(admission('ref-4')), true, 'until the record expires as it would have');
  for (const id of ['ref-1', 'ref-4']) await stores.journal.dequeue(id);
});

t.test('the journal returns copies, not live objects', async (t) => {
  const report = { id: 'r', state: 'pending' as const, channel: 'api' as const, target: { kind: 'account' as const, homeAccountId: 'h' }, receivedAt: '', attempts: 0, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] };
  await stores.journal.save(report);
  report.state = 'completed' as never;
  t.equal((await stores.journal.get('r'))!.state, 'pending');
  now += 10_001;
  t.equal(await stores.journal.get('r'), null, 'reports expire after their retention');
});

t.test('bounded: beyond maxEntries the oldest replay record, marker or report goes first, and is counted', async (t) => {
  const stores = createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0, maxEntries: 3 });
  for (const sid of ['a', 'b', 'c', 'd']) await stores.markers.mark('https://idp', sid, Date.now() + 60_000);
  t.notOk(await stores.markers.isMarked('https://idp', 'a'), 'the oldest marker went');
  t.ok(await stores.markers.isMarked('https://idp', 'd'));
  t.same(stores.evictions!(), { replay: 0, markers: 1, reports: 0 });
});

t.test('bounded: a report still queued is never the one evicted', async (t) => {
  const stores = createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0, maxEntries: 2 });
  const report = (id: string) => ({ id, state: 'pending' as const, channel: 'api' as const, target: { kind: 'account' as const, homeAccountId: 'a.b' }, receivedAt: new Date().toISOString(), attempts: 0, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] });
  await stores.journal.save(report('queued'), Date.now());
  await stores.journal.save(report('done-1'));
  await stores.journal.save(report('done-2'));
  t.ok(await stores.journal.get('queued'), 'the queued report stays');
  t.equal(await stores.journal.get('done-1'), null, 'the oldest completed one went instead');
  t.equal(stores.evictions!().reports, 1);
});
