import type { Test } from 'tap';
import { resolveConfig } from '../../src/config/load.js';
import { LogoutService } from '../../src/core/logout-service.js';
import type { AttemptDone } from '../../src/core/logout-attempt.js';
import { randomUUID } from 'node:crypto';
import type { LogoutReport, LogoutTarget } from '../../src/core/model.js';
import type { ClaimedLogout, LogoutAdmission, LogoutJournal, ServiceStores, SessionStore } from '../../src/core/service-stores.js';
import type { VerifiedLogoutToken } from '../../src/core/verify-logout-token.js';
import type { AppConfig } from '../../src/core/registrations.js';
import { TokenCacheSweeper } from '../../src/core/token-cache-sweeper.js';
import { CACHE_FORMATS } from '../../src/cache-formats/formats.js';
import { ServiceMetrics } from '../../src/http/metrics.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { FakeEntra, MsalWebApp } from '../../simulators/msal-app.js';
import { ISSUER, TENANT_A, testConfigFile } from './service.js';

// What a logout does over time (DESIGN.md "Logout semantics"), on any store: sessions end at the first
// attempt, retries redo only what failed, a second pass, and a later sign-in left alone.

const [ORDERS_APP, BILLING_APP] = resolveConfig(testConfigFile('https://idp.example.test/jwks')).apps as [AppConfig, AppConfig];
const SECOND_PASS_MS = 60_000;
const RETRY = { baseDelayMs: 1_000, maxDelayMs: 1_000, maxAttempts: 5, leaseMs: 30_000 };

/** An app's token-cache store that counts its reads and can be taken down: an outage the memory store cannot have. */
function breakable(store: MemoryTokenCacheStore): MemoryTokenCacheStore & { reads: number; down: boolean } {
  const wrapper = Object.assign(Object.create(store) as MemoryTokenCacheStore, {
    reads: 0,
    down: false,
    async get(key: string) {
      wrapper.reads++;
      if (wrapper.down) throw new Error('connect ECONNREFUSED 127.0.0.1:1');
      return store.get(key);
    },
  });
  return wrapper;
}

/** A token-cache store whose reads wait until `open()`. */
function gated(store: MemoryTokenCacheStore): MemoryTokenCacheStore & { open(): void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  return Object.assign(Object.create(store) as MemoryTokenCacheStore, {
    open,
    async get(key: string) {
      await gate;
      return store.get(key);
    },
  });
}

export type StoresFactory = (now: () => number) => Promise<ServiceStores>;

async function world(t: Test, newStores: StoresFactory, options: { gateOrders?: boolean; maxAttempts?: number; role?: 'all' | 'receiver' } = {}) {
  // Real time to start from: Redis expires keys by its own clock.
  let clock = Date.now();
  const now = () => clock;
  const stores = await newStores(now);
  const entra = new FakeEntra();
  const ordersCache = new MemoryTokenCacheStore();
  const billingCache = new MemoryTokenCacheStore();
  const orders = new MsalWebApp(ORDERS_APP.clientId, ORDERS_APP.tokenCache.key, ordersCache, entra);
  const billing = new MsalWebApp(BILLING_APP.clientId, BILLING_APP.tokenCache.key, billingCache, entra);
  const ordersStore = options.gateOrders ? gated(ordersCache) : breakable(ordersCache);
  const billingStore = breakable(billingCache);
  const sweeper = new TokenCacheSweeper(
    [
      { app: ORDERS_APP, store: ordersStore },
      { app: BILLING_APP, store: billingStore },
    ],
    { formats: CACHE_FORMATS },
  );
  const attempts: { report: LogoutReport; done: AttemptDone }[] = [];
  const metrics = new ServiceMetrics({ version: 'test', apps: [ORDERS_APP.name, BILLING_APP.name], issuers: [] });
  const service = (on: ServiceStores = stores) =>
    new LogoutService({
      stores: on,
      sweeper,
      role: options.role ?? 'all',
      markerTtlMs: 3_600_000,
      unmatchedMarkerTtlMs: 10_000,
      clockSkewSeconds: 120,
      secondPassMs: SECOND_PASS_MS,
      retry: { ...RETRY, maxAttempts: options.maxAttempts ?? RETRY.maxAttempts },
      now,
      onAttempt: (report, seconds, done) => {
        attempts.push({ report: structuredClone(report), done: structuredClone(done) });
        metrics.logoutAttempt(report, seconds, done);
      },
    });
  const user = { oid: 'aaaaaaaa-0000-4000-8000-0000000000a1', homeTenant: TENANT_A, name: 'Ada', sid: 's1' };
  const account = await orders.signIn(user);
  await billing.signIn(user);
  const expiresAt = new Date(clock + 3_600_000).toISOString();
  const svc = service();
  const register = (clientId: string, sid: string) => svc.register({ clientId, issuer: ISSUER, sid, sub: 'ada', homeAccountId: account.homeAccountId, expiresAt });
  await register(ORDERS_APP.clientId, 's1');
  await register(BILLING_APP.clientId, 's1');
  t.teardown(() => svc.stopWorker());
  const partitions = () => ({ orders: [...ordersCache.partitions].sort(), billing: [...billingCache.partitions].sort() });
  return {
    stores,
    svc,
    service,
    orders,
    billing,
    ordersStore,
    billingStore,
    account,
    attempts,
    metrics,
    register,
    partitions,
    user,
    tick: (ms: number) => void (clock += ms),
    now,
    logoutBySid: (sid = 's1') => svc.logout({ channel: 'api', target: { kind: 'sid', issuer: ISSUER, sid } }),
  };
}

