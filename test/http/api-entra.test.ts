import t from 'tap';
import { randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import { FULL_KEY, ISSUER, ORDERS, TENANT_A, TENANT_B, startService } from '../helpers/service.js';

// Access tokens as Entra ID issues them to a calling service (client credentials, managed identity).
const AUDIENCE = 'api://logout-receiver';
const CALLER = '11111111-aaaa-4bbb-8ccc-222222222222';
const svc = await startService((f) => {
  f.limits = { failedAuthenticationsPerMinute: 10_000 }; // many refusals from one test client (limits.test.ts tests the budget)
  f.api!.entra = {
    tenants: [TENANT_A],
    audience: [AUDIENCE, '33333333-dddd-4eee-8fff-444444444444'],
    jwksUri: f.issuers[0]!.jwksUri!,
    roles: { 'sessions:write': 'Sessions.Write', 'logouts:write': 'Logouts.Write', read: 'Read' },
    clients: [CALLER],
  };
});
t.teardown(() => svc.close());
const { app, provider } = svc;
const now = () => Math.floor(Date.now() / 1000);

/** A v2.0 app-only access token from tenant A, as Entra shapes it. */
function v2(claims: Record<string, unknown> = {}) {
  return {
    aud: AUDIENCE,
    iss: `https://login.microsoftonline.com/${TENANT_A}/v2.0`,
    iat: now() - 5,
    nbf: now() - 5,
    exp: now() + 3600,
    aio: 'E2ZgYJj',
    azp: CALLER,
    azpacr: '1',
    oid: randomUUID(),
    rh: '0.AAAA',
    roles: ['Logouts.Write', 'Read'],
    sub: randomUUID(),
    tid: TENANT_A,
    uti: 'x1y2',
    ver: '2.0',
    ...claims,
  };
}
const sign = (claims: Record<string, unknown>) => provider.sign(claims, { typ: 'JWT' });
const callLogouts = async (token: string) => app.inject({ method: 'POST', url: '/v1/logouts', headers: { authorization: `Bearer ${token}` }, payload: { homeAccountId: `${randomUUID()}.${TENANT_A}` } });

t.test('a calling service with an app-role access token is let in for the scopes its roles grant', async (t) => {
  t.equal((await callLogouts(await sign(v2()))).statusCode, 200, 'Logouts.Write → logouts:write');
  const read = await app.inject({ url: '/v1/apps', headers: { authorization: `Bearer ${await sign(v2())}` } });
  t.equal(read.statusCode, 200, 'Read → read');
  const register = await app.inject({ method: 'POST', url: '/v1/sessions', headers: { authorization: `Bearer ${await sign(v2())}` }, payload: { clientId: ORDERS, issuer: ISSUER, sub: 's', homeAccountId: 'a.b' } });
  t.equal(register.statusCode, 403, 'no Sessions.Write role → 403');
  t.equal(register.json().error, 'insufficient_scope');
});

t.test('a v1.0 managed-identity token (sts.windows.net issuer, appid) works too', async (t) => {
  const token = await sign({ ...v2({ iss: `https://sts.windows.net/${TENANT_A}/`, ver: '1.0', appid: CALLER, appidacr: '2', aud: '33333333-dddd-4eee-8fff-444444444444' }), azp: undefined });
  t.equal((await callLogouts(token)).statusCode, 200);
});

t.test('tokens that must not get in get 401 and change nothing', async (t) => {
  const { privateKey } = await generateKeyPair('RS256');
  const cases: [string, Promise<string>][] = [
    ['wrong audience', sign(v2({ aud: 'api://something-else' }))],
    ['tenant not allowed', sign(v2({ tid: TENANT_B, iss: `https://login.microsoftonline.com/${TENANT_B}/v2.0` }))],
    ['issuer of another tenant than tid', sign(v2({ iss: `https://login.microsoftonline.com/${TENANT_B}/v2.0` }))],
    ['expired', sign(v2({ iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 }))],
    ['a delegated user token (scp)', sign(v2({ scp: 'Logouts.Write' }))],
    ['a caller not on the clients list', sign(v2({ azp: randomUUID() }))],
    ['signed by another key', new SignJWT(v2()).setProtectedHeader({ alg: 'RS256', kid: provider.kid }).sign(privateKey)],
    ['HS256 with the public key', new SignJWT(v2()).setProtectedHeader({ alg: 'HS256', kid: provider.kid }).sign(new TextEncoder().encode(JSON.stringify(provider.publicJwk)))],
    ['no tid', sign(v2({ tid: undefined }))],
  ];
  for (const [name, token] of cases) {
    const res = await callLogouts(await token);
    t.equal(res.statusCode, 401, name);
    t.equal(res.json().error, 'invalid_token', name);
  }
  const roleless = await callLogouts(await sign(v2({ roles: ['Read'] })));
  t.equal(roleless.statusCode, 403, 'a valid token without the role is 403');
});

t.test('API keys keep working beside Entra tokens', async (t) => {
  t.equal((await app.inject({ url: '/v1/apps', headers: { authorization: `Bearer ${FULL_KEY}` } })).statusCode, 200);
});
