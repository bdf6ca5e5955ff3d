import t, { type Test } from 'tap';
import { KeyObject, randomUUID, sign as signBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ENTRA_TEMPLATE, ISSUER, ORDERS, TENANT_A, postLogoutToken, startService, type TestService } from '../helpers/service.js';

// Validation rules of DESIGN.md on NumericDates, token age, template tenants, key sets and refusal reasons.
const KELVIN_TENANT = 'kelvin-tenant';
const svc = await startService((f) => {
  f.issuers[1]!.tenants!.push(KELVIN_TENANT);
});
t.teardown(() => svc.close());
const { app, provider } = svc;
const now = () => Math.floor(Date.now() / 1000);
const b64 = (text: string) => Buffer.from(text).toString('base64url');

async function registerSession(issuer = ISSUER) {
  const sid = `sid-${randomUUID()}`;
  const res = await app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: ORDERS, issuer, sid, sub: `sub-${randomUUID()}`, homeAccountId: `${randomUUID()}.${TENANT_A}` } });
  if (res.statusCode !== 201) throw new Error(res.body);
  return { id: res.json().id as string, sid, issuer };
}

/** A JWS over these exact payload bytes (JSON.stringify cannot write 1e400), signed with the provider's key. */
async function rawToken(payload: string, header: Record<string, unknown> = {}): Promise<string> {
  const input = `${b64(JSON.stringify({ alg: 'RS256', kid: provider.kid, typ: 'logout+jwt', ...header }))}.${b64(payload)}`;
  const key = KeyObject.from(provider.privateKey as unknown as Parameters<typeof KeyObject.from>[0]);
  return `${input}.${signBytes('sha256', Buffer.from(input), key).toString('base64url')}`;
}

async function refused(t: Test, token: string, session: { id: string; sid: string; issuer: string }, description: RegExp) {
  const res = await postLogoutToken(app, token);
  t.equal(res.statusCode, 400);
  t.match(res.json().error_description, description);
  t.ok(await svc.stores.sessions.get(session.id), 'the session is still registered');
  t.notOk(await svc.stores.markers.isMarked(session.issuer, session.sid), 'no marker');
}

t.test('rule: NumericDates may be fractional (iat and exp, as time.time() writes them)', async (t) => {
  const s = await registerSession();
  const token = await provider.sign(provider.claims(ISSUER, ORDERS, { sid: s.sid, iat: Date.now() / 1000 - 0.25, exp: Date.now() / 1000 + 120.1234567 }));
  t.equal((await postLogoutToken(app, token)).statusCode, 200);
  t.equal(await svc.stores.sessions.get(s.id), null, 'the session ended');
});

t.test('rule: a NumericDate that is not finite is refused as that claim', async (t) => {
  const s = await registerSession();
  const claims = (iat: string, exp: string) => `{"iss":"${ISSUER}","aud":"${ORDERS}","iat":${iat},"exp":${exp},"jti":"${randomUUID()}","events":{"http://schemas.openid.net/event/backchannel-logout":{}},"sid":"${s.sid}"}`;
  await refused(t, await rawToken(claims(String(now()), '1e400')), s, /exp claim is not a finite NumericDate/);
  await refused(t, await rawToken(claims('-1e400', String(now() + 60))), s, /iat claim is not a finite NumericDate/);
});

t.test('rule: iat may be at most maxTokenAgeSeconds old (3600 by default)', async (t) => {
  const s = await registerSession();
  await refused(t, await provider.sign(provider.claims(ISSUER, ORDERS, { sid: s.sid, iat: -1, exp: now() + 10 * 365 * 86400 })), s, /older than the issuer allows/);
  await refused(t, await provider.sign(provider.claims(ISSUER, ORDERS, { sid: s.sid, iat: now() - 3600 - 121, exp: now() + 60 })), s, /older than the issuer allows/);
  const fine = await provider.sign(provider.claims(ISSUER, ORDERS, { sid: s.sid, iat: now() - 3600 + 60, exp: now() + 60 }));
  t.equal((await postLogoutToken(app, fine)).statusCode, 200, 'within the age (and skew) is accepted');
});

t.test('rule: a template tenant matches the configured one exactly (ASCII, as written), and key sets are fetched per configured tenant only', async (t) => {
  const s = await registerSession(ENTRA_TEMPLATE.replace('{tenantid}', TENANT_A));
  const fetches = provider.jwksFetches;
  for (const spelling of [TENANT_A.toUpperCase(), '\u212A' + KELVIN_TENANT.slice(1), KELVIN_TENANT.toUpperCase()]) {
    const iss = ENTRA_TEMPLATE.replace('{tenantid}', spelling);
    await refused(t, await provider.sign(provider.claims(iss, ORDERS, { sid: s.sid, tid: spelling })), s, /issuer is not configured/);
  }
  t.equal(provider.jwksFetches, fetches, 'no key set was fetched for another spelling');
  const ok = await provider.sign(provider.claims(s.issuer, ORDERS, { sid: s.sid, tid: TENANT_A }));
  t.equal((await postLogoutToken(app, ok)).statusCode, 200, 'the tenant as configured is accepted');
});

t.test('rule: where a JWKS holds several keys under one kid, each candidate is tried', async (t) => {
  const { publicKey } = await generateKeyPair('RS256');
  provider.extraKeys = [{ ...(await exportJWK(publicKey)), kid: provider.kid, alg: 'RS256', use: 'sig' }];
  t.teardown(() => {
    provider.extraKeys = [];
  });
  // A new instance starts with an empty key cache: it fetches this provider's set, with the duplicate.
  const fresh: TestService = await startService((f) => {
    f.issuers[0]!.jwksUri = provider.jwksUri;
  });
  t.teardown(() => fresh.close());
  const token = await provider.sign(provider.claims(ISSUER, ORDERS, { sid: `sid-${randomUUID()}` }));
  const found = await postLogoutToken(fresh.app, token);
  t.equal(found.statusCode, 200, 'the key that signed it is found among the two', { body: found.body });
  const { privateKey: stranger } = await generateKeyPair('RS256');
  const forged = await new SignJWT(provider.claims(ISSUER, ORDERS, { sid: 'x' })).setProtectedHeader({ alg: 'RS256', kid: provider.kid }).sign(stranger);
  const res = await postLogoutToken(fresh.app, forged);
  t.equal(res.statusCode, 400, 'a token neither key signed is refused');
});

t.test('refusal reasons: crit, b64: false, a malformed JWS and an unsupported alg each name their own rule', async (t) => {
  const s = await registerSession();
  const payload = JSON.stringify(provider.claims(ISSUER, ORDERS, { sid: s.sid }));
  await refused(t, await rawToken(payload, { crit: ['x-unknown'], 'x-unknown': 1 }), s, /critical header parameter/);
  await refused(t, await rawToken(payload, { crit: ['b64'], b64: false }), s, /unencoded payload/);
  await refused(t, await rawToken('not json'), s, /cannot be decoded/);
  const metrics = (await app.inject({ url: '/metrics' })).body;
  for (const rule of ['crit', 'b64', 'jws']) t.match(metrics, new RegExp(`logout_receiver_logout_rejected_total\\{[^}]*rule="${rule}"[^}]*\\} [1-9]`), `counted as rule ${rule}`);
});
