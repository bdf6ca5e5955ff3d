import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { ENTRA_TEMPLATE, ISSUER, ORDERS, TENANT_A, TENANT_B, startService } from '../helpers/service.js';

const svc = await startService();
t.teardown(() => svc.close());
const { app } = svc;
const entra = (tenant: string) => ENTRA_TEMPLATE.replace('{tenantid}', tenant);

async function register(issuer: string) {
  const sid = `sid-${randomUUID()}`;
  const res = await app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: ORDERS, issuer, sid, sub: 's', homeAccountId: `${randomUUID()}.${TENANT_A}` } });
  return { id: res.json().id as string, sid };
}

function assertPage(t: Test, res: Awaited<ReturnType<typeof app.inject>>, origin: string) {
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/html/);
  t.equal(res.headers['cache-control'], 'no-cache, no-store');
  t.match(res.headers['content-security-policy'], new RegExp(`frame-ancestors ${origin}$`));
  t.notOk(res.headers['x-frame-options'], 'no X-Frame-Options that would forbid the provider framing us');
  t.notMatch(res.body, /<script/i, 'the page runs no script');
}

t.test('spec form ?iss=&sid= ends the session, without any cookie', async (t) => {
  const s = await register(ISSUER);
  const res = await app.inject({ url: `/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=${s.sid}` });
  assertPage(t, res, 'https://idp.example.test');
  await app.logouts.settled(); // the page answers once the logout is journaled; the sweep follows
  t.equal(await svc.stores.sessions.get(s.id), null);
  t.ok(await svc.stores.markers.isMarked(ISSUER, s.sid));
});

t.test('Entra form /logout/frontchannel/{issuerName}?sid= without iss ends the session of the right tenant', async (t) => {
  const a = await register(entra(TENANT_A));
  const res = await app.inject({ url: `/logout/frontchannel/entra?sid=${a.sid}` });
  assertPage(t, res, 'https://login.microsoftonline.com');
  await app.logouts.settled(); // the page answers once the logout is journaled; the sweep follows
  t.equal(await svc.stores.sessions.get(a.id), null);
  t.ok(await svc.stores.markers.isMarked(entra(TENANT_A), a.sid));
  t.notOk(await svc.stores.markers.isMarked(entra(TENANT_B), a.sid), 'only the tenant that had the session is marked');
});

const frontchannelLogouts = async () => {
  const metrics = (await app.inject({ url: '/metrics' })).body;
  return [...metrics.matchAll(/^logout_receiver_logouts_total\{[^}]*channel="frontchannel"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
};

t.test('an unmatched sid at one issuer leaves only a short marker, which refuses a late registration, and no logout report', async (t) => {
  const sid = `sid-${randomUUID()}`;
  const before = await frontchannelLogouts();
  assertPage(t, await app.inject({ url: `/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=${sid}` }), 'https://idp.example.test');
  t.equal(await frontchannelLogouts(), before, 'no logout was journaled or carried out');
  const late = await app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: ORDERS, issuer: ISSUER, sid, sub: 's', homeAccountId: 'a.b' } });
  t.equal(late.statusCode, 409, 'the sign-in racing its own logout is refused');
});

t.test('Entra form of a template issuer with an unmatched sid: no marker fanned out to every tenant, no report', async (t) => {
  const sid = `sid-${randomUUID()}`;
  const before = await frontchannelLogouts();
  assertPage(t, await app.inject({ url: `/logout/frontchannel/entra?sid=${sid}` }), 'https://login.microsoftonline.com');
  for (const tenant of [TENANT_A, TENANT_B]) t.notOk(await svc.stores.markers.isMarked(entra(tenant), sid), `no marker at tenant ${tenant}`);
  t.equal(await frontchannelLogouts(), before, 'no logout was journaled or carried out');
});

