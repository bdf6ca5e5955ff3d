import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { assertCarriedOut, cachesOn, streamThrough, streamUsers } from '../helpers/failover-stream.js';
import { ClusterDeployment } from '../helpers/redis-cluster.js';
import { sentinelAvailable } from '../helpers/redis-sentinel.js';
import { ISSUER, startRedisService } from '../helpers/service.js';
import { CLUSTER_BUCKETS, Keyspace } from '../../src/stores/redis/keys.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { logoutSemantics } from '../helpers/logout-semantics.js';

// The store and both kinds of Redis token cache on a Cluster (3 masters with a replica each); kill -9 of
// the master that holds the stream's issuer's keys during a stream of logouts.
const USERS = 200;

if (!ClusterDeployment.available() || !sentinelAvailable()) {
  if (process.env.CI === 'true') t.fail('redis-cli and redis-server are required under CI');
  else t.plan(0, 'redis-cli not installed');
} else {
  const deployment = await ClusterDeployment.start();
  t.teardown(() => deployment.stop());
  const cluster = { nodes: deployment.nodes };
  const direct = new Cluster(
    deployment.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })),
    { redisOptions: { maxRetriesPerRequest: 20 } },
  );
  direct.on('error', () => {});
  t.teardown(() => direct.disconnect());

  t.test('the logout semantics on the Cluster (its 16 buckets of issuers)', async (t) => {
    let prefix = '';
    t.beforeEach(() => void (prefix = `lr-cluster-sem-${randomUUID().slice(0, 8)}:`));
    logoutSemantics(t, async (now) => createRedisStores(direct, { keyPrefix: prefix, buckets: CLUSTER_BUCKETS, reportRetentionMs: 600_000, now, ownsConnection: false }));
  });

  t.test("kill -9 of the Cluster master holding the issuer's keys during a stream of logouts: every logout answered 200 is carried out, none is replayable, no 5xx; caches on the Cluster too", async (t) => {
    const prefix = `lr-cluster-${randomUUID().slice(0, 8)}:`;
    const svc = await startRedisService({
      storeUrl: 'redis://127.0.0.1:1', // replaced below: the store is the Cluster
      prefix,
      edit: (f) => {
        f.store = { kind: 'redis', cluster, keyPrefix: prefix };
        [f.apps[0]!.tokenCache, f.apps[1]!.tokenCache] = cachesOn({ cluster }, prefix);
        f.limits = { publicRequestsPerMinute: 1_000_000, apiRequestsPerMinute: 1_000_000 };
      },
    });
    t.teardown(() => svc.close());
    const ks = new Keyspace(prefix, CLUSTER_BUCKETS);
    const masters = new Set(await Promise.all(ks.all().map((bucket) => deployment.masterOf(`${ks.of(bucket)}readyz`))));
    t.equal(masters.size, 3, "spread over a Cluster: the service's buckets of issuers land on all 3 masters");
    const issuerTag = ks.of(ks.bucketOf(ISSUER));
    const users = await streamUsers(svc, direct, prefix, USERS);
    const statuses = await streamThrough(svc, users, () => deployment.killMasterOf(`${issuerTag}readyz`));
    await assertCarriedOut(t, svc, direct, prefix, users, statuses);
    const reports = (await Promise.all(direct.nodes('master').map((node) => node.keys(`{${prefix}*logout:*`)))).flat();
    t.ok(reports.length >= USERS && reports.every((key) => key.startsWith(issuerTag)), `every report of the stream's issuer is under its bucket's tag (${reports.length})`);
    t.equal((await svc.app.inject({ url: '/readyz' })).statusCode, 200, 'ready again on the promoted replica');
  });
}
