import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RedisStore } from 'connect-redis';
import express from 'express';
import { auth, type ConfigParams } from 'express-openid-connect';
import { createClient } from 'redis';
import t from 'tap';
import { CookieBrowser, TestOpenIdProvider, type OpClient } from '../../simulators/oidc-provider.js';
import { redisForTest, REDIS_URL } from '../helpers/redis.js';
import { openWebSession } from '../helpers/web-sessions.js';
import { startRedisService } from '../helpers/service.js';

/**
 * The real express-openid-connect, its default cookie sessions, `backchannelLogout` with a connect-redis
 * store, and panva's oidc-provider signing users in: the `eoc-marker` kind's markers make the library's own
 * `isLoggedOut` sign the old cookie out at the next request.
 */
const context = await redisForTest(t);
if (context) {
  const { redis, prefix } = context;
  const client = createClient({ url: REDIS_URL });
  client.on('error', () => {});
  await client.connect();
  t.teardown(() => client.quit());
  const markerPrefix = `${prefix}sess:`;

  const app = express();
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // backchannel_logout_session_required: without it the provider puts no sid in the ID token (and the app's session has none).
  const opClient: OpClient = { client_id: 'eoc-web', client_secret: 'eoc-secret', redirect_uris: [`${base}/callback`], backchannel_logout_uri: `${base}/backchannel-logout`, backchannel_logout_session_required: true };
  const op = await TestOpenIdProvider.start(() => [opClient]);
  t.teardown(() => op.close());

  app.use(
    auth({
      issuerBaseURL: op.issuer,
      baseURL: base,
      clientID: opClient.client_id,
      clientSecret: opClient.client_secret,
      clientAuthMethod: 'client_secret_post',
      secret: 'a-long-enough-cookie-secret-for-the-test',
      authRequired: false,
      idpLogout: false,
      authorizationParams: { response_type: 'code', scope: 'openid' },
      // The library's types want its own cookie shape; connect-redis (express-session's Store) is what its docs name.
      backchannelLogout: { store: new RedisStore({ client, prefix: markerPrefix }) as unknown as NonNullable<Exclude<ConfigParams['backchannelLogout'], boolean>>['store'] },
    }),
  );
  app.get('/me', (req, res) => (req.oidc.isAuthenticated() ? res.json({ sid: req.oidc.idTokenClaims?.sid, sub: req.oidc.idTokenClaims?.sub }) : res.status(401).json({ signedIn: false })));
  // Express's default handler would print the stack; the test reads the error instead.
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).json({ error: err.name }));

  /** A user signs in through the app's /login (code flow with PKCE) in a browser of their own; the app's /me says who. */
  const signIn = async (login: string) => {
    const browser = new CookieBrowser();
    let step = await browser.follow(`${base}/login`);
    for (let pages = 0; !step.url.startsWith(base); pages++) {
      if (pages > 4) throw new Error(`sign-in did not finish: ${step.url}`);
      const html = await step.res.text();
      step = await browser.submit(step.url, html, /name="login"/.test(html) ? { prompt: 'login', login, password: 'any' } : { prompt: 'consent' });
    }
    // Back at the app (its / after the callback): the session is set.
    const res = await browser.request(`${base}/me`);
    if (res.status !== 200) throw new Error(`not signed in after the callback: ${res.status}`);
    const claims = (await res.json()) as { sid?: string; sub: string };
    return { browser, ...claims };
  };
  const me = async (browser: CookieBrowser) => (await browser.request(`${base}/me`)).status;

  t.test('express-openid-connect (cookie sessions): after the sid marker, the old cookie is signed out by the library itself; a bystander stays', async (t) => {
    const { store } = await openWebSession(t, 'eoc-marker', { url: REDIS_URL, prefix: markerPrefix });
    const alice = await signIn(`alice-${prefix}`);
    const bob = await signIn(`bob-${prefix}`);
    t.ok(alice.sid, 'the ID token carries sid (backchannel_logout_session_required)');
    t.equal(await me(alice.browser), 200);
    t.same(await store.end({ clientId: opClient.client_id, iss: op.issuer, sid: alice.sid!, sub: alice.sub }), { outcome: 'removed' });
    t.equal(await me(alice.browser), 401, "alice's next request with the old cookie is signed out");
    t.equal(await me(bob.browser), 200, 'bob stays signed in');
    const stored = JSON.parse((await redis.get(`${markerPrefix}${op.issuer}|${alice.sid}`))!) as unknown;
    t.match(stored, { cookie: { expires: Number, maxAge: 86_400_000 } }, "connect-redis parsed and the library read the marker as the library's own");
  });

  t.test('express-openid-connect: a logout by sub signs out every session of the user; the next sign-in deletes the markers and stays', async (t) => {
    const { store } = await openWebSession(t, 'eoc-marker', { url: REDIS_URL, prefix: markerPrefix });
    const login = `carol-${prefix}`;
    const one = await signIn(login);
    const two = await signIn(login);
    t.same(await store.end({ clientId: opClient.client_id, iss: op.issuer, sid: one.sid!, sub: one.sub, bySub: true }), { outcome: 'removed' });
    t.equal(await me(one.browser), 401, 'the session the logout named');
    t.equal(await me(two.browser), 401, 'and the other session of the same sub');
    const again = await signIn(login);
    t.equal(await me(again.browser), 200, 'a new sign-in: the library deleted the sub marker at login');
    t.equal(await redis.exists(`${markerPrefix}${op.issuer}|${one.sub}`), 0);
    t.equal(await me(two.browser), 401, 'the older cookie stays out: the library cleared it at its signed-out request');
  });

  t.test('through the service: the app registers its sign-in, a logout by sid writes the markers, and the old cookie is signed out', async (t) => {
    const servicePrefix = `${prefix}svc:`;
    const svc = await startRedisService({
      storeUrl: REDIS_URL,
      prefix: servicePrefix,
      edit: (f) => {
        f.issuers.push({ name: 'op', issuer: op.issuer, jwksUri: `${op.issuer}/jwks`, algorithms: ['RS256'] });
        f.apps.push({ clientId: opClient.client_id, name: 'eoc-web', issuers: ['op'], tokenCache: { kind: 'memory' }, webSession: { kind: 'eoc-marker', url: REDIS_URL, prefix: markerPrefix } });
      },
    });
    t.teardown(() => svc.close());
    const erin = await signIn(`erin-${prefix}`);
    const frank = await signIn(`frank-${prefix}`);
    for (const who of [erin, frank]) {
      const res = await svc.app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: opClient.client_id, issuer: op.issuer, sid: who.sid, sub: who.sub, homeAccountId: `${who.sub}.op` } });
      t.equal(res.statusCode, 201);
    }
    const res = await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { issuer: op.issuer, sid: erin.sid } });
    t.match(res.json(), { state: 'completed', webSessions: [{ app: 'eoc-web', kind: 'eoc-marker', outcome: 'removed' }] });
    t.equal(await me(erin.browser), 401, "erin's next request with the old cookie is signed out by the library");
    t.equal(await me(frank.browser), 200, 'frank stays signed in');
  });

  t.test('express-openid-connect: a marker that is not JSON makes the request fail (500), which is why the kind writes JSON', async (t) => {
    const dave = await signIn(`dave-${prefix}`);
    await redis.set(`${markerPrefix}${op.issuer}|${dave.sid}`, 'logged-out', 'EX', 60);
    const res = await dave.browser.request(`${base}/me`);
    t.same([res.status, await res.json()], [500, { error: 'SyntaxError' }], "connect-redis's JSON.parse of the marker throws on every request of that user");
  });
}
