import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { LogoutReport } from '../../src/core/model.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { RedisServer, replicaSynced, startReplicated } from '../helpers/redis.js';
import { until } from '../helpers/service.js';

// An admission that did not reach the replicas in time is not recorded: its replay record is forgotten
// so that the provider's retry gets through. A failover can promote a replica that has the record but
// not the delete; the delete is therefore tried again until the replicas acknowledge it, and only ever
// deletes that admission's own record.
if (!(await RedisServer.available())) {
  if (process.env.CI === 'true') t.fail('redis-server is required under CI');
  else t.test('forget until replicated', { skip: '##### redis-server is not installed #####' }, async () => {});
} else
  t.test('a replay record forgotten after a WAIT timeout is deleted again until the replicas acknowledge it, then left alone', async (t) => {
    const { master, replica } = await startReplicated(t);
    const redis = new Redis(master.url);
    t.teardown(() => redis.disconnect());
    const prefix = `lr-forget-${randomUUID()}:`;
    const stores = createRedisStores(redis, { keyPrefix: prefix, reportRetentionMs: 60_000, ownsConnection: false, replicas: 1, replicaWaitMs: 100 });
    t.teardown(() => stores.close());
    const report: LogoutReport = { id: randomUUID(), state: 'pending', channel: 'backchannel', target: { kind: 'sub', issuer: 'https://idp', sub: 'u' }, receivedAt: new Date().toISOString(), attempts: 0, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] };
    const key = `https://idp ${randomUUID()}`;
    const expiresAt = Date.now() + 60_000;

    replica.pause();
    await t.rejects(stores.admitLogout({ replay: { key, expiresAt }, report, dueAt: Date.now() }), /replica/i, 'the replica did not acknowledge: not recorded');
    const [record] = (await redis.keys(`${prefix}jti:*`)) as string[];
    t.equal(await redis.get(record!), report.id, 'the replay record names its admission');
    await stores.replay.forget(key, report.id, expiresAt);
    t.equal(await redis.exists(record!), 0, 'deleted on the master at once');
    // What a promoted replica that had the record but not the delete would hold:
    await redis.set(record!, report.id, 'PX', 60_000);
    await until(async () => (await redis.exists(record!)) === 0, 5_000);
    t.pass('deleted again while the replicas have not acknowledged the delete');

    replica.resume();
    await replicaSynced(replica.port);
    // Once acknowledged the retries stop: a record made now (a later admission's) is left alone.
    await until(
      async () => {
        await redis.set(record!, report.id, 'PX', 60_000);
        await new Promise((resolve) => setTimeout(resolve, 600)); // two retry periods: a retry still running would delete it
        return (await redis.exists(record!)) === 1;
      },
      10_000,
      0,
    );
    t.pass('the retries stopped once the replicas acknowledged');
    await redis.del(record!);
    await redis.del(...((await redis.keys(`${prefix}*`)) as string[]).concat(`${prefix}none`));
  });
