import t from 'tap';
import { randomUUID } from 'node:crypto';
import { BILLING, ENTRA_TEMPLATE, FULL_KEY, ISSUER, ORDERS, READ_KEY, STRANGER, TENANT_A, startService } from '../helpers/service.js';

// Many refusals from one test client: a budget of failed authentications that these cases do not exhaust (limits.test.ts tests it).
const svc = await startService((f) => void (f.limits = { failedAuthenticationsPerMinute: 10_000 }));
t.teardown(() => svc.close());
const { app } = svc;
const auth = svc.auth;
const reader = { authorization: `Bearer ${READ_KEY}` };
const entraA = ENTRA_TEMPLATE.replace('{tenantid}', TENANT_A);

const newSession = (over: Record<string, unknown> = {}) => ({
  clientId: ORDERS,
  issuer: ISSUER,
  sid: `sid-${randomUUID()}`,
  sub: `sub-${randomUUID()}`,
  homeAccountId: `${randomUUID()}.${TENANT_A}`,
  ...over,
});

const register = (body: Record<string, unknown>, headers = auth) => app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: body });

t.test('every /v1 route answers 401 without a key or with a wrong one, with a JSON error', async (t) => {
  const routes = [
    ['POST', '/v1/sessions'],
    ['GET', '/v1/sessions?homeAccountId=a.b'],
    ['DELETE', `/v1/sessions/${randomUUID()}`],
    ['POST', '/v1/logouts'],
    ['GET', `/v1/logouts/${randomUUID()}`],
    ['GET', '/v1/apps'],
  ] as const;
  for (const [method, url] of routes) {
    for (const headers of [{}, { authorization: 'Bearer wrong-key' }, { authorization: FULL_KEY }, { authorization: `Basic ${FULL_KEY}` }]) {
      const res = await app.inject({ method, url, headers, payload: method === 'POST' ? {} : undefined });
      t.equal(res.statusCode, 401, `${method} ${url} with ${JSON.stringify(Object.keys(headers))}`);
      t.equal(res.json().error, 'invalid_token');
      t.match(res.headers['www-authenticate'], /^Bearer/);
      t.notMatch(res.body, FULL_KEY, 'the key is never echoed');
    }
  }
});

t.test('a key without the scope gets 403', async (t) => {
  const res = await register(newSession(), reader);
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'insufficient_scope');
  const logout = await app.inject({ method: 'POST', url: '/v1/logouts', headers: reader, payload: { homeAccountId: 'a.b' } });
  t.equal(logout.statusCode, 403);
  t.equal((await app.inject({ method: 'GET', url: '/v1/apps', headers: reader })).statusCode, 200, 'read scope can read');
});

t.test('POST /v1/sessions registers a session; lookups find it by sid, sub and homeAccountId', async (t) => {
  const body = newSession({ cacheKey: 'session-123' });
  const res = await register(body);
  t.equal(res.statusCode, 201);
  const session = res.json();
  t.match(session, { ...body, id: String });
  t.equal(res.headers.location, `/v1/sessions/${session.id}`);
  const bySid = await app.inject({ url: `/v1/sessions?issuer=${encodeURIComponent(ISSUER)}&sid=${body.sid}`, headers: reader });
  t.same(
    bySid.json().map((s: { id: string }) => s.id),
    [session.id],
  );
  const byName = await app.inject({ url: `/v1/sessions?issuer=idp&sub=${body.sub}`, headers: reader });
  t.same(
    byName.json().map((s: { id: string }) => s.id),
    [session.id],
    'the configured issuer name works too',
  );
  const byAccount = await app.inject({ url: `/v1/sessions?homeAccountId=${body.homeAccountId.toUpperCase()}`, headers: reader });
  t.same(
    byAccount.json().map((s: { id: string }) => s.id),
    [session.id],
    'homeAccountId lookups ignore letter case',
  );
});

