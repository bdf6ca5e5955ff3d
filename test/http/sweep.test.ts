import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { AccountInfo } from '@azure/msal-node';
import { BILLING, ENTRA_TEMPLATE, ORDERS, TENANT_A, TENANT_B, postLogoutToken, startService } from '../helpers/service.js';
import { FakeEntra, MsalWebApp, type EntraUser } from '../../simulators/msal-app.js';

// Three apps as users deploy them: a partition per account and app, a partition per account, and one
// shared partition holding every account; plus an app that partitions by its own session key.
const REPORTS = '3f1c2a9e-5d4b-4c3a-8b2a-1e0f9d8c7b6a';
const PORTAL = '5a6b7c8d-1111-4222-8333-944455566677';
const svc = await startService((f) => {
  f.apps.push({ clientId: REPORTS, name: 'reports-web', issuers: ['entra'], tokenCache: { kind: 'memory', key: 'reports:all-users' } });
  f.apps.push({ clientId: PORTAL, name: 'portal-web', issuers: ['entra'], tokenCache: { kind: 'memory', key: 'portal:{cacheKey}' } });
});
t.teardown(() => svc.close());
const entraA = ENTRA_TEMPLATE.replace('{tenantid}', TENANT_A);
const entra = new FakeEntra();
const apps = svc.config.apps.map((a) => new MsalWebApp(a.clientId, a.tokenCache.key, svc.caches.get(a.clientId)!, entra));

const user = (name: string, homeTenant = TENANT_A, tenant = TENANT_A): EntraUser => ({ oid: randomUUID(), homeTenant, tenant, name, sid: `sid-${randomUUID()}` });

interface SignedIn {
  user: EntraUser;
  accounts: Map<string, AccountInfo>;
  cacheKey: string;
}

/** Signs the user into every app with msal-node and registers each session as the apps do. */
async function signInEverywhere(u: EntraUser): Promise<SignedIn> {
  const accounts = new Map<string, AccountInfo>();
  const cacheKey = `web-session-${randomUUID()}`;
  for (const app of apps) {
    const account = await app.signIn(u, app.clientId === PORTAL ? cacheKey : undefined);
    accounts.set(app.clientId, account);
    const claims = account.idTokenClaims as { iss: string; sub: string; sid: string };
    const res = await svc.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: svc.auth,
      payload: {
        clientId: app.clientId,
        issuer: claims.iss,
        sid: claims.sid,
        sub: claims.sub,
        homeAccountId: account.homeAccountId,
        ...(app.clientId === PORTAL ? { cacheKey } : {}),
      },
    });
    if (res.statusCode !== 201) throw new Error(res.body);
  }
  return { user: u, accounts, cacheKey };
}

const cacheKeyFor = (app: MsalWebApp, s: SignedIn) => (app.clientId === PORTAL ? s.cacheKey : undefined);

/** Every cache entry of the account, across every app's partitions. */
function entriesOf(homeAccountId: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const [clientId, store] of svc.caches)
    for (const [key, blob] of store.partitions) {
      const parsed = JSON.parse(blob) as Record<string, Record<string, { home_account_id?: string }>>;
      for (const section of ['Account', 'IdToken', 'AccessToken', 'RefreshToken'])
        for (const [entryKey, entry] of Object.entries(parsed[section] ?? {})) if (entry.home_account_id?.toLowerCase() === homeAccountId.toLowerCase()) found.set(`${clientId} ${key} ${entryKey}`, JSON.stringify(entry));
    }
  return found;
}

