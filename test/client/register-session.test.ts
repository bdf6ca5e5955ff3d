import t from 'tap';
import { randomUUID } from 'node:crypto';
import { registerSession, sessionFromSignIn, SessionRegistrationError } from '../../src/index.js';
import { FakeEntra, MsalWebApp } from '../../simulators/msal-app.js';
import { ENTRA_TEMPLATE, FULL_KEY, ORDERS, TENANT_A, TENANT_B, startService } from '../helpers/service.js';

const svc = await startService();
t.teardown(() => svc.close());
const address = await svc.app.listen({ host: '127.0.0.1', port: 0 });
const web = new MsalWebApp(ORDERS, svc.config.apps[0]!.tokenCache.key, svc.caches.get(ORDERS)!, new FakeEntra());

t.test('an msal-node app registers its session at sign-in from its AuthenticationResult', async (t) => {
  const result = await web.signInResult({ oid: randomUUID(), homeTenant: TENANT_B, tenant: TENANT_A, name: 'Guest', sid: `sid-${randomUUID()}` });
  const registration = sessionFromSignIn(ORDERS, result);
  t.match(registration, {
    clientId: ORDERS,
    issuer: ENTRA_TEMPLATE.replace('{tenantid}', TENANT_A),
    sid: (result.idTokenClaims as { sid: string }).sid,
    sub: (result.idTokenClaims as { sub: string }).sub,
    homeAccountId: result.account!.homeAccountId,
  });
  t.match(registration.homeAccountId, new RegExp(`\\.${TENANT_B}$`), "a guest's homeAccountId is MSAL's, in the home tenant");
  t.ok(result.idToken, 'msal-node returns the raw ID token');
  t.equal(registration.idToken, result.idToken, 'the ID token goes along, for apps with requireIdToken');
  const id = await registerSession(address, FULL_KEY, registration);
  const stored = await svc.stores.sessions.get(id);
  t.equal(stored?.homeAccountId, result.account!.homeAccountId);
  t.equal(stored?.sid, registration.sid);
});

t.test('without the sid claim, session_state stands in for it', async (t) => {
  const result = await web.signInResult({ oid: randomUUID(), homeTenant: TENANT_A, name: 'NoSid', sid: '' });
  delete (result.idTokenClaims as { sid?: string }).sid;
  t.equal(sessionFromSignIn(ORDERS, result, { sessionState: 'state-123', cacheKey: 'k' }).sid, 'state-123');
  t.equal(sessionFromSignIn(ORDERS, result, { onWarning: () => {} }).sid, undefined);
  t.throws(() => sessionFromSignIn(ORDERS, { account: null, idTokenClaims: {} }), TypeError);
});

t.test("the app's web-session id goes along as webSessionKey, stored for the logout and never returned", async (t) => {
  const result = await web.signInResult({ oid: randomUUID(), homeTenant: TENANT_A, name: 'Web', sid: `sid-${randomUUID()}` });
  const registration = sessionFromSignIn(ORDERS, result, { webSessionKey: 'express-session-id-1' });
  t.equal(registration.webSessionKey, 'express-session-id-1');
  const id = await registerSession(address, FULL_KEY, registration);
  t.equal((await svc.stores.sessions.get(id))?.webSessionKey, 'express-session-id-1');
});

t.test('a registration after the logout is refused: the error says the user already signed out', async (t) => {
  const result = await web.signInResult({ oid: randomUUID(), homeTenant: TENANT_A, name: 'Late', sid: `sid-${randomUUID()}` });
  const registration = sessionFromSignIn(ORDERS, result);
  await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { issuer: registration.issuer, sid: registration.sid } });
  const err = await registerSession(address, FULL_KEY, registration).catch((e: unknown) => e);
  t.type(err, SessionRegistrationError);
  t.equal((err as SessionRegistrationError).status, 409);
  t.equal((err as SessionRegistrationError).alreadyLoggedOut, true);
  const wrongKey = await registerSession(address, 'wrong', registration).catch((e: unknown) => e);
  t.equal((wrongKey as SessionRegistrationError).status, 401);
  t.notMatch((wrongKey as Error).message, /wrong/, 'the key is not in the message');
});