t.test('a template issuer is registered by its resolved iss, not by its name', async (t) => {
  t.equal((await register(newSession({ issuer: entraA }))).statusCode, 201);
  const byName = await register(newSession({ issuer: 'entra' }));
  t.equal(byName.statusCode, 400);
  t.match(byName.json().error_description, /template/);
  const otherTenant = await register(newSession({ issuer: ENTRA_TEMPLATE.replace('{tenantid}', randomUUID()) }));
  t.equal(otherTenant.statusCode, 400);
});

t.test('bad registrations get 400 and store nothing', async (t) => {
  const bad: [string, Record<string, unknown>][] = [
    ['unknown clientId', newSession({ clientId: STRANGER })],
    ['unknown issuer', newSession({ issuer: 'https://evil.example.test' })],
    [
      'missing sub',
      (() => {
        const s = newSession();
        delete (s as Record<string, unknown>).sub;
        return s;
      })(),
    ],
    ['extra property', newSession({ admin: true })],
    ['number sid', newSession({ sid: 5 })],
    ['empty homeAccountId', newSession({ homeAccountId: '' })],
    ['homeAccountId with spaces', newSession({ homeAccountId: 'a b.c' })],
    ['control characters', newSession({ sub: 'a\u0000b' })],
    ['expiresAt in the past', newSession({ expiresAt: '2001-01-01T00:00:00Z' })],
    ['expiresAt not a date', newSession({ expiresAt: 'tomorrow' })],
    ['very long sub', newSession({ sub: 'x'.repeat(5000) })],
  ];
  for (const [name, body] of bad) {
    const res = await register(body);
    t.equal(res.statusCode, 400, name);
    t.equal(res.json().error, 'invalid_request', name);
    t.type(res.json().error_description, 'string');
    const found = await svc.stores.sessions.byHomeAccountId(String(body.homeAccountId));
    t.same(found, [], `${name}: nothing stored`);
  }
  const notJson = await app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"clientId":' });
  t.equal(notJson.statusCode, 400);
  t.same(Object.keys(notJson.json()).sort(), ['error', 'error_description']);
  const array = await app.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: [newSession()] });
  t.equal(array.statusCode, 400);
});

t.test('GET /v1/sessions needs exactly one query form', async (t) => {
  for (const q of ['', '?issuer=idp', '?sid=x', '?issuer=idp&sid=a&sub=b', '?homeAccountId=a.b&issuer=idp', '?issuer=nope&sid=x', '?homeAccountId=a&homeAccountId=b', '?other=1']) {
    const res = await app.inject({ url: `/v1/sessions${q}`, headers: reader });
    t.equal(res.statusCode, 400, q || '(none)');
  }
});

t.test('DELETE /v1/sessions/{id} answers 204, then 404', async (t) => {
  const id = (await register(newSession())).json().id;
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth })).statusCode, 204);
  t.equal(await svc.stores.sessions.get(id), null);
  const again = await app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth });
  t.equal(again.statusCode, 404);
  t.equal(again.json().error, 'not_found');
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/sessions/..%2F..', headers: auth })).statusCode, 400);
});

t.test('POST /v1/logouts by sid ends the session and refuses its late registration with 409', async (t) => {
  const body = newSession();
  const id = (await register(body)).json().id;
  const res = await app.inject({ method: 'POST', url: '/v1/logouts', headers: auth, payload: { issuer: ISSUER, sid: body.sid } });
  t.equal(res.statusCode, 200);
  const report = res.json();
  t.match(report, { id: String, state: 'completed', channel: 'api', sessionsEnded: 1, sessionIds: [id], accounts: [body.homeAccountId] });
  t.equal(report.removals.length, 2, 'one removal row per app and account');
  t.same(report.removals.map((r: { app: string }) => r.app).sort(), ['billing-web', 'orders-web']);
  const late = await register({ ...body, clientId: BILLING });
  t.equal(late.statusCode, 409);
  t.equal(late.json().error, 'conflict');
  const fetched = await app.inject({ url: `/v1/logouts/${report.id}`, headers: reader });
  t.same(fetched.json(), report, 'the report reads back');
});

