import t from 'tap';
import { resolveConfig } from '../../src/config/load.js';
import { Conflict, StoreUnavailable } from '../../src/core/errors.js';
import type { VerifiedLogoutToken } from '../../src/core/verify-logout-token.js';
import { LogoutService } from '../../src/core/logout-service.js';
import type { LogoutReport } from '../../src/core/model.js';
import { TokenCacheSweeper } from '../../src/core/token-cache-sweeper.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import type { ServiceStores } from '../../src/core/service-stores.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { FakeEntra, MsalWebApp } from '../../simulators/msal-app.js';
import { ISSUER, ORDERS, TENANT_A, testConfigFile, until } from '../helpers/service.js';
import { CACHE_FORMATS } from '../../src/cache-formats/formats.js';

const app = resolveConfig(testConfigFile('https://idp.example.test/jwks')).apps[0]!;

/** A token-cache store that fails its first `failures` reads: an outage the memory store cannot have. */
function flaky(store: MemoryTokenCacheStore, failures: number): MemoryTokenCacheStore & { reads: number } {
  let left = failures;
  const wrapper = Object.assign(Object.create(store) as MemoryTokenCacheStore, {
    reads: 0,
    async get(key: string) {
      wrapper.reads++;
      if (left-- > 0) throw new Error('ECONNREFUSED');
      return store.get(key);
    },
  });
  return wrapper;
}

async function setup(failures: number, retry = { baseDelayMs: 1, maxDelayMs: 1, maxAttempts: 5, leaseMs: 1 }) {
  const stores = createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 });
  const cache = new MemoryTokenCacheStore();
  const web = new MsalWebApp(ORDERS, app.tokenCache.key, cache, new FakeEntra());
  const account = await web.signIn({ oid: 'aaaaaaaa-0000-4000-8000-000000000001', homeTenant: TENANT_A, name: 'A', sid: 's' });
  const attempts: LogoutReport[] = [];
  const service = new LogoutService({
    stores,
    sweeper: new TokenCacheSweeper([{ app, store: flaky(cache, failures) }], { formats: CACHE_FORMATS }),
    markerTtlMs: 60_000,
    unmatchedMarkerTtlMs: 10_000,
    clockSkewSeconds: 120,
    retry,
    onAttempt: (report) => attempts.push(structuredClone(report)),
  });
  return { stores, cache, web, account, service, attempts };
}

t.test('a logout whose token cache is down stays pending, and the worker retries it until done', async (t) => {
  const { service, account, web, stores, attempts } = await setup(2);
  const first = await service.logout({ channel: 'api', target: { kind: 'account', homeAccountId: account.homeAccountId } });
  t.equal(first.state, 'pending');
  t.match(first.lastError, /ECONNREFUSED/);
  t.equal(await stores.journal.backlog(), 1, 'queued');
  while ((await stores.journal.get(first.id))!.state === 'pending') await service.runDue();
  const done = (await stores.journal.get(first.id))!;
  t.equal(done.state, 'completed');
  t.equal(done.attempts, 3, 'two failures, then success');
  t.equal(done.lastError, undefined);
  t.equal(await stores.journal.backlog(), 0, 'off the queue');
  t.same(await web.accounts(account.homeAccountId), []);
  t.same(
    attempts.map((a) => a.state),
    ['pending', 'pending', 'completed'],
  );
});

t.test('after maxAttempts a logout is failed and no longer retried', async (t) => {
  const { service, account, stores } = await setup(100, { baseDelayMs: 1, maxDelayMs: 1, maxAttempts: 3, leaseMs: 1 });
  const report = await service.logout({ channel: 'api', target: { kind: 'account', homeAccountId: account.homeAccountId } });
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2)); // past the 1 ms backoff
    await service.runDue();
  }
  const final = (await stores.journal.get(report.id))!;
  t.equal(final.state, 'failed');
  t.equal(final.attempts, 3);
  t.equal(await stores.journal.backlog(), 0);
});

t.test('a queued logout whose report is gone is taken off the queue', async (t) => {
  const { service, stores } = await setup(0);
  await stores.journal.save({ id: 'orphan', state: 'pending', channel: 'api', target: { kind: 'account', homeAccountId: 'x.y' }, receivedAt: new Date().toISOString(), attempts: 0, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] }, 0);
  // What the report's expiry does in the store.
  (stores.journal as unknown as { reports: { delete(id: string): void } }).reports.delete('orphan');
  await service.runDue();
  t.equal(await stores.journal.backlog(), 0);
});

t.test('a logout that lands between the marker check and the write of a registration still refuses it', async (t) => {
  const { service, stores } = await setup(0);
  const add = stores.sessions.add.bind(stores.sessions);
  stores.sessions.add = async (s) => {
    const added = await add(s);
    await service.logout({ channel: 'api', target: { kind: 'sid', issuer: ISSUER, sid: 'racing' } });
    return added;
  };
  await t.rejects(service.register({ clientId: ORDERS, issuer: ISSUER, sid: 'racing', sub: 'u', homeAccountId: 'h.t', expiresAt: new Date(Date.now() + 60_000).toISOString() }), Conflict);
  t.same(await stores.sessions.bySid(ISSUER, 'racing'), [], 'no session left behind');
});