/** The stores as a worker sees them, with what each claim returned and the lookups by sid and by sub counted. */
function observed(stores: ServiceStores) {
  const claims: ClaimedLogout[] = [];
  const lookups: string[] = [];
  const sessions = Object.assign(Object.create(stores.sessions) as SessionStore, {
    bySid(issuer: string, sid: string) {
      lookups.push(`sid ${sid}`);
      return stores.sessions.bySid(issuer, sid);
    },
    bySub(issuer: string, sub: string) {
      lookups.push(`sub ${sub}`);
      return stores.sessions.bySub(issuer, sub);
    },
  });
  const journal = Object.assign(Object.create(stores.journal) as LogoutJournal, {
    async claimDue(now: number, limit: number, leaseMs: number) {
      const claimed = await stores.journal.claimDue(now, limit, leaseMs);
      claims.push(...structuredClone(claimed));
      return claimed;
    },
  });
  return { stores: { ...stores, sessions, journal }, claims, lookups };
}

/** What a back-channel logout token says once verified (the token rules are not what these tests are about). */
const verifiedToken = (target: Exclude<LogoutTarget, { kind: 'account' }>): VerifiedLogoutToken => {
  const exp = Math.floor(Date.now() / 1000) + 600;
  return { iss: ISSUER, ...(target.kind === 'sid' ? { sid: target.sid } : { sub: target.sub }), jti: randomUUID(), exp, validUntil: exp, aud: [ORDERS_APP.clientId] } as unknown as VerifiedLogoutToken;
};

const outcomes = (report: LogoutReport | undefined | null, list: 'removals' | 'secondPass' = 'removals') => Object.fromEntries(((list === 'removals' ? report?.removals : report?.secondPass?.removals) ?? []).map((r) => [r.app, [r.outcome, r.attempts]]));

