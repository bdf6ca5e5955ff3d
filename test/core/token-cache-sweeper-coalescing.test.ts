import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { resolveConfig } from '../../src/config/load.js';
import { TokenCacheSweeper } from '../../src/core/token-cache-sweeper.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { RedisTokenCacheStore } from '../../src/token-caches/redis.js';
import { updateByCompareAndSet, type CompareAndSetStore, type PartitionUpdate, type TokenCacheStore } from '../../src/core/token-cache.js';
import { FakeEntra, MsalWebApp } from '../../simulators/msal-app.js';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';
import { ORDERS, TENANT_A, testConfigFile } from '../helpers/service.js';
import { CACHE_FORMATS } from '../../src/cache-formats/formats.js';

type Backing = TokenCacheStore & CompareAndSetStore & { set(key: string, value: string): Promise<void> };

/** The real store, counting the sweeper's reads and writes (an update is a read and a compare-and-set here); hooks let a test act around them. */
class CountingStore implements TokenCacheStore {
  gets = 0;
  writes = 0;
  beforeGet?: (n: number) => Promise<void> | void;
  beforeWrite?: (n: number) => Promise<void> | void;
  constructor(readonly inner: Backing) {}
  async get(key: string): Promise<string | null> {
    this.gets++;
    await this.beforeGet?.(this.gets);
    return this.inner.get(key);
  }
  async compareAndSet(key: string, expected: string, next: string | null): Promise<boolean> {
    this.writes++;
    await this.beforeWrite?.(this.writes);
    return this.inner.compareAndSet(key, expected, next);
  }
  readForUpdate(key: string): Promise<PartitionUpdate> {
    return updateByCompareAndSet(this, key);
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

const config = resolveConfig(testConfigFile('https://idp.example.test/jwks'));
const sharedApp = { ...config.apps[0]!, tokenCache: { kind: 'memory' as const, key: 'shared' } };
const oid = (n: number) => `0000000${n}-0000-4000-8000-00000000000${n}`;

/** One app keeping every account in one partition, written by msal-node as `n` users signed in, plus a user who stays. */
async function sharedPartition(n: number, inner: Backing = new MemoryTokenCacheStore(), key = 'shared') {
  const app = { ...sharedApp, tokenCache: { ...sharedApp.tokenCache, key } };
  const web = new MsalWebApp(ORDERS, key, inner, new FakeEntra());
  const ids: string[] = [];
  for (let i = 1; i <= n; i++) ids.push((await web.signIn({ oid: oid(i), homeTenant: TENANT_A, name: `User${i}`, sid: `s${i}` })).homeAccountId);
  const stays = await web.signIn({ oid: 'aaaaaaaa-0000-4000-8000-000000000999', homeTenant: TENANT_A, name: 'Stays', sid: 'stays' });
  const store = new CountingStore(inner);
  return { inner, store, web, ids, stays, sweeper: new TokenCacheSweeper([{ app, store }], { formats: CACHE_FORMATS }) };
}

const sweepOne = (sweeper: TokenCacheSweeper, homeAccountId: string) => sweeper.sweep([{ homeAccountId, cacheKeys: new Map() }]);

async function concurrentSweeps(t: Test, inner?: Backing, key?: string) {
  const { store, web, ids, stays, sweeper } = await sharedPartition(6, inner, key);
  const absent = `${oid(8)}.${TENANT_A}`;
  const results = await Promise.all([...ids, absent].map((id) => sweepOne(sweeper, id)));
  t.equal(store.gets, 1, 'one read');
  t.equal(store.writes, 1, 'one compare-and-set');
  results.slice(0, ids.length).forEach((removals, i) => {
    t.same(removals, [{ clientId: ORDERS, app: sharedApp.name, homeAccountId: ids[i], partitionKey: key ?? 'shared', outcome: 'removed', removedEntries: 4, partitionDeleted: false }]);
  });
  t.match(results[ids.length], [{ homeAccountId: absent, outcome: 'not_present' }], 'the absent account is reported as such, in the same round');
  t.same(
    (await web.accounts(stays.homeAccountId)).map((a) => a.homeAccountId),
    [stays.homeAccountId],
    'only the user who stays is left',
  );
}

t.test('concurrent sweeps on one shared partition are one read and one compare-and-set; each caller gets its own outcome', async (t) => {
  await t.test('memory store', (t) => concurrentSweeps(t));
  await t.test('Redis store', async (t) => {
    const ctx = await redisForTest(t);
    if (!ctx) return;
    const store = new RedisTokenCacheStore(new Redis(REDIS_URL));
    t.teardown(() => store.close());
    await concurrentSweeps(t, store, `${ctx.prefix}shared`);
  });
});

t.test('removals asked while a round runs join the next round', async (t) => {
  const { store, web, ids, stays, sweeper } = await sharedPartition(4);
  let later: Promise<unknown> | undefined;
  store.beforeGet = (n) => {
    // While the first round reads, three more logouts arrive: they make up the second round together.
    if (n === 1) later = Promise.all(ids.slice(1).map((id) => sweepOne(sweeper, id)));
  };
  const [first] = await sweepOne(sweeper, ids[0]!);
  const rest = (await later) as { outcome: string }[][];
  t.equal(first!.outcome, 'removed');
  t.same(
    rest.map(([r]) => r!.outcome),
    ['removed', 'removed', 'removed'],
  );
  t.equal(store.gets, 2, 'two rounds: two reads');
  t.equal(store.writes, 2, 'two compare-and-sets');
  t.same(
    (await web.accounts(stays.homeAccountId)).map((a) => a.homeAccountId),
    [stays.homeAccountId],
  );
});

t.test("an app's write during a coalesced round makes the whole round retry, and it succeeds without losing the write", async (t) => {
  const { inner, store, web, ids, stays, sweeper } = await sharedPartition(3);
  store.beforeWrite = async (n) => {
    if (n !== 1) return;
    const parsed = JSON.parse((await inner.get('shared'))!);
    parsed.AppMetadata['appmetadata-login.windows.net-written-meanwhile'] = { client_id: ORDERS, environment: 'login.windows.net' };
    await inner.set('shared', JSON.stringify(parsed));
  };
  const results = await Promise.all(ids.map((id) => sweepOne(sweeper, id)));
  t.same(
    results.map(([r]) => r!.outcome),
    ['removed', 'removed', 'removed'],
  );
  t.equal(store.gets, 2, 'read again after the conflict');
  t.equal(store.writes, 2, 'the second compare-and-set wins');
  t.ok(JSON.parse((await inner.get('shared'))!).AppMetadata['appmetadata-login.windows.net-written-meanwhile'], "the app's write survived");
  t.same(
    (await web.accounts(stays.homeAccountId)).map((a) => a.homeAccountId),
    [stays.homeAccountId],
  );
});

t.test('a failing store makes every caller of the round see failed, and nothing is written', async (t) => {
  for (const failing of ['get', 'compareAndSet'] as const) {
    const { inner, store, ids, sweeper } = await sharedPartition(3);
    const before = await inner.get('shared');
    const fail = () => {
      throw new Error('ECONNREFUSED 127.0.0.1:6379');
    };
    if (failing === 'get') store.beforeGet = fail;
    else store.beforeWrite = fail;
    const results = await Promise.all(ids.map((id) => sweepOne(sweeper, id)));
    t.same(
      results.map(([r]) => [r!.homeAccountId, r!.outcome, r!.detail]),
      ids.map((id) => [id, 'failed', 'cannot remove: ECONNREFUSED 127.0.0.1:6379']),
      `${failing} fails`,
    );
    t.equal(store.gets, 1, 'one round');
    t.equal(await inner.get('shared'), before, 'the partition is as it was');
  }
});

t.test('apps are swept at once, and the removals still come in app order, then account order', async (t) => {
  const { inner, ids } = await sharedPartition(2);
  const slow = new CountingStore(inner);
  const fast = new CountingStore(new MemoryTokenCacheStore());
  const second = { ...sharedApp, clientId: 'second', name: 'second-web' };
  let overlapped = false;
  slow.beforeGet = async () => {
    // Swept in turn, the second app would not be read before the first app's removal ends.
    await new Promise((resolve) => setImmediate(resolve));
    overlapped = fast.gets > 0;
  };
  const removals = await new TokenCacheSweeper(
    [
      { app: sharedApp, store: slow },
      { app: second, store: fast },
    ],
    { formats: CACHE_FORMATS },
  ).sweep(ids.map((homeAccountId) => ({ homeAccountId, cacheKeys: new Map() })));
  t.same(
    removals.map((r) => [r.app, r.homeAccountId, r.outcome]),
    [
      [sharedApp.name, ids[0], 'removed'],
      [sharedApp.name, ids[1], 'removed'],
      ['second-web', ids[0], 'not_present'],
      ['second-web', ids[1], 'not_present'],
    ],
  );
  t.ok(overlapped, "the second app's partition was read while the first app's removal ran");
  t.equal(slow.gets, 1, "one sweep's accounts in one partition are one round too");
});