/** A token-cache store whose reads wait until `open()`: a first attempt held in the middle of its sweep. */
function gated(store: MemoryTokenCacheStore): MemoryTokenCacheStore & { open(): void; waiting: number } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const wrapper = Object.assign(Object.create(store) as MemoryTokenCacheStore, {
    open,
    waiting: 0,
    async get(key: string) {
      wrapper.waiting++;
      await gate;
      wrapper.waiting--;
      return store.get(key);
    },
  });
  return wrapper;
}

async function backchannelSetup(maxInBackground?: number, backgroundConcurrency?: number) {
  const stores = createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 });
  const cache = new MemoryTokenCacheStore();
  const web = new MsalWebApp(ORDERS, app.tokenCache.key, cache, new FakeEntra());
  const account = await web.signIn({ oid: 'aaaaaaaa-0000-4000-8000-000000000002', homeTenant: TENANT_A, name: 'B', sid: 'bc' });
  const store = gated(cache);
  const service = new LogoutService({
    stores,
    sweeper: new TokenCacheSweeper([{ app, store }], { formats: CACHE_FORMATS }),
    markerTtlMs: 60_000,
    unmatchedMarkerTtlMs: 10_000,
    clockSkewSeconds: 120,
    ...(maxInBackground === undefined ? {} : { maxInBackground }),
    ...(backgroundConcurrency === undefined ? {} : { backgroundConcurrency }),
  });
  const expiresAt = new Date(Date.now() + 60_000).toISOString();
  await service.register({ clientId: ORDERS, issuer: ISSUER, sid: 'bc', sub: 'u', homeAccountId: account.homeAccountId, expiresAt });
  const token = (jti: string, sid = 'bc') => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    return { iss: ISSUER, sid, jti, exp, validUntil: exp, aud: [ORDERS] } as unknown as VerifiedLogoutToken;
  };
  return { stores, web, account, store, service, token, expiresAt };
}

t.test('a back-channel logout is answered once it is journaled and its sid marked, and carried out after', async (t) => {
  const { stores, web, account, store, service, token, expiresAt } = await backchannelSetup();
  const answered = await service.logoutWithToken(token('j1'));
  t.equal(answered.state, 'pending', 'answered before its first attempt finished');
  t.equal((await stores.journal.get(answered.id))?.state, 'pending', 'journaled');
  t.equal(await stores.journal.backlog(), 1, 'queued for a worker should this process die');
  await t.rejects(service.register({ clientId: ORDERS, issuer: ISSUER, sid: 'bc', sub: 'u', homeAccountId: account.homeAccountId, expiresAt }), Conflict, 'a registration after the answer is refused');
  t.equal((await web.accounts(account.homeAccountId)).length, 1, 'the sweep is held at the gate');
  store.open();
  await service.settled();
  const done = (await stores.journal.get(answered.id))!;
  t.equal(done.state, 'completed');
  t.equal(done.sessionsEnded, 1);
  t.equal(await stores.journal.backlog(), 0);
  t.same(await web.accounts(account.homeAccountId), []);
  t.same([answered.state, answered.attempts, answered.sessionIds, answered.accounts, answered.removals, answered.completedAt], ['pending', 0, [], [], [], undefined], 'the answer is a copy: the attempt after it did not change it');
});

t.test('beyond maxInBackground logouts under way, a back-channel answer waits for its own first attempt', async (t) => {
  const { store, service, token } = await backchannelSetup(1);
  t.equal((await service.logoutWithToken(token('j1'))).state, 'pending');
  let second: string | undefined;
  const waiting = service.logoutWithToken(token('j2')).then((r) => (second = r.state));
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(second, undefined, 'not answered while the first is still under way');
  store.open();
  await waiting;
  t.equal(second, 'completed');
});

