import t from 'tap';
import { createHash, randomUUID } from 'node:crypto';
import { resolveConfig, ConfigError } from '../../src/config/load.js';
import { BILLING, ISSUER, ORDERS, TENANT_A, startService, testConfigFile } from '../helpers/service.js';

// Keys are bound to apps, and scopes separate powers; an app with requireIdToken takes who signed in from the ID token.
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const ORDERS_KEY = 'orders-web-key';
const svc = await startService((f) => {
  f.api!.keys!.push({ name: 'orders-web', sha256: sha256(ORDERS_KEY), scopes: ['sessions:write', 'read'], apps: ['orders-web'] });
  f.apps[1]!.requireIdToken = true; // billing-web
});
t.teardown(() => svc.close());
const { app, provider } = svc;
const orders = { authorization: `Bearer ${ORDERS_KEY}` };
const now = () => Math.floor(Date.now() / 1000);

const session = (clientId: string, extra: Record<string, unknown> = {}) => ({
  clientId,
  issuer: ISSUER,
  sid: `sid-${randomUUID()}`,
  sub: `sub-${randomUUID()}`,
  homeAccountId: `${randomUUID()}.${TENANT_A}`,
  ...extra,
});
const register = (headers: Record<string, string>, payload: object) => app.inject({ method: 'POST', url: '/v1/sessions', headers, payload });

t.test('a key bound to an app registers sessions of that app only', async (t) => {
  t.equal((await register(orders, session(ORDERS))).statusCode, 201);
  const other = session(BILLING);
  const res = await register(orders, other);
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'insufficient_scope');
  t.same(await svc.stores.sessions.bySub(ISSUER, other.sub), [], 'nothing stored');
});

t.test("a key bound to an app lists its apps' sessions only: another app's sid never shows", async (t) => {
  const mine = session(ORDERS);
  await register(orders, mine);
  const theirs = { ...session(ORDERS), clientId: BILLING, sub: mine.sub };
  // billing-web requires an ID token: registered here straight in the store, as its own app would through the API.
  await svc.stores.sessions.add({ ...theirs, expiresAt: new Date(Date.now() + 60_000).toISOString() });
  const res = await app.inject({ url: `/v1/sessions?issuer=${encodeURIComponent(ISSUER)}&sub=${mine.sub}`, headers: orders });
  t.equal(res.statusCode, 200);
  t.same(
    (res.json() as { clientId: string }[]).map((s) => s.clientId),
    [ORDERS],
  );
  t.notMatch(res.body, theirs.sid, "the other app's sid is not in the answer");
  const full = await app.inject({ url: `/v1/sessions?issuer=${encodeURIComponent(ISSUER)}&sub=${mine.sub}`, headers: svc.auth });
  t.equal((full.json() as unknown[]).length, 2, 'a key bound to every app sees both');
});

