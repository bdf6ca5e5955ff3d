import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { FakeEntra, MsalWebApp, RedisCacheClient } from '../../simulators/msal-app.js';
import { REDIS_URL, RedisServer, redisForTest } from '../helpers/redis.js';
import { ORDERS, TENANT_A, startRedisService, until } from '../helpers/service.js';

const ctx = await redisForTest(t);
if (ctx && !(await RedisServer.available())) t.plan(0, 'redis-server is not installed: cannot stop and restart a Redis');
else if (ctx) {
  const { prefix } = ctx;

  t.test('a logout answered while the token-cache Redis is down completes once it is back', async (t) => {
    // The cache Redis keeps its data across the restart, as a production one would: alice's tokens are
    // still there when it comes back, and nothing races the worker's retry.
    const cacheServer = await RedisServer.start({ persistent: true });
    t.teardown(() => cacheServer.remove());
    const svc = await startRedisService({ storeUrl: REDIS_URL, cacheUrl: cacheServer.url, prefix: `${prefix}a:` });
    t.teardown(() => svc.close());
    const appRedis = new Redis(cacheServer.url);
    appRedis.on('error', () => {});
    t.teardown(() => appRedis.disconnect());
    const web = new MsalWebApp(ORDERS, svc.config.apps[0]!.tokenCache.key, new RedisCacheClient(appRedis), new FakeEntra());
    const alice = await web.signIn({ oid: randomUUID(), homeTenant: TENANT_A, name: 'Alice', sid: 's' });

    t.equal((await web.accounts(alice.homeAccountId)).length, 1, 'alice is in the cache before the outage');
    await cacheServer.stop();
    const res = await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { homeAccountId: alice.homeAccountId } });
    t.equal(res.statusCode, 200, 'answered 200: journaled');
    const pending = res.json();
    t.equal(pending.state, 'pending');
    t.match(pending.lastError, /failed/);
    const ready = await svc.app.inject({ url: '/readyz' });
    t.same([ready.statusCode, ready.json().store, Object.values(ready.json().tokenCaches)], [200, 'up', ['down', 'down']], 'still ready (the service store answers), each token cache said down');

    await cacheServer.start();
    const done = await until(async () => {
      const report = (await svc.app.inject({ url: `/v1/logouts/${pending.id}`, headers: svc.auth })).json();
      return report.state === 'completed' && report;
    });
    t.ok(done.attempts >= 2, `completed by the worker after ${done.attempts} attempts`);
    t.same(
      (await web.accounts(alice.homeAccountId)).map((a) => a.homeAccountId),
      [],
      'alice is gone from the cache',
    );
    await until(async () => Object.values((await svc.app.inject({ url: '/readyz' })).json().tokenCaches).every((state) => state === 'up'));
    t.pass('/readyz says the token caches are up again');
  });

  t.test('the service neither crashes nor answers 5xx to bad input while its own Redis is down; /readyz says 503', async (t) => {
    const storeServer = await RedisServer.start();
    t.teardown(() => storeServer.stop());
    const svc = await startRedisService({ storeUrl: storeServer.url, prefix: `${prefix}b:` });
    t.teardown(() => svc.close());
    t.equal((await svc.app.inject({ url: '/readyz' })).statusCode, 200);
    await storeServer.stop();
    t.equal((await svc.app.inject({ url: '/readyz' })).statusCode, 503);
    const bad = await svc.app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: 'nope' } });
    t.equal(bad.statusCode, 400, 'bad input is still a 400');
    const register = await svc.app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: ORDERS, issuer: 'idp', sid: 'x', sub: 'y', homeAccountId: 'a.b' } });
    t.equal(register.statusCode, 503, 'a registration that cannot be stored says so');
    t.equal(register.json().error, 'temporarily_unavailable');
    const logout = await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { homeAccountId: 'a.b' } });
    t.equal(logout.statusCode, 503, 'a logout that cannot be journaled is not answered 200');
    const token = await svc.provider.sign(svc.provider.claims('https://idp.example.test', ORDERS));
    const backchannel = await svc.app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${token}` });
    t.equal(backchannel.statusCode, 400, 'the back-channel answers a logout it could not record with 400, as the spec says');
    // Fixed texts for store failures: the store's own message (and its connection details) stays in the log.
    for (const [what, res] of [
      ['registration', register],
      ['logout', logout],
      ['back-channel', backchannel],
    ] as const) {
      t.same(res.json(), { error: 'temporarily_unavailable', error_description: 'a store is unreachable; try again' }, `${what}: the fixed text`);
      t.notMatch(res.body, /127\.0\.0\.1|ECONNREFUSED|Connection|closed|recorded:/i, `${what}: nothing of the store's own error`);
    }
    await storeServer.start();
    await until(async () => (await svc.app.inject({ url: '/readyz' })).statusCode === 200);
    const retried = await svc.app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${token}` });
    t.equal(retried.statusCode, 200, `the provider's retry of the same token goes through once Redis is back (${retried.body})`);
  });
}
