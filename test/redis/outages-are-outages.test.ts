import t from 'tap';
import { randomUUID } from 'node:crypto';
import { freePort, RedisServer, startReplicated, withClient } from '../helpers/redis.js';
import { FULL_KEY, ISSUER, ORDERS, postLogoutToken, startRedisService, until } from '../helpers/service.js';

// Outages are outages: a Redis that cannot take writes (a replica after a failover) or that cannot be
// reached (no sentinel, no Cluster node) is answered 503 on the API and 400 temporarily_unavailable on the
// back channel, with a fixed text, never 500; /readyz says 503; the service starts all the same.

if (await RedisServer.available()) {
  t.test('a store URL that now points at a replica: READONLY (and EXECABORT behind it) is an outage, not a 500; /readyz is 503; a token cache there reports why', async (t) => {
    const { replica } = await startReplicated(t);
    const prefix = `lr-ro-${randomUUID()}:`;
    const svc = await startRedisService({ storeUrl: replica.url, cacheUrl: replica.url, prefix });
    t.teardown(() => svc.close());
    const register = await svc.app.inject({ method: 'POST', url: '/v1/sessions', headers: { authorization: `Bearer ${FULL_KEY}` }, payload: { clientId: ORDERS, issuer: ISSUER, sid: 's', sub: 'u', homeAccountId: 'a.b' } });
    t.equal(register.statusCode, 503, 'registration: 503');
    t.same(register.json(), { error: 'temporarily_unavailable', error_description: 'a store is unreachable; try again' });
    const logout = await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: { authorization: `Bearer ${FULL_KEY}` }, payload: { homeAccountId: 'a.b' } });
    t.equal(logout.statusCode, 503, 'API logout: 503');
    const back = await postLogoutToken(svc.app, await svc.provider.sign(svc.provider.claims(ISSUER, ORDERS)));
    t.same([back.statusCode, back.json().error], [400, 'temporarily_unavailable'], 'back channel: 400 temporarily_unavailable');
    t.equal((await svc.app.inject({ url: '/readyz' })).statusCode, 503, '/readyz: 503 (a replica is not a writable master)');
  });

  t.test('a token cache whose URL points at a replica: the removal fails (retried) and the report names READONLY, not only EXECABORT', async (t) => {
    const { master, replica } = await startReplicated(t);
    const prefix = `lr-ro-${randomUUID()}:`;
    const hid = `${randomUUID()}.t`;
    await withClient(master.port, (c) => c.set(`${prefix}msal:${ORDERS}:${hid}`, JSON.stringify({ Account: { [`${hid}-login.windows.net-t`]: { home_account_id: hid } } })));
    await until(async () => (await withClient(replica.port, (c) => c.exists(`${prefix}msal:${ORDERS}:${hid}`))) === 1);
    const store = await RedisServer.start();
    t.teardown(() => store.stop());
    const svc = await startRedisService({ storeUrl: store.url, cacheUrl: replica.url, prefix, retry: { baseDelayMs: 60_000, maxDelayMs: 60_000, leaseMs: 60_000 } });
    t.teardown(() => svc.close());
    const report = (await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: { authorization: `Bearer ${FULL_KEY}` }, payload: { homeAccountId: hid } })).json() as { state: string; removals: { outcome: string; detail?: string }[]; lastError?: string };
    t.equal(report.state, 'pending', 'retried');
    const failed = report.removals.find((r) => r.outcome === 'failed');
    t.match(failed?.detail, /READONLY/, `the report says why: ${failed?.detail}`);
  });

  for (const [what, store] of [
    ['unreachable sentinels', async () => ({ kind: 'redis', sentinel: { name: 'mymaster', nodes: [`127.0.0.1:${await freePort()}`] } })],
    ['a Cluster with no reachable node', async () => ({ kind: 'redis', cluster: { nodes: [`127.0.0.1:${await freePort()}`] } })],
  ] as const)
    t.test(`bad input: ${what}: the service starts, /readyz is 503, logouts are answered 400 temporarily_unavailable (nothing answered 200 unrecorded)`, async (t) => {
      const prefix = `lr-away-${randomUUID()}:`;
      const location = await store();
      const svc = await startRedisService({ storeUrl: 'redis://127.0.0.1:1', prefix, edit: (f) => void (f.store = { ...location, keyPrefix: prefix }) });
      t.teardown(() => svc.close());
      t.equal((await svc.app.inject({ url: '/healthz' })).statusCode, 200, 'alive');
      t.equal((await svc.app.inject({ url: '/readyz' })).statusCode, 503, 'not ready');
      const back = await postLogoutToken(svc.app, await svc.provider.sign(svc.provider.claims(ISSUER, ORDERS)));
      t.same([back.statusCode, back.json().error], [400, 'temporarily_unavailable']);
      const api = await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: { authorization: `Bearer ${FULL_KEY}` }, payload: { homeAccountId: 'a.b' } });
      t.equal(api.statusCode, 503);
    });
}
