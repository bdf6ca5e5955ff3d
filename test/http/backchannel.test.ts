import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT, exportJWK, CompactEncrypt, base64url } from 'jose';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/core/verify-logout-token.js';
import { BILLING, ENTRA_TEMPLATE, ISSUER, ORDERS, STRANGER, TENANT_A, postLogoutToken, startService, type TestService } from '../helpers/service.js';

const svc = await startService();
t.teardown(() => svc.close());
const { app, provider } = svc;

const entraIss = (tenant: string) => ENTRA_TEMPLATE.replace('{tenantid}', tenant);
const now = () => Math.floor(Date.now() / 1000);

/** Registers a session for a fresh user and returns its ids. */
async function registerSession(issuer = ISSUER, clientId = ORDERS) {
  const sid = `sid-${randomUUID()}`;
  const sub = `sub-${randomUUID()}`;
  const homeAccountId = `${randomUUID()}.${TENANT_A}`;
  const res = await app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId, issuer, sid, sub, homeAccountId } });
  if (res.statusCode !== 201) throw new Error(`registration failed: ${res.body}`);
  return { id: res.json().id as string, sid, sub, homeAccountId, issuer };
}

/** A refused token: 400, the JSON error body, no-store, and nothing changed. */
async function assertRefused(t: Test, res: Awaited<ReturnType<typeof postLogoutToken>>, session: { id: string; sid: string; issuer: string }, rule: RegExp) {
  t.equal(res.statusCode, 400, 'answers 400');
  t.equal(res.headers['cache-control'], 'no-store', 'Cache-Control: no-store');
  const body = res.json();
  t.equal(body.error, 'invalid_request');
  t.match(body.error_description, rule, 'the description names the failed rule');
  t.ok(await svc.stores.sessions.get(session.id), 'the session is still registered');
  t.notOk(await svc.stores.markers.isMarked(session.issuer, session.sid), 'no logged-out marker was left');
}

async function tokenFor(session: { sid: string; issuer: string }, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  const base = provider.claims(session.issuer, ORDERS, { sid: session.sid });
  const merged: Record<string, unknown> = { ...base, ...claims };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete merged[k];
  return provider.sign(merged, header);
}

t.test('a valid logout token with sid answers 200 with no-store and ends that session', async (t) => {
  const s = await registerSession();
  const other = await registerSession();
  const res = await postLogoutToken(app, await tokenFor(s));
  t.equal(res.statusCode, 200);
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(await svc.stores.sessions.get(s.id), null, 'the session is gone');
  t.ok(await svc.stores.sessions.get(other.id), 'another session stays');
  t.ok(await svc.stores.markers.isMarked(s.issuer, s.sid), 'the sid is marked logged out');
});

t.test('a valid logout token with only sub ends every session of that user at that issuer', async (t) => {
  const a = await registerSession();
  const sub = a.sub;
  const b = await app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: BILLING, issuer: ISSUER, sid: 'another-sid', sub, homeAccountId: a.homeAccountId } });
  t.equal(b.statusCode, 201);
  const res = await postLogoutToken(app, await tokenFor(a, { sid: undefined, sub }));
  t.equal(res.statusCode, 200);
  t.equal(await svc.stores.sessions.get(a.id), null);
  t.equal(await svc.stores.sessions.get(b.json().id), null);
});

t.test('a token that matches no session still answers 200', async (t) => {
  const res = await postLogoutToken(app, await provider.sign(provider.claims(ISSUER, ORDERS)));
  t.equal(res.statusCode, 200);
});

t.test('rule: the body must be application/x-www-form-urlencoded', async (t) => {
  const s = await registerSession();
  const token = await tokenFor(s);
  const json = await app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/json' }, payload: { logout_token: token } });
  await assertRefused(t, json, s, /x-www-form-urlencoded/);
  const text = await app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'text/plain' }, payload: `logout_token=${token}` });
  await assertRefused(t, text, s, /x-www-form-urlencoded/);
  const other = await app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/xml' }, payload: '<x/>' });
  await assertRefused(t, other, s, /./);
});