t.test('a logout that arrives before the session is registered refuses the late registration', async (t) => {
  const body = newSession();
  t.equal((await app.inject({ method: 'POST', url: '/v1/logouts', headers: auth, payload: { issuer: 'idp', sid: body.sid } })).json().sessionsEnded, 0);
  t.equal((await register(body)).statusCode, 409);
  t.same(await svc.stores.sessions.bySid(ISSUER, body.sid), []);
});

t.test('POST /v1/logouts by sub ends every session of the user; by homeAccountId every session of the account', async (t) => {
  const sub = `sub-${randomUUID()}`;
  const a = (await register(newSession({ sub }))).json();
  const b = (await register(newSession({ sub, clientId: BILLING }))).json();
  const bySub = (await app.inject({ method: 'POST', url: '/v1/logouts', headers: auth, payload: { issuer: ISSUER, sub } })).json();
  t.equal(bySub.sessionsEnded, 2);
  t.same([...bySub.sessionIds].sort(), [a.id, b.id].sort());

  const homeAccountId = `${randomUUID()}.${TENANT_A}`;
  const c = (await register(newSession({ homeAccountId }))).json();
  const d = (await register(newSession({ homeAccountId, issuer: entraA }))).json();
  const byAccount = (await app.inject({ method: 'POST', url: '/v1/logouts', headers: auth, payload: { homeAccountId } })).json();
  t.same([...byAccount.sessionIds].sort(), [c.id, d.id].sort());
});

t.test('repeating a logout is harmless', async (t) => {
  const body = newSession();
  await register(body);
  const first = (await app.inject({ method: 'POST', url: '/v1/logouts', headers: auth, payload: { issuer: ISSUER, sid: body.sid } })).json();
  const second = await app.inject({ method: 'POST', url: '/v1/logouts', headers: auth, payload: { issuer: ISSUER, sid: body.sid } });
  t.equal(second.statusCode, 200);
  t.equal(second.json().state, 'completed');
  t.equal(second.json().sessionsEnded, 0);
  t.not(second.json().id, first.id);
});

t.test('bad logout requests get 400 and change nothing', async (t) => {
  const body = newSession();
  const id = (await register(body)).json().id;
  for (const payload of [
    {},
    { issuer: ISSUER },
    { sid: body.sid },
    { issuer: ISSUER, sid: body.sid, sub: body.sub },
    { homeAccountId: body.homeAccountId, issuer: ISSUER },
    { issuer: 'nope', sid: body.sid },
    { issuer: ISSUER, sid: body.sid, extra: 1 },
    { issuer: ISSUER, sid: 7 },
  ]) {
    const res = await app.inject({ method: 'POST', url: '/v1/logouts', headers: auth, payload });
    t.equal(res.statusCode, 400, JSON.stringify(payload));
  }
  t.ok(await svc.stores.sessions.get(id), 'the session is still there');
  t.notOk(await svc.stores.markers.isMarked(ISSUER, body.sid));
});

t.test('GET /v1/logouts/{id} of an unknown id is 404', async (t) => {
  const res = await app.inject({ url: `/v1/logouts/${randomUUID()}`, headers: reader });
  t.equal(res.statusCode, 404);
  t.equal(res.json().error, 'not_found');
});

t.test('GET /v1/apps lists the apps without secrets', async (t) => {
  const res = await app.inject({ url: '/v1/apps', headers: reader });
  t.same(res.json(), [
    { clientId: ORDERS, name: 'orders-web', issuers: ['idp', 'entra'], tokenCache: { kind: 'memory', key: 'msal:{clientId}:{homeAccountId}' } },
    { clientId: BILLING, name: 'billing-web', issuers: ['idp', 'entra'], tokenCache: { kind: 'memory', key: '{homeAccountId}' } },
  ]);
});
