import t from 'tap';
import { randomUUID } from 'node:crypto';
import { base64url, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { BILLING, ENTRA_TEMPLATE, ISSUER, ORDERS, STRANGER, TENANT_A, TENANT_B, postLogoutToken, startService } from '../helpers/service.js';

// The shapes the OpenID Foundation's back-channel logout conformance tests send, and Entra ID's shapes.
const svc = await startService((f) => {
  f.issuers[0]!.algorithms = ['RS256'];
});
t.teardown(() => svc.close());
const { app, provider } = svc;

// The issuer also publishes a key of another type, as real providers do.
const ec = await generateKeyPair('ES256');
provider.extraKeys = [{ ...(await exportJWK(ec.publicKey)), kid: 'published-ec-key', alg: 'ES256', use: 'sig' }];

const valid = (extra: Record<string, unknown> = {}) => provider.claims(ISSUER, ORDERS, extra);

t.test('conformance: no typ header, an ignored claim and an ignored form parameter get exactly 200', async (t) => {
  const token = await provider.sign(valid({ ignored_claim: 'ignored' }), { typ: undefined });
  const res = await postLogoutToken(app, token, '&ignored_parameter=ignored');
  t.equal(res.statusCode, 200);
  t.equal(res.body, '');
});

t.test('conformance negatives get exactly 400', async (t) => {
  const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
  const cases: [string, Promise<string> | string][] = [
    ['alg none', `${enc({ alg: 'none' })}.${enc(valid())}.`],
    ['no events', provider.sign({ ...valid(), events: undefined })],
    ['nonce', provider.sign(valid({ nonce: 'abc' }))],
    ['wrong alg, signed with a real published key of another type', new SignJWT(valid()).setProtectedHeader({ alg: 'ES256', kid: 'published-ec-key' }).sign(ec.privateKey)],
    ['wrong aud', provider.sign(valid({ aud: STRANGER }))],
    ['wrong event', provider.sign(valid({ events: { 'http://schemas.openid.net/event/other': {} } }))],
    ['wrong iss', provider.sign(valid({ iss: 'https://other.example.test' }))],
  ];
  for (const [name, token] of cases) {
    const res = await postLogoutToken(app, await token);
    t.equal(res.statusCode, 400, name);
  }
});

t.test('Entra ID shapes: a v2.0 issuer with a tenant GUID, oid, tid, pairwise sub and sid', async (t) => {
  for (const tenant of [TENANT_A, TENANT_B]) {
    const iss = ENTRA_TEMPLATE.replace('{tenantid}', tenant);
    const oid = randomUUID();
    const sid = randomUUID();
    const sub = base64url.encode(randomUUID()).slice(0, 43); // pairwise: per app, not the oid
    const registered = await app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: BILLING, issuer: iss, sid, sub, homeAccountId: `${oid}.${tenant}` } });
    t.equal(registered.statusCode, 201);
    const token = await provider.sign({ ...provider.claims(iss, BILLING), sid, sub, oid, tid: tenant, ver: '2.0' }, { typ: 'JWT' });
    t.equal((await postLogoutToken(app, token)).statusCode, 200, `tenant ${tenant} is accepted`);
    t.same(await svc.stores.sessions.bySid(iss, sid), [], 'and its session ended');
  }
  const refused = ENTRA_TEMPLATE.replace('{tenantid}', randomUUID());
  t.equal((await postLogoutToken(app, await provider.sign(provider.claims(refused, BILLING)))).statusCode, 400, 'a third tenant is refused');
});

t.test('Entra ID shapes: the v1 issuer https://sts.windows.net/{tid}/ is refused unless configured', async (t) => {
  const v1 = `https://sts.windows.net/${TENANT_A}/`;
  t.equal((await postLogoutToken(app, await provider.sign(provider.claims(v1, ORDERS)))).statusCode, 400);
  const withV1 = await startService((f) => {
    f.issuers.push({ name: 'entra-v1', issuer: 'https://sts.windows.net/{tenantid}/', tenants: [TENANT_A], jwksUri: f.issuers[0]!.jwksUri! });
    f.apps[0]!.issuers.push('entra-v1');
  });
  t.teardown(() => withV1.close());
  t.equal((await postLogoutToken(withV1.app, await withV1.provider.sign(withV1.provider.claims(v1, ORDERS)))).statusCode, 200);
});

t.test('Entra ID shapes: the front-channel call Entra makes, GET /logout/frontchannel/{issuerName}?sid= with no iss', async (t) => {
  const sid = randomUUID();
  const iss = ENTRA_TEMPLATE.replace('{tenantid}', TENANT_A);
  await app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: ORDERS, issuer: iss, sid, sub: 's', homeAccountId: `${randomUUID()}.${TENANT_A}` } });
  const res = await app.inject({ url: `/logout/frontchannel/entra?sid=${sid}` });
  t.equal(res.statusCode, 200);
  await app.logouts.settled(); // the page answers once the logout is journaled; the sweep follows
  t.same(await svc.stores.sessions.bySid(iss, sid), []);
});