t.test('rule: exactly one logout_token', async (t) => {
  const s = await registerSession();
  const token = await tokenFor(s);
  await assertRefused(t, await postLogoutToken(app, token, `&logout_token=${encodeURIComponent(token)}`), s, /exactly one/);
  const none = await app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'other=1' });
  await assertRefused(t, none, s, /no logout_token/);
  const empty = await app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
  await assertRefused(t, empty, s, /./);
});

t.test('rule: a JWE is refused', async (t) => {
  const s = await registerSession();
  const { publicKey } = await generateKeyPair('RSA-OAEP-256');
  const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(provider.claims(ISSUER, ORDERS, { sid: s.sid })))).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM' }).encrypt(publicKey);
  await assertRefused(t, await postLogoutToken(app, jwe), s, /encrypted/);
});

t.test('rule: an unsigned token (alg none) is refused', async (t) => {
  const s = await registerSession();
  const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
  const claims = provider.claims(ISSUER, ORDERS, { sid: s.sid });
  await assertRefused(t, await postLogoutToken(app, `${enc({ alg: 'none' })}.${enc(claims)}.`), s, /unsigned/);
  await assertRefused(t, await postLogoutToken(app, `${enc({ alg: 'NONE', typ: 'JWT' })}.${enc(claims)}.`), s, /unsigned/);
});

t.test('rule: alg must be one the issuer allows', async (t) => {
  const s = await registerSession();
  // PS256 (an RSA algorithm the issuer does not list), under the kid of the issuer's real key.
  const { privateKey } = await generateKeyPair('PS256');
  const token = await new SignJWT(provider.claims(ISSUER, ORDERS, { sid: s.sid })).setProtectedHeader({ alg: 'PS256', kid: provider.kid }).sign(privateKey);
  await assertRefused(t, await postLogoutToken(app, token), s, /algorithm PS256 is not allowed/);
});

t.test('rule: never an HMAC algorithm keyed with the public key', async (t) => {
  const s = await registerSession();
  const secret = new TextEncoder().encode(JSON.stringify(provider.publicJwk));
  const forged = await new SignJWT(provider.claims(ISSUER, ORDERS, { sid: s.sid })).setProtectedHeader({ alg: 'HS256', kid: provider.kid }).sign(secret);
  await assertRefused(t, await postLogoutToken(app, forged), s, /HS256 is not allowed/);
});

t.test('rule: the signature must verify against the issuer JWKS', async (t) => {
  const s = await registerSession();
  const [h, , sig] = (await tokenFor(s)).split('.');
  const tampered = base64url.encode(JSON.stringify(provider.claims(ISSUER, ORDERS, { sid: s.sid })));
  await assertRefused(t, await postLogoutToken(app, `${h}.${tampered}.${sig}`), s, /signature/);
  const { privateKey } = await generateKeyPair('RS256');
  const foreign = await new SignJWT(provider.claims(ISSUER, ORDERS, { sid: s.sid })).setProtectedHeader({ alg: 'RS256', kid: provider.kid }).sign(privateKey);
  await assertRefused(t, await postLogoutToken(app, foreign), s, /signature/);
});

t.test('rule: an unknown kid gets one rate-limited JWKS refetch, not one per token', async (t) => {
  const s = await registerSession();
  await postLogoutToken(app, await provider.sign(provider.claims(ISSUER, ORDERS))); // keys loaded
  const before = provider.jwksFetches;
  for (let i = 0; i < 5; i++) await assertRefused(t, await postLogoutToken(app, await tokenFor(s, {}, { kid: `unknown-${i}` })), s, /no signing key/);
  t.ok(provider.jwksFetches - before <= 1, `at most one refetch for five unknown kids (saw ${provider.jwksFetches - before})`);
});

t.test('rule: iss must be a configured issuer', async (t) => {
  const s = await registerSession();
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { iss: 'https://evil.example.test' })), s, /issuer is not configured/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { iss: undefined })), s, /iss/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { iss: `${ISSUER}/` })), s, /issuer is not configured/);
});