t.test('a back-channel logout removes the account and all its tokens from every app; other accounts are untouched', async (t) => {
  const alice = await signInEverywhere(user('Alice'));
  const bob = await signInEverywhere(user('Bob'));
  const aliceId = alice.accounts.get(ORDERS)!.homeAccountId;
  const bobId = bob.accounts.get(ORDERS)!.homeAccountId;
  t.equal(alice.accounts.get(ORDERS)!.environment, 'login.windows.net', 'msal-node caches Entra accounts under login.windows.net');
  t.ok(entriesOf(aliceId).size >= apps.length * 4, 'alice has account, id, access and refresh token entries in every app');
  const bobBefore = entriesOf(bobId);

  const token = await svc.provider.sign(svc.provider.claims(entraA, [ORDERS], { sid: alice.user.sid, tid: TENANT_A }));
  t.equal((await postLogoutToken(svc.app, token)).statusCode, 200);

  t.same([...entriesOf(aliceId).keys()], [], 'no entry of alice is left in any partition');
  t.same(entriesOf(bobId), bobBefore, "bob's entries are byte-for-byte the same");
  for (const app of apps) {
    const aliceAccount = alice.accounts.get(app.clientId)!;
    const seenByAlicePartition = (await app.accounts(aliceId, cacheKeyFor(app, alice))).map((a) => a.homeAccountId);
    t.notOk(seenByAlicePartition.includes(aliceId), `${app.clientId}: getAllAccounts() has no alice`);
    await t.rejects(app.acquireSilent(aliceAccount, cacheKeyFor(app, alice)), `${app.clientId}: acquireTokenSilent for alice fails`);
    const bobAccounts = (await app.accounts(bobId, cacheKeyFor(app, bob))).map((a) => a.homeAccountId);
    t.ok(bobAccounts.includes(bobId), `${app.clientId}: bob is still there`);
    const silent = await app.acquireSilent(bob.accounts.get(app.clientId)!, cacheKeyFor(app, bob));
    t.ok(silent.fromCache, `${app.clientId}: bob still gets his cached access token`);
  }
  const ordersStore = svc.caches.get(ORDERS)!;
  t.notOk(ordersStore.partitions.has(`msal:${ORDERS}:${aliceId}`), "alice's own partition was deleted");
  t.ok(svc.caches.get(REPORTS)!.partitions.has('reports:all-users'), 'the shared partition stays for bob');
});

t.test('a guest is removed by the homeAccountId of their MSAL account (home tenant), not oid.tid of the ID token', async (t) => {
  const guest = await signInEverywhere(user('Guest', TENANT_B, TENANT_A));
  const account = guest.accounts.get(ORDERS)!;
  t.equal(account.homeAccountId, `${guest.user.oid}.${TENANT_B}`, 'MSAL keys the guest by the home tenant');
  t.equal((account.idTokenClaims as { tid: string }).tid, TENANT_A, 'while the ID token names the resource tenant');
  const res = await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { issuer: entraA, sid: guest.user.sid } });
  const report = res.json();
  t.equal(report.state, 'completed');
  t.same(report.accounts, [account.homeAccountId]);
  t.ok(
    report.removals.every((r: { outcome: string }) => r.outcome === 'removed'),
    'removed from every app',
  );
  t.same([...entriesOf(account.homeAccountId).keys()], []);
});

t.test('the report says, per app and account, what was removed', async (t) => {
  const carol = await signInEverywhere(user('Carol'));
  const id = carol.accounts.get(ORDERS)!.homeAccountId;
  const report = (await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { issuer: entraA, sub: (carol.accounts.get(ORDERS)!.idTokenClaims as { sub: string }).sub } })).json();
  t.equal(report.sessionsEnded, 1, 'the pairwise sub of one app ends that app’s session');
  const byApp = Object.fromEntries(report.removals.map((r: { app: string }) => [r.app, r]));
  t.match(byApp['orders-web'], { outcome: 'removed', homeAccountId: id, partitionKey: `msal:${ORDERS}:${id}`, partitionDeleted: true, removedEntries: 4 });
  t.match(byApp['billing-web'], { outcome: 'removed', partitionKey: id, partitionDeleted: true });
  t.match(byApp['reports-web'], { outcome: 'removed', partitionKey: 'reports:all-users' });
  t.match(byApp['portal-web'], { outcome: 'skipped', detail: /cacheKey/ }, 'the sub was registered with orders-web only, so portal-web’s session key is unknown');
  const reread = (await svc.app.inject({ url: `/v1/logouts/${report.id}`, headers: svc.auth })).json();
  t.same(reread, report);
});

t.test('a partition that is not an MSAL cache is reported, left untouched, and does not stop the other apps', async (t) => {
  const dave = await signInEverywhere(user('Dave'));
  const id = dave.accounts.get(ORDERS)!.homeAccountId;
  const billing = svc.caches.get(BILLING)!;
  await billing.set(id, 'this is not json');
  const report = (await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { homeAccountId: id } })).json();
  const byApp = Object.fromEntries(report.removals.map((r: { app: string }) => [r.app, r]));
  t.match(byApp['billing-web'], { outcome: 'skipped' });
  t.equal(await billing.get(id), 'this is not json', 'foreign data is never overwritten');
  t.equal(byApp['orders-web'].outcome, 'removed');
  t.equal(byApp['reports-web'].outcome, 'removed');
  t.equal(byApp['portal-web'].outcome, 'removed', 'the homeAccountId logout found the session and its cacheKey');
  t.equal(report.state, 'completed');
});
