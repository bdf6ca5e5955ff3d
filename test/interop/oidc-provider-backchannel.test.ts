import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { resolveConfig } from '../../src/config/load.js';
import { buildApp } from '../../src/server.js';
import { createBackends } from '../../src/backends.js';
import { FakeEntra, MsalWebApp, RedisCacheClient } from '../../simulators/msal-app.js';
import { CookieBrowser, TestOpenIdProvider, endSession, signInWithProvider, type OpClient } from '../../simulators/oidc-provider.js';
import { REDIS_URL, freePort, redisForTest } from '../helpers/redis.js';
import { FULL_KEY, testConfigFile } from '../helpers/service.js';

const ctx = await redisForTest(t);
if (ctx) {
  const { redis, prefix } = ctx;
  const servicePort = await freePort();
  const backchannelUri = `http://127.0.0.1:${servicePort}/logout/backchannel`;
  const clients: OpClient[] = [
    { client_id: 'orders-web', client_secret: 'orders-secret', redirect_uris: ['https://orders.example.test/cb'], backchannel_logout_uri: backchannelUri, backchannel_logout_session_required: true },
    { client_id: 'billing-web', client_secret: 'billing-secret', redirect_uris: ['https://billing.example.test/cb'], backchannel_logout_uri: backchannelUri, backchannel_logout_session_required: false },
  ];
  const op = await TestOpenIdProvider.start(() => clients);
  t.teardown(() => op.close());

  // The service, told only the provider's issuer: its keys come from the provider's discovery document.
  const file = testConfigFile('https://unused.example.test/jwks');
  file.issuers = [{ name: 'op', issuer: op.issuer }];
  file.apps = clients.map((c) => ({ clientId: c.client_id, name: c.client_id, issuers: ['op'], tokenCache: { url: REDIS_URL, key: `${prefix}msal:{clientId}:{homeAccountId}` } }));
  file.store = { kind: 'redis', url: REDIS_URL, keyPrefix: prefix };
  const config = resolveConfig(file);
  const backends = createBackends(config, () => {});
  await backends.connected(5_000);
  const { stores, attemptStores, tokenCaches } = backends;
  const service = await buildApp({ config, stores, attemptStores, tokenCaches, logger: false, workerIntervalMs: 50 });
  await service.listen({ host: '127.0.0.1', port: servicePort });
  t.teardown(() => service.close());

  // The apps' MSAL caches in Redis, as the apps' DistributedCachePlugin writes them.
  const appRedis = new Redis(REDIS_URL);
  t.teardown(() => appRedis.quit());
  const entra = new FakeEntra();
  const msalApps = clients.map((c) => new MsalWebApp(c.client_id, `${prefix}msal:{clientId}:{homeAccountId}`, new RedisCacheClient(appRedis), entra));

  /** A user signs in to both apps in one browser (one provider session); each app registers its session. */
  async function signInToBoth(login: string) {
    const browser = new CookieBrowser();
    const oid = randomUUID();
    const homeAccountIds: string[] = [];
    const idTokens = [];
    for (const [i, client] of clients.entries()) {
      const user = await signInWithProvider(op, browser, client, login);
      idTokens.push(user);
      const account = await msalApps[i]!.signIn({ oid, homeTenant: 'op-tenant', name: login, sid: user.sid ?? '' });
      homeAccountIds.push(account.homeAccountId);
      const res = await service.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { authorization: `Bearer ${FULL_KEY}` },
        payload: { clientId: client.client_id, issuer: user.iss, sub: user.sub, homeAccountId: account.homeAccountId, ...(user.sid ? { sid: user.sid } : {}) },
      });
      if (res.statusCode !== 201) throw new Error(res.body);
    }
    return { browser, homeAccountId: homeAccountIds[0]!, idTokens };
  }

  t.test('oidc-provider ends a session: its back-channel logout tokens sign the user out of every app, another user stays', async (t) => {
    const alice = await signInToBoth('alice');
    const bob = await signInToBoth('bob');
    t.equal(alice.idTokens[0]!.iss, op.issuer, 'real ID tokens from the provider');
    t.ok(alice.idTokens[0]!.sid, 'the ID token of the session-required client carries sid');

    const ended = await endSession(op, alice.browser);
    t.ok(ended.status < 400, `the provider's logout page answered ${ended.status}`);
    const events = await op.backchannelEvents(2);
    t.same(
      events.map((e) => [e.clientId, e.ok, e.error]).sort(),
      [
        ['billing-web', true, undefined],
        ['orders-web', true, undefined],
      ],
      "the provider's own backchannel.success for both clients",
    );
    // Answered once journaled, carried out right after.
    await service.logouts.settled();

    for (const app of msalApps) {
      t.notOk(
        (await app.accounts(alice.homeAccountId)).some((a) => a.homeAccountId === alice.homeAccountId),
        `${app.clientId}: alice is gone`,
      );
      t.same(
        (await app.accounts(bob.homeAccountId)).map((a) => a.homeAccountId),
        [bob.homeAccountId],
        `${app.clientId}: bob remains`,
      );
    }
    const reports = await Promise.all((await redis.keys(`${prefix}logout:*`)).map(async (k) => JSON.parse((await redis.get(k))!)));
    t.same(reports.map((r) => r.target.kind).sort(), ['sid', 'sub'], 'one logout token carried sid, the other only sub');
    t.ok(
      reports.every((r) => r.state === 'completed'),
      'both logouts completed',
    );
    t.equal(
      reports.reduce((n, r) => n + r.sessionsEnded, 0),
      2,
      "between them they ended alice's two app sessions",
    );
    const left = await service.inject({ url: `/v1/sessions?homeAccountId=${alice.homeAccountId}`, headers: { authorization: `Bearer ${FULL_KEY}` } });
    t.same(left.json(), [], 'no session of alice is left');
    const bobs = await service.inject({ url: `/v1/sessions?homeAccountId=${bob.homeAccountId}`, headers: { authorization: `Bearer ${FULL_KEY}` } });
    t.equal(bobs.json().length, 2, "bob's sessions stay");
  });
}