t.test('rule: a template issuer is accepted only for an allowed tenant', async (t) => {
  const s = await registerSession(entraIss(TENANT_A));
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { iss: entraIss('00000000-0000-4000-8000-00000000dead') })), s, /issuer is not configured/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { iss: 'https://sts.windows.net/' + TENANT_A + '/' })), s, /issuer is not configured/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { tid: '00000000-0000-4000-8000-00000000dead' })), s, /tid/);
  const ok = await postLogoutToken(app, await tokenFor(s, { tid: TENANT_A }));
  t.equal(ok.statusCode, 200, 'the allowed tenant is accepted');
  t.equal(await svc.stores.sessions.get(s.id), null);
});

t.test('rule: aud must contain a registered app of that issuer and nothing else', async (t) => {
  const s = await registerSession();
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { aud: undefined })), s, /aud/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { aud: STRANGER })), s, /aud/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { aud: [ORDERS, STRANGER] })), s, /aud/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { aud: [] })), s, /aud/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { aud: 42 })), s, /aud/);
  const both = await postLogoutToken(app, await tokenFor(s, { aud: [ORDERS, BILLING] }));
  t.equal(both.statusCode, 200, 'two registered apps of the issuer are fine');
});

t.test('rule: aud of an app registered only with another issuer is refused', async (t) => {
  const only = await startService((f) => {
    f.apps[1]!.issuers = ['entra'];
  });
  t.teardown(() => only.close());
  const token = await only.provider.sign(only.provider.claims(ISSUER, BILLING));
  const res = await postLogoutToken(only.app, token);
  t.equal(res.statusCode, 400);
  t.match(res.json().error_description, /aud/);
});

t.test('rule: iat must be present and not in the future beyond the skew', async (t) => {
  const s = await registerSession();
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { iat: undefined })), s, /iat/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { iat: now() + 600 })), s, /iat/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { iat: 'yesterday' })), s, /iat/);
  t.equal((await postLogoutToken(app, await tokenFor(s, { iat: now() + 60 }))).statusCode, 200, 'within the skew is accepted');
});

t.test('rule: exp must be present and not passed beyond the skew', async (t) => {
  const s = await registerSession();
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { exp: undefined })), s, /exp/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { iat: now() - 900, exp: now() - 600 })), s, /expired/);
  t.equal((await postLogoutToken(app, await tokenFor(s, { iat: now() - 100, exp: now() - 60 }))).statusCode, 200, 'within the skew is accepted');
});

t.test('rule: jti must be present', async (t) => {
  const s = await registerSession();
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { jti: undefined })), s, /jti/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { jti: '' })), s, /jti/);
});

t.test('rule: a replayed jti is refused and has no effect', async (t) => {
  const first = await registerSession();
  const jti = randomUUID();
  t.equal((await postLogoutToken(app, await tokenFor(first, { jti }))).statusCode, 200);
  const second = await registerSession();
  // Same jti, now naming another session: the replay must not end it.
  await assertRefused(t, await postLogoutToken(app, await tokenFor(second, { jti })), second, /replay/);
});

t.test('rule: events must hold the back-channel logout event as a JSON object', async (t) => {
  const s = await registerSession();
  const cases: [string, unknown][] = [
    ['absent', undefined],
    ['an array', [BACKCHANNEL_LOGOUT_EVENT]],
    ['a string', BACKCHANNEL_LOGOUT_EVENT],
    ['without the member', { 'http://schemas.openid.net/event/other': {} }],
    ['member true', { [BACKCHANNEL_LOGOUT_EVENT]: true }],
    ['member an array', { [BACKCHANNEL_LOGOUT_EVENT]: [] }],
    ['member a string', { [BACKCHANNEL_LOGOUT_EVENT]: '{}' }],
    ['member null', { [BACKCHANNEL_LOGOUT_EVENT]: null }],
  ];
  for (const [name, events] of cases) await t.test(`events ${name}`, async (t) => assertRefused(t, await postLogoutToken(app, await tokenFor(s, { events })), s, /events/));
  const extra = await postLogoutToken(app, await tokenFor(s, { events: { [BACKCHANNEL_LOGOUT_EVENT]: { any: 1 }, 'urn:other': {} } }));
  t.equal(extra.statusCode, 200, 'other events and members beside it are fine');
});

