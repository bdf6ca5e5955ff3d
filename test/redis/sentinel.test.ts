import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { assertCarriedOut, cachesOn, streamThrough, streamUsers } from '../helpers/failover-stream.js';
import { requireSentinel, SentinelDeployment } from '../helpers/redis-sentinel.js';
import { ISSUER, ORDERS, startRedisService, type TestService } from '../helpers/service.js';

// An answered logout survives a Sentinel failover: the store follows the master (failoverDetector, role
// check) and an admission counts only once a replica has it (store.replicas, WAIT). The token caches live
// on the same deployment, reached through the sentinels too.
const USERS = 240;

if (requireSentinel(t)) {
  const deployment = await SentinelDeployment.start();
  t.teardown(() => deployment.stop());
  const sentinel = { name: deployment.name, nodes: deployment.nodes };
  const direct = new Redis({ sentinels: deployment.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })), name: deployment.name, failoverDetector: true, maxRetriesPerRequest: 20 });
  direct.on('error', () => {});
  t.teardown(() => direct.disconnect());

  const service = (prefix: string): Promise<TestService> =>
    startRedisService({
      storeUrl: 'redis://127.0.0.1:1', // replaced below: the store is the Sentinel deployment
      prefix,
      edit: (f) => {
        f.store = { kind: 'redis', sentinel, keyPrefix: prefix, replicas: 1, replicaWaitMs: 250 };
        [f.apps[0]!.tokenCache, f.apps[1]!.tokenCache] = cachesOn({ sentinel }, prefix);
        f.limits = { publicRequestsPerMinute: 1_000_000, apiRequestsPerMinute: 1_000_000 };
      },
    });

  t.test('SENTINEL FAILOVER during a stream of logouts: every logout answered 200 is carried out, none is replayable, no 5xx', async (t) => {
    const prefix = `lr-sentinel-${randomUUID()}:`;
    const svc = await service(prefix);
    t.teardown(() => svc.close());
    const users = await streamUsers(svc, direct, prefix, USERS);
    const before = await deployment.masterPort();
    const statuses = await streamThrough(svc, users, () => deployment.failover());
    t.not(await deployment.masterPort(), before, 'the master changed during the stream');
    await assertCarriedOut(t, svc, direct, prefix, users, statuses);
  });

  t.test('kill -9 of the Sentinel master during a stream of logouts: the same, once the sentinels promote the replica and the old master comes back as one', async (t) => {
    const prefix = `lr-sentinel-${randomUUID()}:`;
    const svc = await service(prefix);
    t.teardown(() => svc.close());
    const users = await streamUsers(svc, direct, prefix, USERS);
    const statuses = await streamThrough(svc, users, async () => {
      const killed = await deployment.killMaster();
      await deployment.until(async () => (await deployment.masterPort()) !== killed, 20_000);
      await deployment.restart(killed); // back as a replica of the new master: writes reach a replica again
    });
    await assertCarriedOut(t, svc, direct, prefix, users, statuses);
  });

  t.test('bad input: a Sentinel master name that does not exist: the service starts, /readyz is 503, logouts are answered 400 temporarily_unavailable', async (t) => {
    const prefix = `lr-sentinel-${randomUUID()}:`;
    const svc = await startRedisService({ storeUrl: 'redis://127.0.0.1:1', prefix, edit: (f) => void (f.store = { kind: 'redis', sentinel: { name: 'no-such-master', nodes: deployment.nodes }, keyPrefix: prefix }) });
    t.teardown(() => svc.close());
    t.equal((await svc.app.inject({ url: '/readyz' })).statusCode, 503);
    const token = await svc.provider.sign(svc.provider.claims(ISSUER, ORDERS));
    const res = await svc.app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${token}` });
    t.same([res.statusCode, res.json().error], [400, 'temporarily_unavailable']);
  });
}