t.test('stopping waits for the back-channel logouts answered before (graceful shutdown)', async (t) => {
  const { stores, store, service, token } = await backchannelSetup();
  const answered = await service.logoutWithToken(token('j1'));
  let stopped = false;
  const stopping = service.stopWorker().then(() => (stopped = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(stopped, false, 'still carrying out the answered logout');
  store.open();
  await stopping;
  t.equal((await stores.journal.get(answered.id))?.state, 'completed');
});

t.test('a back-channel logout that cannot be journaled is refused and its jti forgotten, so the provider may retry', async (t) => {
  const { stores, service, token } = await backchannelSetup();
  const save = stores.journal.save.bind(stores.journal);
  stores.journal.save = async () => {
    throw new Error('ECONNREFUSED');
  };
  await t.rejects(service.logoutWithToken(token('j1')), StoreUnavailable);
  stores.journal.save = save;
  t.equal((await service.logoutWithToken(token('j1'))).state, 'pending', 'the same jti is taken once the store is back');
});

t.test('answered back-channel logouts are worked on backgroundConcurrency at a time; the others wait their turn, answered all the same', async (t) => {
  const { stores, web, store, service, token, expiresAt } = await backchannelSetup(undefined, 1);
  // A second user in a partition of their own, so the two removals are not coalesced into one round.
  const other = await web.signIn({ oid: 'aaaaaaaa-0000-4000-8000-000000000003', homeTenant: TENANT_A, name: 'C', sid: 'bc2' });
  await service.register({ clientId: ORDERS, issuer: ISSUER, sid: 'bc2', sub: 'u2', homeAccountId: other.homeAccountId, expiresAt });
  const first = await service.logoutWithToken(token('j1'));
  const second = await service.logoutWithToken(token('j2', 'bc2'));
  t.same([first.state, second.state], ['pending', 'pending'], 'both answered');
  // Memory stores only: every step settles within a few turns of the event loop; give it plenty.
  for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
  t.equal(store.waiting, 1, 'one first attempt at the token cache, the other waiting its turn');
  store.open();
  await service.settled();
  t.same([(await stores.journal.get(first.id))?.state, (await stores.journal.get(second.id))?.state], ['completed', 'completed']);
  t.same(await web.accounts(other.homeAccountId), []);
});

/** The same stores, every call told to `calls` as `<label> <store>.<method>`. */
t.test('a session ended by someone else while its logout is under way is not counted by that logout (completeLogout wrote nothing)', async (t) => {
  const { stores, store, service, token } = await backchannelSetup();
  const answered = await service.logoutWithToken(token('ended-meanwhile'));
  await until(async () => store.waiting > 0);
  const [session] = await stores.sessions.bySid(ISSUER, 'bc');
  t.equal(await stores.sessions.remove(session!.id), true, 'the API ends the session during the sweep');
  store.open();
  await service.settled();
  const done = (await stores.journal.get(answered.id))!;
  t.equal(done.state, 'completed');
  t.same([done.sessionsEnded, done.sessionIds], [0, []], 'the logout ended none of them');
  t.equal(await stores.journal.backlog(), 0, 'and left the queue');
});

function recorded(stores: ServiceStores, label: string, calls: string[]): ServiceStores {
  const wrap = <T extends object>(name: string, store: T): T =>
    new Proxy(store, {
      get: (target, method, receiver) => {
        const value = Reflect.get(target, method, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(`${label} ${name}.${String(method)}`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const admitLogout: ServiceStores['admitLogout'] = (admission) => {
    calls.push(`${label} admitLogout`);
    return stores.admitLogout(admission);
  };
  const completeLogout: ServiceStores['completeLogout'] = (report, sessions, dueAt) => {
    calls.push(`${label} completeLogout`);
    return stores.completeLogout(report, sessions, dueAt);
  };
  return { ...stores, admitLogout, completeLogout, sessions: wrap('sessions', stores.sessions), replay: wrap('replay', stores.replay), markers: wrap('markers', stores.markers), journal: wrap('journal', stores.journal) };
}

t.test('an answer waits only on the answers’ stores; the attempt after it and the worker use the attempts’ stores', async (t) => {
  const shared = createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 });
  const calls: string[] = [];
  const cache = new MemoryTokenCacheStore();
  const web = new MsalWebApp(ORDERS, app.tokenCache.key, cache, new FakeEntra());
  const account = await web.signIn({ oid: 'aaaaaaaa-0000-4000-8000-000000000003', homeTenant: TENANT_A, name: 'C', sid: 'split' });
  const store = gated(cache);
  const service = new LogoutService({
    stores: recorded(shared, 'answers', calls),
    attemptStores: recorded(shared, 'attempts', calls),
    sweeper: new TokenCacheSweeper([{ app, store }], { formats: CACHE_FORMATS }),
    markerTtlMs: 60_000,
    unmatchedMarkerTtlMs: 10_000,
    clockSkewSeconds: 120,
    retry: { baseDelayMs: 1, maxDelayMs: 1, maxAttempts: 5, leaseMs: 1 },
  });
  const expiresAt = new Date(Date.now() + 60_000).toISOString();
  await service.register({ clientId: ORDERS, issuer: ISSUER, sid: 'split', sub: 'u', homeAccountId: account.homeAccountId, expiresAt });
  calls.length = 0;

  const answered = await service.logoutWithToken({ iss: ISSUER, sid: 'split', jti: 'split-1', exp: Math.floor(Date.now() / 1000) + 60, aud: [ORDERS] } as unknown as VerifiedLogoutToken);
  t.equal(answered.state, 'pending', 'answered before the attempt finished');
  store.open();
  await service.settled();
  const through = (label: string) => calls.filter((c) => c.startsWith(`${label} `)).map((c) => c.slice(label.length + 1));
  t.same(through('answers'), ['admitLogout'], 'the answer: replay record, journal and marker in one step; nothing else went through the answers’ stores');
  const attempt = through('attempts');
  t.same(attempt, ['sessions.bySid', 'completeLogout'], 'the attempt: the lookup, then the sessions’ deletion with the completion in one step, through the attempts’ stores');
  t.equal((await shared.journal.get(answered.id))?.state, 'completed');
  t.same(await web.accounts(account.homeAccountId), []);

  calls.length = 0;
  await service.runDue();
  t.ok(calls.length > 0 && calls.every((c) => c.startsWith('attempts ')), 'the worker: the attempts’ stores');
});