t.test('rule: sid or sub must be present, as strings', async (t) => {
  const s = await registerSession();
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { sid: undefined })), s, /neither sid nor sub/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { sid: 12 })), s, /sid/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { sid: undefined, sub: ['x'] })), s, /sub/);
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { sid: '' })), s, /sid/);
});

t.test('rule: nonce must be absent', async (t) => {
  const s = await registerSession();
  await assertRefused(t, await postLogoutToken(app, await tokenFor(s, { nonce: 'n-0S6_WzA2Mj' })), s, /nonce/);
});

t.test('rule: typ must be absent, JWT or logout+jwt', async (t) => {
  const s = await registerSession();
  for (const typ of ['at+jwt', 'dpop+jwt', 'application/at+jwt', 'JOSE', 'secevent+jwt', 42]) await assertRefused(t, await postLogoutToken(app, await tokenFor(s, {}, { typ })), s, /typ|type/);
  for (const typ of [undefined, 'JWT', 'jwt', 'logout+jwt', 'Logout+JWT', 'application/logout+jwt', 'application/jwt']) t.equal((await postLogoutToken(app, await tokenFor(s, {}, { typ }))).statusCode, 200, `typ ${String(typ)} is accepted`);
});

t.test('rule: requireTyp accepts logout+jwt alone', async (t) => {
  const strict = await startService((f) => {
    f.issuers[0]!.requireTyp = true;
  });
  t.teardown(() => strict.close());
  const p = strict.provider;
  for (const typ of [undefined, 'JWT', 'application/jwt']) {
    const res = await postLogoutToken(strict.app, await p.sign(p.claims(ISSUER, ORDERS), { typ }));
    t.equal(res.statusCode, 400, `typ ${String(typ)} is refused`);
  }
  for (const typ of ['logout+jwt', 'application/logout+jwt']) t.equal((await postLogoutToken(strict.app, await p.sign(p.claims(ISSUER, ORDERS), { typ }))).statusCode, 200, `typ ${typ} is accepted`);
});

t.test('unknown extra claims and extra form parameters are ignored (conformance suite shape)', async (t) => {
  const s = await registerSession();
  const token = await tokenFor(s, { ignored_claim: 'x' }, { typ: undefined });
  const res = await postLogoutToken(app, token, '&ignored_parameter=ignored');
  t.equal(res.statusCode, 200);
  t.equal(res.body, '', 'exactly 200 with an empty body');
  t.equal(await svc.stores.sessions.get(s.id), null);
});

t.test('rule: an issuer whose JWKS cannot be fetched refuses with 400', async (t) => {
  const down = await startService((f) => {
    f.issuers[0]!.jwksUri = 'http://127.0.0.1:9/jwks';
  });
  t.teardown(() => down.close());
  const res = await postLogoutToken(down.app, await down.provider.sign(down.provider.claims(ISSUER, ORDERS)));
  t.equal(res.statusCode, 400);
  t.match(res.json().error_description, /keys of the issuer are unavailable/);
});

t.test('garbage tokens get 400, never 5xx', async (t) => {
  const s = await registerSession();
  for (const garbage of ['x', 'a.b.c', '...', 'eyJhbGciOiJSUzI1NiJ9.e30.', `${'a'.repeat(5000)}.${'b'.repeat(5000)}.c`, '%00%01', 'a.b.c.d', 'a.b.c.d.e']) await assertRefused(t, await postLogoutToken(app, garbage), s, /./);
});

t.test('the ES256 key of the issuer is found by kid among other key types', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  provider.extraKeys = [{ ...(await exportJWK(publicKey)), kid: 'ec-key', alg: 'ES256' }];
  t.teardown(() => {
    provider.extraKeys = [];
  });
  const s = await registerSession();
  // Force a refetch by waiting out nothing: a new service instance starts with an empty key cache.
  const fresh: TestService = await startService((f) => {
    f.issuers[0]!.jwksUri = provider.jwksUri;
  });
  t.teardown(() => fresh.close());
  const token = await new SignJWT(provider.claims(ISSUER, ORDERS, { sid: s.sid })).setProtectedHeader({ alg: 'ES256', kid: 'ec-key' }).sign(privateKey);
  t.equal((await postLogoutToken(fresh.app, token)).statusCode, 200);
});