t.test("HEAD answers the page's headers and logs no one out", async (t) => {
  const s = await register(ISSUER);
  const e = await register(entra(TENANT_A));
  for (const url of [`/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=${s.sid}`, `/logout/frontchannel/idp?sid=${s.sid}`, `/logout/frontchannel/entra?sid=${e.sid}`]) {
    const res = await app.inject({ method: 'HEAD', url });
    t.equal(res.statusCode, 200, url);
    t.equal(res.headers['cache-control'], 'no-cache, no-store');
    t.equal(res.body, '', 'no body');
  }
  t.ok(await svc.stores.sessions.get(s.id), 'the session is still registered');
  t.ok(await svc.stores.sessions.get(e.id), 'the Entra session too');
  t.notOk(await svc.stores.markers.isMarked(ISSUER, s.sid), 'and not marked');
  t.equal((await app.inject({ method: 'HEAD', url: '/logout/frontchannel/unknown?sid=x' })).statusCode, 400, 'a bad one is still 400');
});

t.test('path form of a plain issuer works too', async (t) => {
  const s = await register(ISSUER);
  assertPage(t, await app.inject({ url: `/logout/frontchannel/idp?sid=${s.sid}` }), 'https://idp.example.test');
  await app.logouts.settled();
  t.equal(await svc.stores.sessions.get(s.id), null);
});

t.test('an issuer without frontchannelOrigins may not be framed at all', async (t) => {
  const closed = await startService((f) => {
    delete f.issuers[0]!.frontchannelOrigins;
  });
  t.teardown(() => closed.close());
  const res = await closed.app.inject({ url: '/logout/frontchannel/idp?sid=x' });
  t.match(res.headers['content-security-policy'], /frame-ancestors 'none'$/);
});

t.test('bad front-channel requests get 400 JSON and change nothing', async (t) => {
  const s = await register(ISSUER);
  const cases = [
    `/logout/frontchannel?sid=${s.sid}`,
    `/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}`,
    `/logout/frontchannel?iss=https%3A%2F%2Fevil.example.test&sid=${s.sid}`,
    `/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=`,
    `/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=${s.sid}&sid=other`,
    `/logout/frontchannel/unknown?sid=${s.sid}`,
    '/logout/frontchannel/idp',
    `/logout/frontchannel/idp?sid=${s.sid}&iss=${encodeURIComponent(entra(TENANT_A))}`,
    `/logout/frontchannel/entra?sid=${s.sid}&iss=${encodeURIComponent(ISSUER)}`,
  ];
  for (const url of cases) {
    const res = await app.inject({ url });
    t.equal(res.statusCode, 400, url);
    t.equal(res.json().error, 'invalid_request', url);
  }
  t.ok(await svc.stores.sessions.get(s.id), 'the session is still registered');
  t.notOk(await svc.stores.markers.isMarked(ISSUER, s.sid));
});

t.test('the front channel answers once the logout is journaled and its sid marked, while an app cache does not answer', async (t) => {
  const held = await startService();
  t.teardown(() => held.close());
  const cache = held.caches.get(ORDERS)!;
  const get = cache.get.bind(cache);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  // A cache host that does not answer (until the end of the test): the sweep waits on it, the page does not.
  cache.get = async (key) => (await gate, get(key));
  const homeAccountId = `${randomUUID()}.${TENANT_A}`;
  const sid = `sid-${randomUUID()}`;
  await held.app.inject({ method: 'POST', url: '/v1/sessions', headers: held.auth, payload: { clientId: ORDERS, issuer: ISSUER, sid, sub: 's', homeAccountId } });
  const res = await held.app.inject({ url: `/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=${sid}` });
  assertPage(t, res, 'https://idp.example.test');
  t.ok(await held.stores.markers.isMarked(ISSUER, sid), 'marked before the answer');
  const [report] = await held.stores.journal.byTarget({ kind: 'sid', issuer: ISSUER, sid }, 10);
  t.equal(report?.state, 'pending', 'journaled, its sweep still held');
  open();
  await held.app.logouts.settled();
  t.equal((await held.stores.journal.get(report!.id))?.state, 'completed', 'carried out after the answer');
  const read = (await held.app.inject({ url: `/v1/logouts/${report!.id}`, headers: held.auth })).json();
  t.match(read, { state: 'completed', firstPassAt: String, secondPass: { dueAt: String, removals: [] }, removals: [{ app: 'orders-web', attempts: 1 }] }, 'the API shows the passes (secondPassSeconds: 60 by default)');
});
