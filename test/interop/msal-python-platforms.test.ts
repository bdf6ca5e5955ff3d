import t from 'tap';
import { randomUUID } from 'node:crypto';
import { msalPython, requireMsalPython, type AccountsAnswer, type PythonStore, type PythonUser, type SigninAnswer, type SilentAnswer, type StoreReadAnswer } from '../helpers/msal-python.js';
import { postgresForTest } from '../helpers/postgres.js';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';
import { ENTRA_TEMPLATE, TENANT_A, TENANT_B, postLogoutToken, startRedisService } from '../helpers/service.js';

// The real MSAL Python signs two users in, the way a Python web app does, and its cache lands in each kind
// of store the service sweeps: a Redis string (a Python app keeping the MSAL JSON per app), a Redis hash
// laid out as ASP.NET Core's StackExchangeRedis cache lays it out, and rows of both PostgreSQL
// IDistributedCache tables. After one back-channel logout, MSAL Python reads every store back.

if (requireMsalPython(t)) {
  const redisContext = await redisForTest(t);
  const pgContext = redisContext && (await postgresForTest(t));
  if (redisContext && pgContext) {
    const { prefix } = redisContext;
    const microsoftTable = await pgContext.table('microsoft');
    const communityTable = await pgContext.table('community');
    const AUTHORITY = 'https://login.microsoftonline.com/common';
    const apps = {
      python: { clientId: randomUUID(), name: 'python-web', tokenCache: { kind: 'redis', url: REDIS_URL, key: `${prefix}py:{clientId}` } },
      hash: { clientId: randomUUID(), name: 'billing-web', tokenCache: { kind: 'redis-hash', url: REDIS_URL, key: `${prefix}billing:{homeAccountId}` } },
      pgMicrosoft: { clientId: randomUUID(), name: 'reports-web', tokenCache: { kind: 'postgres', url: pgContext.url, provider: 'microsoft', table: microsoftTable, key: '{homeAccountId}' } },
      pgCommunity: { clientId: randomUUID(), name: 'ledger-web', tokenCache: { kind: 'postgres', url: pgContext.url, provider: 'community', table: communityTable, key: 'ledger:{clientId}' } },
    };
    const svc = await startRedisService({
      storeUrl: REDIS_URL,
      prefix,
      edit: (file) => {
        file.apps = Object.values(apps).map((a) => ({ ...a, issuers: ['entra'] }));
      },
    });
    t.teardown(() => svc.close());

    const alice: PythonUser = { oid: randomUUID(), homeTenant: TENANT_A, name: 'Alice', sid: `sid-${randomUUID()}` };
    // A guest: home tenant B, signed into tenant A; MSAL's homeAccountId is oid.homeTenant.
    const bob: PythonUser = { oid: randomUUID(), homeTenant: TENANT_B, tenant: TENANT_A, name: 'Bob', sid: `sid-${randomUUID()}` };
    const aliceId = `${alice.oid}.${TENANT_A}`;
    const bobId = `${bob.oid}.${TENANT_B}`;
    const signIn = (clientId: string, users: PythonUser[]) => msalPython<SigninAnswer>({ command: 'signin', clientId, authority: AUTHORITY, users });
    const storeOf = (app: (typeof apps)[keyof typeof apps], key: string): PythonStore => {
      const c = app.tokenCache as Record<string, string>;
      return c.kind === 'postgres' ? { kind: 'postgres', url: c.url!, provider: c.provider as 'microsoft' | 'community', schema: 'public', table: c.table!, key } : { kind: c.kind as 'redis' | 'redis-hash', url: c.url!, key };
    };
    const keyOf = (app: (typeof apps)[keyof typeof apps], homeAccountId: string) => app.tokenCache.key.replace('{clientId}', app.clientId).replace('{homeAccountId}', homeAccountId);
    /** Where each user's partition is: one shared blob, or one per user (Microsoft.Identity.Web's default). */
    const partitions = (app: (typeof apps)[keyof typeof apps]) => (app.tokenCache.key.includes('{homeAccountId}') ? [keyOf(app, aliceId), keyOf(app, bobId)] : [keyOf(app, aliceId)]);

    const before = new Map<string, StoreReadAnswer>();
    t.before(async () => {
      for (const app of Object.values(apps)) {
        const shared = partitions(app).length === 1;
        const blobs = shared ? [await signIn(app.clientId, [alice, bob])] : [await signIn(app.clientId, [alice]), await signIn(app.clientId, [bob])];
        for (const [i, key] of partitions(app).entries()) {
          const store = storeOf(app, key);
          await msalPython({ command: 'store-write', store, cache: blobs[i]!.cache, ...(store.kind === 'redis' ? { ttlSeconds: 3600 } : {}) });
          before.set(`${app.name} ${key}`, await msalPython<StoreReadAnswer>({ command: 'store-read', store }));
        }
        const signedIn = blobs.flatMap((b) => b.accounts.map((a) => a.homeAccountId)).sort();
        if (JSON.stringify(signedIn) !== JSON.stringify([aliceId, bobId].sort())) throw new Error(`${app.name}: MSAL Python signed in ${signedIn}`);
        const res = await svc.app.inject({
          method: 'POST',
          url: '/v1/sessions',
          headers: svc.auth,
          payload: { clientId: app.clientId, issuer: ENTRA_TEMPLATE.replace('{tenantid}', TENANT_A), sid: alice.sid, sub: `sub-${alice.oid}`, homeAccountId: aliceId },
        });
        if (res.statusCode !== 201) throw new Error(`${app.name}: registration answered ${res.statusCode} ${res.body}`);
      }
    });

    t.test('GET /v1/apps shows each app with its kind of token cache, and no store URL', async (t) => {
      const res = await svc.app.inject({ url: '/v1/apps', headers: svc.auth });
      t.same(
        (res.json() as { name: string; tokenCache: { kind: string } }[]).map((a) => [a.name, a.tokenCache.kind]),
        Object.values(apps).map((a) => [a.name, a.tokenCache.kind]),
      );
      t.notMatch(res.body, /redis:\/\/|postgres(ql)?:\/\//, 'no URL');
    });

    t.test('one back-channel logout: MSAL Python finds no alice in any kind of store, and still serves bob from its cache without a token request', async (t) => {
      const token = await svc.provider.sign(svc.provider.claims(ENTRA_TEMPLATE.replace('{tenantid}', TENANT_A), [apps.python.clientId], { sid: alice.sid, tid: TENANT_A }));
      t.equal((await postLogoutToken(svc.app, token)).statusCode, 200);
      for (const app of Object.values(apps)) {
        for (const key of partitions(app)) {
          const store = storeOf(app, key);
          const read = await msalPython<StoreReadAnswer>({ command: 'store-read', store });
          const was = before.get(`${app.name} ${key}`)!;
          if (key === keyOf(app, aliceId) && partitions(app).length > 1) {
            t.equal(read.cache, null, `${app.name}: alice's own partition is deleted`);
            continue;
          }
          t.ok(read.cache, `${app.name} ${key}: the partition is there`);
          const { accounts } = await msalPython<AccountsAnswer>({ command: 'accounts', clientId: app.clientId, authority: AUTHORITY, caches: [read.cache!] });
          t.same(accounts[0], [bobId], `${app.name}: get_accounts() lists bob alone`);
          t.notOk(read.cache!.toLowerCase().includes(alice.oid.toLowerCase()), `${app.name}: no entry of alice is left in the blob`);
          const silent = await msalPython<SilentAnswer>({ command: 'silent', clientId: app.clientId, authority: AUTHORITY, cache: read.cache!, homeAccountId: bobId, scopes: ['User.Read'] });
          t.same(silent, { found: true, fromCache: true, tokenRequests: 0 }, `${app.name}: acquire_token_silent serves bob from the cache`);
          const gone = await msalPython<SilentAnswer>({ command: 'silent', clientId: app.clientId, authority: AUTHORITY, cache: read.cache!, homeAccountId: aliceId, scopes: ['User.Read'] });
          t.equal(gone.found, false, `${app.name}: alice is not an account of MSAL Python any more`);
          if (read.fields) t.same(read.fields, was.fields, `${app.name}: the hash's absexp and sldexp are untouched`);
          if (read.row) t.same(read.row, was.row, `${app.name}: the row's expiry columns are untouched`);
          if (read.ttl !== undefined) t.ok(read.ttl > 3000, `${app.name}: the key keeps its TTL`);
        }
      }
    });
  }
}
