import t from 'tap';
import { resolveConfig } from '../../src/config/load.js';
import { TokenCacheSweeper, partitionKey } from '../../src/core/token-cache-sweeper.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { FakeEntra, MsalWebApp } from '../../simulators/msal-app.js';
import { ORDERS, TENANT_A, testConfigFile } from '../helpers/service.js';
import { CACHE_FORMATS } from '../../src/cache-formats/formats.js';

const OID = 'aaaaaaaa-0000-4000-8000-000000000001';
const HOME = `${OID}.${TENANT_A}`;

t.test('partition keys fill every placeholder of the template', async (t) => {
  t.equal(partitionKey('{homeAccountId}', 'c', HOME), HOME);
  t.equal(partitionKey('msal:{clientId}:{homeAccountId}', 'c', HOME), `msal:c:${HOME}`);
  t.equal(partitionKey('{tenantId}/{oid}', 'c', HOME), `${TENANT_A}/${OID}`);
  t.equal(partitionKey('s:{cacheKey}', 'c', HOME, 'k1'), 's:k1');
  t.equal(partitionKey('s:{cacheKey}', 'c', HOME), undefined, 'no key without the cacheKey it needs');
  t.equal(partitionKey('b2c:{oid}', 'c', 'oid-b2c_1_susi.tid'), 'b2c:oid-b2c_1_susi', 'oid is what precedes the last dot');
  t.equal(partitionKey('shared', 'c', HOME), 'shared');
});

/** One app with a real msal-node cache holding two accounts in one shared partition. */
async function sharedPartition() {
  const config = resolveConfig(testConfigFile('https://idp.example.test/jwks'));
  const app = { ...config.apps[0]!, tokenCache: { kind: 'memory' as const, key: 'shared' } };
  const store = new MemoryTokenCacheStore();
  const web = new MsalWebApp(ORDERS, 'shared', store, new FakeEntra());
  const alice = await web.signIn({ oid: OID, homeTenant: TENANT_A, name: 'Alice', sid: 's1' });
  const bob = await web.signIn({ oid: 'bbbbbbbb-0000-4000-8000-000000000002', homeTenant: TENANT_A, name: 'Bob', sid: 's2' });
  return { app, store, web, alice, bob };
}

t.test('an app that writes between our read and our write is not lost, and does not bring the account back', async (t) => {
  const { app, store, web, alice, bob } = await sharedPartition();
  // The app's concurrent write: it refreshes Bob's token right after we read the partition.
  let raced = false;
  const racing = Object.assign(Object.create(store) as MemoryTokenCacheStore, {
    async get(key: string) {
      const blob = await store.get(key);
      if (!raced) {
        raced = true;
        const parsed = JSON.parse(blob!);
        parsed.AppMetadata['appmetadata-login.windows.net-bob-wrote-this'] = { client_id: ORDERS, environment: 'login.windows.net' };
        await store.set(key, JSON.stringify(parsed));
      }
      return blob;
    },
  });
  const sweeper = new TokenCacheSweeper([{ app, store: racing }], { formats: CACHE_FORMATS });
  const [removal] = await sweeper.sweep([{ homeAccountId: alice.homeAccountId, cacheKeys: new Map() }]);
  t.equal(removal!.outcome, 'removed');
  const final = JSON.parse((await store.get('shared'))!);
  t.ok(final.AppMetadata['appmetadata-login.windows.net-bob-wrote-this'], "the app's concurrent write survived");
  const accounts = (await web.accounts(bob.homeAccountId)).map((a) => a.homeAccountId);
  t.same(accounts, [bob.homeAccountId], 'alice is gone, bob remains');
});

t.test('a partition that keeps changing fails after bounded attempts and is not overwritten', async (t) => {
  const { app, store, alice } = await sharedPartition();
  let writes = 0;
  const busy = Object.assign(Object.create(store) as MemoryTokenCacheStore, {
    async get(key: string) {
      const blob = await store.get(key);
      const parsed = JSON.parse(blob!);
      parsed.AppMetadata[`appmetadata-${++writes}`] = {};
      await store.set(key, JSON.stringify(parsed));
      return blob;
    },
  });
  const [removal] = await new TokenCacheSweeper([{ app, store: busy }], { formats: CACHE_FORMATS, maxConflicts: 3 }).sweep([{ homeAccountId: alice.homeAccountId, cacheKeys: new Map() }]);
  t.equal(removal!.outcome, 'failed');
  t.match(removal!.detail, /3 attempts/);
  t.equal(writes, 3);
  t.match(await store.get('shared'), alice.homeAccountId, 'nothing was written by us');
});

t.test('a partition an app writes in a burst longer than ten attempts is still removed once the burst ends', async (t) => {
  const { app, store, web, alice, bob } = await sharedPartition();
  // An app busy with the shared partition: it writes after each of our first 15 reads, so our write conflicts.
  let writes = 0;
  const bursty = Object.assign(Object.create(store) as MemoryTokenCacheStore, {
    async get(key: string) {
      const blob = await store.get(key);
      if (writes < 15) {
        const parsed = JSON.parse(blob!);
        parsed.AppMetadata[`appmetadata-${++writes}`] = {};
        await store.set(key, JSON.stringify(parsed));
      }
      return blob;
    },
  });
  const [removal] = await new TokenCacheSweeper([{ app, store: bursty }], { formats: CACHE_FORMATS }).sweep([{ homeAccountId: alice.homeAccountId, cacheKeys: new Map() }]);
  t.equal(removal!.outcome, 'removed', 'the removal outlasted the burst');
  t.equal(writes, 15);
  const final = JSON.parse((await store.get('shared'))!);
  t.ok(final.AppMetadata['appmetadata-15'], "the app's last write survived");
  t.same(
    (await web.accounts(bob.homeAccountId)).map((a) => a.homeAccountId),
    [bob.homeAccountId],
    'alice is gone, bob remains',
  );
});

t.test('a store error fails that removal only; the next app is still swept', async (t) => {
  const { app, store, alice } = await sharedPartition();
  const broken = Object.assign(Object.create(store) as MemoryTokenCacheStore, {
    async get(): Promise<string | null> {
      throw new Error('ECONNREFUSED 127.0.0.1:6379');
    },
  });
  const second = { ...app, clientId: 'second', name: 'second-web' };
  const removals = await new TokenCacheSweeper(
    [
      { app, store: broken },
      { app: second, store },
    ],
    { formats: CACHE_FORMATS },
  ).sweep([{ homeAccountId: alice.homeAccountId, cacheKeys: new Map() }]);
  t.match(removals[0], { app: 'orders-web', outcome: 'failed', detail: /ECONNREFUSED/ });
  t.match(removals[1], { app: 'second-web', outcome: 'removed' });
});

t.test('an absent partition is not_present', async (t) => {
  const { app } = await sharedPartition();
  const [removal] = await new TokenCacheSweeper([{ app, store: new MemoryTokenCacheStore() }], { formats: CACHE_FORMATS }).sweep([{ homeAccountId: HOME, cacheKeys: new Map() }]);
  t.match(removal, { outcome: 'not_present', partitionKey: 'shared' });
});