t.test("a key bound to an app deletes its apps' sessions only: another app's is answered 404 and stays", async (t) => {
  const added = await svc.stores.sessions.add({ ...session(BILLING), expiresAt: new Date(Date.now() + 60_000).toISOString() });
  const res = await app.inject({ method: 'DELETE', url: `/v1/sessions/${added.id}`, headers: orders });
  t.equal(res.statusCode, 404);
  t.ok(await svc.stores.sessions.get(added.id), 'still registered');
  const mine = (await register(orders, session(ORDERS))).json() as { id: string };
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/sessions/${mine.id}`, headers: orders })).statusCode, 204);
});

t.test('reading a logout report needs a key bound to every app; logouts:write stays its own scope', async (t) => {
  const report = (await app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { homeAccountId: `x.${TENANT_A}` } })).json() as { id: string };
  t.equal((await app.inject({ url: `/v1/logouts/${report.id}`, headers: orders })).statusCode, 403);
  t.equal((await app.inject({ url: `/v1/logouts/${report.id}`, headers: svc.auth })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/v1/logouts', headers: orders, payload: { homeAccountId: `x.${TENANT_A}` } })).statusCode, 403, 'a sessions:write key cannot sign users out');
});

t.test('api key binding: apps are named by name or "*", an unknown one is refused naming the key; Entra clients bind the same way', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a file edited freely, as in the config tests
  const file = structuredClone(testConfigFile('https://idp.example.test/jwks')) as Record<string, any>;
  file.api.keys[0].apps = ['orders-web'];
  file.api.keys[1].apps = ['*'];
  file.api.entra = { tenants: [TENANT_A], audience: 'api://lr', roles: { read: 'Read' }, clients: ['c-plain', { id: 'c-bound', apps: ['billing-web'] }] };
  const config = resolveConfig(file);
  t.same(
    config.apiKeys.map((k) => [k.apps, k.appsNamed]),
    [
      [[ORDERS], true],
      ['*', true],
    ],
  );
  t.same(config.apiEntra!.clients, [
    { id: 'c-plain', apps: '*' },
    { id: 'c-bound', apps: [BILLING] },
  ]);
  file.api.keys[0].apps = ['orders-web', 'nope'];
  t.throws(() => resolveConfig(file), new ConfigError('api.keys[0].apps[1]', 'no app is named "nope"'));
});

const idToken = (claims: Record<string, unknown> = {}) => provider.sign({ iss: ISSUER, aud: BILLING, sub: `sub-${randomUUID()}`, oid: randomUUID(), tid: TENANT_A, sid: `sid-${randomUUID()}`, iat: now(), exp: now() + 3600, ...claims }, { typ: 'JWT' });
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string; sid: string; oid: string; tid: string };

t.test('requireIdToken: a registration without the ID token is refused', async (t) => {
  const res = await register(svc.auth, session(BILLING));
  t.equal(res.statusCode, 400);
  t.match(res.json().error_description, /requires the idToken/);
});

t.test('requireIdToken: with a valid ID token the session is registered, its sid taken from the token', async (t) => {
  const token = await idToken();
  const c = claimsOf(token);
  const res = await register(svc.auth, { clientId: BILLING, issuer: ISSUER, sub: c.sub, homeAccountId: `${c.oid}.${c.tid}`, idToken: token });
  t.equal(res.statusCode, 201, res.body);
  t.equal(res.json().sid, c.sid, "the sid is the token's");
});

t.test('requireIdToken: a token for another app, expired, not signed by the issuer, or for another account is refused, and nothing is stored', async (t) => {
  const victim = `${randomUUID()}.${TENANT_A}`;
  const { generateKeyPair, SignJWT } = await import('jose');
  const { privateKey } = await generateKeyPair('RS256');
  const cases: [string, string, Record<string, unknown>][] = [
    ['another audience', await idToken({ aud: ORDERS }), {}],
    ['expired', await idToken({ iat: now() - 7200, exp: now() - 3600 }), {}],
    ['forged', await new SignJWT({ iss: ISSUER, aud: BILLING, sub: 's', oid: 'o', tid: TENANT_A, exp: now() + 60 }).setProtectedHeader({ alg: 'RS256', kid: provider.kid }).sign(privateKey), {}],
    ['another account', await idToken(), { homeAccountId: victim }],
    ['another sub', await idToken(), { sub: 'someone-else' }],
    ['another sid', await idToken(), { sid: 'a-made-up-sid' }],
    ['not a JWT', 'a.b.c', {}],
  ];
  for (const [what, token, override] of cases) {
    const c = token.includes('.') && token.split('.')[1]!.length > 2 ? claimsOf(token) : { sub: 's', oid: 'o', tid: TENANT_A, sid: 'x' };
    const body = { clientId: BILLING, issuer: ISSUER, sub: c.sub, homeAccountId: `${c.oid}.${c.tid}`, idToken: token, ...override };
    const res = await register(svc.auth, body);
    t.equal(res.statusCode, 400, `${what}: 400`);
    t.equal(res.json().error, 'invalid_request', what);
    t.same(await svc.stores.sessions.byHomeAccountId(body.homeAccountId as string), [], `${what}: nothing stored`);
  }
});