/** The rules, each a test named after it, on the stores `newStores` makes (a second call: another process's). */
export function logoutSemantics(t: Test, newStores: StoresFactory): void {
  t.test('sessions end at the first attempt: an app whose cache is down does not keep them', async (t) => {
    const w = await world(t, newStores);
    (w.billingStore as ReturnType<typeof breakable>).down = true;
    const report = await w.logoutBySid();
    t.equal(report.state, 'pending', 'a removal failed: a retry is queued');
    t.equal(report.sessionsEnded, 2);
    t.ok(report.firstPassAt, 'the first pass is done');
    t.same(await w.stores.sessions.bySid(ISSUER, 's1'), [], 'no longer listed by sid');
    t.same(await w.stores.sessions.byHomeAccountId(w.account.homeAccountId), [], 'nor by account');
    t.same(outcomes(report), { 'orders-web': ['removed', 1], 'billing-web': ['failed', 1] });
    t.same(await w.orders.accounts(w.account.homeAccountId), [], 'the healthy app is clean already');
    t.same(await w.stores.journal.get(report.id), report, 'journaled as it is');
    t.equal(await w.stores.journal.backlog(), 1);
  });

  t.test('retries redo only the removals that failed: a healthy app is not read again', async (t) => {
    const w = await world(t, newStores);
    const billing = w.billingStore as ReturnType<typeof breakable>;
    const orders = w.ordersStore as ReturnType<typeof breakable>;
    billing.down = true;
    const report = await w.logoutBySid();
    const ordersReads = orders.reads;
    const billingReads = billing.reads;
    w.tick(RETRY.maxDelayMs);
    t.equal(await w.svc.runDue(), 1);
    t.equal((await w.stores.journal.get(report.id))?.state, 'pending', 'still down: still pending');
    t.equal(orders.reads, ordersReads, 'the healthy app was not read by the retry');
    t.equal(billing.reads, billingReads + 1, 'the failed removal was tried again, once');
    billing.down = false;
    w.tick(RETRY.maxDelayMs);
    await w.svc.runDue();
    const done = (await w.stores.journal.get(report.id))!;
    t.equal(done.state, 'completed');
    t.equal(done.attempts, 3);
    t.equal(done.lastError, undefined);
    t.same(outcomes(done), { 'orders-web': ['removed', 1], 'billing-web': ['removed', 3] }, 'every removal with its latest outcome and attempt count');
    t.equal(orders.reads, ordersReads, 'nor by the last one');
    t.same(await w.billing.accounts(w.account.homeAccountId), []);
    t.same(
      w.attempts.map((a) => a.done.removals.map((r) => `${r.app} ${r.outcome}`)),
      [['orders-web removed', 'billing-web failed'], ['billing-web failed'], ['billing-web removed']],
      'each attempt reports what it did',
    );
    t.same(
      w.attempts.map((a) => a.done.settled),
      [false, false, true],
      'settled once',
    );
  });

  t.test('the second pass removes an account an app wrote back, and counts it in a metric', async (t) => {
    const w = await world(t, newStores);
    const before = w.partitions();
    const report = await w.logoutBySid();
    t.equal(report.state, 'completed');
    t.equal(report.secondPass?.dueAt, new Date(w.now() + SECOND_PASS_MS).toISOString(), 'due secondPassSeconds after the first attempt');
    t.equal(await w.stores.journal.backlog(), 0, 'completed: not backlog');
    // An orders request that read the cache before the logout writes it back after (msal-node's plugin writes blindly).
    const [key, blob] = before.orders[0]!;
    await w.orders.cacheClient.set(key, blob);
    t.equal((await w.orders.accounts(w.account.homeAccountId)).length, 1, 'written back');
    w.tick(SECOND_PASS_MS - 1);
    await w.svc.runDue();
    t.equal((await w.stores.journal.get(report.id))?.secondPass?.at, undefined, 'not before it is due');
    w.tick(1);
    t.equal(await w.svc.runDue(), 1);
    const done = (await w.stores.journal.get(report.id))!;
    t.equal(done.state, 'completed');
    t.equal(done.secondPass?.at, new Date(w.now()).toISOString());
    t.same(outcomes(done, 'secondPass'), { 'orders-web': ['removed', 1], 'billing-web': ['not_present', 1] });
    t.same(await w.orders.accounts(w.account.homeAccountId), [], 'gone again');
    t.same(await w.stores.journal.claimDue(w.now() + 86_400_000, 10, 1_000), [], 'off the queue');
    const scrape = await w.metrics.registry.metrics();
    t.match(scrape, /logout_receiver_second_pass_removals_total\{app="orders-web",outcome="removed"\} 1\b/);
    t.match(scrape, /logout_receiver_logouts_total\{channel="api",state="completed"\} 1\b/, 'the logout counted once, not again by its second pass');
  });

  t.test('a re-sign-in within the window survives retries and the second pass byte for byte, reported superseded', async (t) => {
    const w = await world(t, newStores);
    const billing = w.billingStore as ReturnType<typeof breakable>;
    billing.down = true;
    const report = await w.logoutBySid();
    t.equal(report.state, 'pending');
    w.tick(10);
    // The user signs in again: new tokens in both apps, a new session.
    await w.orders.signIn({ ...w.user, sid: 's2' });
    await w.billing.signIn({ ...w.user, sid: 's2' });
    const again = await w.register(w.orders.clientId, 's2');
    const after = w.partitions();
    billing.down = false;
    w.tick(RETRY.maxDelayMs);
    await w.svc.runDue();
    const retried = (await w.stores.journal.get(report.id))!;
    t.equal(retried.state, 'completed', 'nothing left to retry');
    t.same(outcomes(retried), { 'orders-web': ['removed', 1], 'billing-web': ['superseded', 1] });
    w.tick(SECOND_PASS_MS);
    await w.svc.runDue();
    const done = (await w.stores.journal.get(report.id))!;
    t.ok(done.secondPass?.at, 'the second pass ran');
    t.same(outcomes(done, 'secondPass'), { 'orders-web': ['superseded', 0], 'billing-web': ['superseded', 0] });
    t.same(w.partitions(), after, 'every partition byte for byte as the new sign-in left it');
    t.same(
      (await w.stores.sessions.bySid(ISSUER, 's2')).map((s) => s.id),
      [again.id],
      'the new session stays',
    );
    t.equal((await w.billing.accounts(w.account.homeAccountId)).length, 1);
  });

  t.test('a session registered after the logout was received is not ended by its first attempt, though its claim read it', async (t) => {
    const w = await world(t, newStores, { role: 'receiver' });
    const report = await w.svc.logout({ channel: 'api', target: { kind: 'sub', issuer: ISSUER, sub: 'ada' } });
    t.equal(report.state, 'pending', 'queued for a worker');
    w.tick(10);
    const later = await w.register(w.orders.clientId, 's3');
    const seen = observed(w.stores);
    await w.service(seen.stores).runDue();
    t.ok(
      seen.claims[0]?.sessions?.some((s) => s.id === later.id),
      'the claim read the later session with the others',
    );
    const done = (await w.stores.journal.get(report.id))!;
    t.equal(done.sessionsEnded, 2, 'the two sessions of before');
    t.same(
      (await w.stores.sessions.bySub(ISSUER, 'ada')).map((s) => s.id),
      [later.id],
      'the later one stays',
    );
  });

  const firstAttempts: [string, (w: Awaited<ReturnType<typeof world>>) => Promise<LogoutReport | undefined>][] = [
    ['a back-channel logout by sid', (w) => w.svc.logoutWithToken(verifiedToken({ kind: 'sid', issuer: ISSUER, sid: 's1' }))],
    ['a back-channel logout by sub', (w) => w.svc.logoutWithToken(verifiedToken({ kind: 'sub', issuer: ISSUER, sub: 'ada' }))],
    ['a front-channel logout', async (w) => (await w.svc.logoutSidAtAnyOf([ISSUER], 's1', 'frontchannel'))[0]],
    ['an API logout by sub', (w) => w.svc.logout({ channel: 'api', target: { kind: 'sub', issuer: ISSUER, sub: 'ada' } })],
  ];
  for (const [what, logout] of firstAttempts)
    t.test(`${what} is claimed for its first attempt with its target's sessions: the attempt looks none up itself`, async (t) => {
      const w = await world(t, newStores, { role: 'receiver' });
      const report = (await logout(w))!;
      const seen = observed(w.stores);
      t.equal(await w.service(seen.stores).runDue(), 1);
      t.same(
        seen.claims.map((c) => c.sessions?.map((s) => s.clientId).sort()),
        [[ORDERS_APP.clientId, BILLING_APP.clientId].sort()],
        "the claim brought the target's two sessions",
      );
      t.same(seen.lookups, [], 'no lookup by sid or sub');
      const done = (await w.stores.journal.get(report.id))!;
      t.equal(done.state, 'completed');
      t.equal(done.sessionsEnded, 2);
      t.same(await w.stores.sessions.bySub(ISSUER, 'ada'), [], 'the sessions are gone');
      t.same(await w.stores.sessions.byHomeAccountId(w.account.homeAccountId), [], 'from every index');
      t.same(await w.orders.accounts(w.account.homeAccountId), [], 'and the account from the caches');
    });

  t.test("a retry, a second pass and an API logout by sid are claimed without sessions: an API logout's first attempt marks its sid, then looks up", async (t) => {
    const w = await world(t, newStores, { role: 'receiver' });
    const billing = w.billingStore as ReturnType<typeof breakable>;
    billing.down = true;
    const seen = observed(w.stores);
    const worker = w.service(seen.stores);
    const api = await w.logoutBySid();
    await worker.runDue();
    t.same(seen.lookups, ['sid s1'], 'the API logout looked its sessions up itself');
    t.equal(await w.stores.markers.isMarked(ISSUER, 's1'), true, 'after marking its sid');
    t.equal((await w.stores.journal.get(api.id))?.state, 'pending', 'a removal failed: a retry is queued');
    billing.down = false;
    w.tick(RETRY.maxDelayMs);
    await worker.runDue();
    t.equal((await w.stores.journal.get(api.id))?.state, 'completed', 'retried');
    w.tick(SECOND_PASS_MS);
    await worker.runDue();
    t.ok((await w.stores.journal.get(api.id))?.secondPass?.at, 'the second pass ran');
    t.same(
      seen.claims.map((c) => [c.report.firstPassAt === undefined ? 'first attempt' : c.report.state === 'pending' ? 'retry' : 'second pass', c.sessions]),
      [
        ['first attempt', undefined],
        ['retry', undefined],
        ['second pass', undefined],
      ],
      'claimed three times, never with sessions',
    );
    t.same(seen.lookups, ['sid s1'], 'and neither looked up by sid');
  });

  t.test('a retry of a back-channel logout is claimed without sessions', async (t) => {
    const w = await world(t, newStores, { role: 'receiver' });
    const billing = w.billingStore as ReturnType<typeof breakable>;
    billing.down = true;
    const seen = observed(w.stores);
    const worker = w.service(seen.stores);
    const report = await w.svc.logoutWithToken(verifiedToken({ kind: 'sid', issuer: ISSUER, sid: 's1' }));
    await worker.runDue();
    billing.down = false;
    w.tick(RETRY.maxDelayMs);
    await worker.runDue();
    t.equal((await w.stores.journal.get(report.id))?.state, 'completed');
    t.same(
      seen.claims.map((c) => c.sessions?.length),
      [2, undefined],
      'its first attempt with its two sessions, its retry with none',
    );
    t.same(seen.lookups, [], 'and no lookup by sid');
  });

  t.test("a registration between a logout's admission and its claim: by the target's sid it is refused by the marker, at the target's sub before the receipt it is found and ended", async (t) => {
    const w = await world(t, newStores, { role: 'receiver' });
    const bySid = await w.svc.logoutWithToken(verifiedToken({ kind: 'sid', issuer: ISSUER, sid: 's1' }));
    await t.rejects(w.register(w.orders.clientId, 's1'), { code: 'conflict' }, 'the same sid again: refused');
    const bySub = await w.svc.logoutWithToken(verifiedToken({ kind: 'sub', issuer: ISSUER, sub: 'ada' }));
    // Registered at the very time of the receipt (not after it): this logout's to end.
    const landed = await w.register(w.orders.clientId, 's5');
    const seen = observed(w.stores);
    t.equal(await w.service(seen.stores).runDue(), 2);
    const sidDone = (await w.stores.journal.get(bySid.id))!;
    const subDone = (await w.stores.journal.get(bySub.id))!;
    t.ok(
      seen.claims.find((c) => c.report.id === bySub.id)?.sessions?.some((s) => s.id === landed.id),
      'the claim of the logout by sub found the session that landed',
    );
    t.ok(subDone.sessionIds.includes(landed.id), 'and its first attempt ended it');
    t.equal(new Set([...sidDone.sessionIds, ...subDone.sessionIds]).size, 3, 'the two sessions of before and the one that landed, ended once each');
    t.same(await w.stores.sessions.bySub(ISSUER, 'ada'), [], 'none left');
  });

  t.test('the second pass is journaled: another worker carries it out after this one is gone', async (t) => {
    const w = await world(t, newStores);
    const before = w.partitions();
    const report = await w.logoutBySid();
    await w.svc.stopWorker();
    const [key, blob] = before.billing[0]!;
    await w.billing.cacheClient.set(key, blob);
    w.tick(SECOND_PASS_MS);
    const other = w.service(await newStores(w.now));
    t.equal(await other.runDue(), 1, 'claimed by the other worker');
    const done = (await w.stores.journal.get(report.id))!;
    t.same(outcomes(done, 'secondPass'), { 'orders-web': ['not_present', 1], 'billing-web': ['removed', 1] });
    t.same(await w.billing.accounts(w.account.homeAccountId), []);
  });

  t.test('after maxAttempts a logout is failed: no longer retried, its sessions gone all the same', async (t) => {
    const w = await world(t, newStores, { maxAttempts: 3 });
    (w.billingStore as ReturnType<typeof breakable>).down = true;
    const report = await w.logoutBySid();
    for (let i = 0; i < 4; i++) {
      w.tick(SECOND_PASS_MS);
      await w.svc.runDue();
    }
    const final = (await w.stores.journal.get(report.id))!;
    t.equal(final.state, 'failed');
    t.equal(final.attempts, 3);
    t.same(await w.stores.sessions.bySid(ISSUER, 's1'), []);
    t.equal(await w.stores.journal.backlog(), 0);
    t.same(await w.stores.journal.claimDue(w.now() + 86_400_000, 10, 1_000), [], 'off the queue, second pass included');
    t.match(await w.metrics.registry.metrics(), /logout_receiver_logouts_total\{channel="api",state="failed"\} 1\b/);
  });

  t.test('a front-channel logout at several issuers marks the sid and queues the logout in one step: a worker that claims it at once finds the sid marked', async (t) => {
    const w = await world(t, newStores, { role: 'receiver' });
    const admissions: LogoutAdmission[] = [];
    const markedWhenQueued: boolean[] = [];
    // A store that queues in steps (memory) must mark first; Redis runs the one script, which calls no save.
    const save = w.stores.journal.save.bind(w.stores.journal);
    w.stores.journal.save = async (report, dueAt) => {
      if (report.target.kind === 'sid') markedWhenQueued.push(await w.stores.markers.isMarked(report.target.issuer, report.target.sid));
      return save(report, dueAt);
    };
    const admitLogout = (admission: LogoutAdmission) => (admissions.push(admission), w.stores.admitLogout(admission));
    // Several issuers (the Entra form of a template): no short marker is set before the lookup.
    const [report] = await w.service({ ...w.stores, admitLogout }).logoutSidAtAnyOf([ISSUER, 'https://other.example.test'], 's1', 'frontchannel');
    t.same(
      admissions.map((a) => [a.report.id, a.marker?.issuer, a.marker?.sid, a.replay]),
      [[report!.id, ISSUER, 's1', undefined]],
      'queued once, with its marker, in one admission (no replay record: no token)',
    );
    t.notOk(markedWhenQueued.includes(false), 'never queued before its sid is marked');
    t.equal(await w.svc.runDue(), 1);
    t.equal((await w.stores.journal.get(report!.id))?.sessionsEnded, 2);
  });

  t.test('the front channel answers once the logout is journaled and its sid marked, without waiting on a cache that does not answer', async (t) => {
    const w = await world(t, newStores, { gateOrders: true });
    const [report] = await w.svc.logoutSidAtAnyOf([ISSUER], 's1', 'frontchannel');
    t.equal(report?.state, 'pending', 'answered while the orders cache holds the sweep');
    t.equal((await w.stores.journal.get(report!.id))?.state, 'pending', 'journaled');
    t.equal(await w.stores.markers.isMarked(ISSUER, 's1'), true, 'marked');
    (w.ordersStore as ReturnType<typeof gated>).open();
    await w.svc.settled();
    t.equal((await w.stores.journal.get(report!.id))?.state, 'completed', 'carried out after');
    t.same(await w.orders.accounts(w.account.homeAccountId), []);
  });
}
