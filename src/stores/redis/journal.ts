import type { Redis, Cluster } from 'ioredis';
import { receivedAtMs, type LogoutReport, type LogoutTarget } from '../../core/model.js';
import type { LogoutJournal } from '../../core/service-stores.js';
import { defineScript, replies } from '../../redis/script.js';
import { dueQueue, pendingSince, reportKey, targetIndexKey, type Keyspace } from './keys.js';
import { execAndWait, failOn, notReplicated, type Replication } from './replication.js';

/**
 * Claims up to `limit` logouts due by `now` until `leaseUntil` (one instance at a time works on each) and
 * returns their reports; an id whose report is gone leaves the queue. The reports' keys are not declared:
 * in a Cluster they share the queue's hash tag, hence its node.
 */
const CLAIM_DUE = defineScript({
  name: 'lrClaimDue',
  keys: ['dueQueue', 'pendingSince'],
  args: ['now', 'limit', 'leaseUntil', 'reportPrefix'],
  lua: `
local ids = redis.call('ZRANGEBYSCORE', dueQueue, '-inf', now, 'LIMIT', 0, limit)
local reports = {}
for _, id in ipairs(ids) do
  local report = redis.call('GET', reportPrefix .. id)
  if report then
    redis.call('ZADD', dueQueue, leaseUntil, id)
    reports[#reports + 1] = report
  else
    redis.call('ZREM', dueQueue, id)
    redis.call('ZREM', pendingSince, id)
  end
end
return reports
`,
  reply: replies.strings,
});

export class RedisLogoutJournal implements LogoutJournal {
  /** The bucket the next claim starts at, so that every bucket's queue gets its turn. */
  private nextClaim = 0;
  private readonly claimDueScript: ReturnType<typeof CLAIM_DUE.on>;
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly ks: Keyspace,
    private readonly retentionMs: number,
    private readonly replication: Replication,
  ) {
    this.claimDueScript = CLAIM_DUE.on(redis);
  }
  async save(report: LogoutReport, dueAt?: number): Promise<void> {
    const { replicas, waitMs } = this.replication;
    const prefix = this.ks.of(this.ks.bucketOfTarget(report.target));
    // A logout still to carry out must survive a failover: it waits for the replicas, in the same round
    // trip. Then as a pipeline, not MULTI (WAIT may not run inside a transaction): the writes are
    // idempotent, on one node.
    const waits = dueAt !== undefined && replicas > 0;
    const batch = waits ? this.redis.pipeline() : this.redis.multi();
    batch.set(reportKey(prefix, report.id), JSON.stringify(report), 'PX', this.retentionMs);
    if (dueAt === undefined) batch.zrem(dueQueue(prefix), report.id);
    else {
      const index = targetIndexKey(prefix, report.target);
      batch.zadd(dueQueue(prefix), dueAt, report.id).zadd(index, receivedAtMs(report), report.id).pexpire(index, this.retentionMs);
    }
    // Only a pending logout is backlog (a completed one may be queued for its second pass).
    if (dueAt !== undefined && report.state === 'pending') batch.zadd(pendingSince(prefix), 'NX', receivedAtMs(report), report.id);
    else batch.zrem(pendingSince(prefix), report.id);
    if (!waits) return void failOn(await batch.exec());
    const { acknowledged } = await execAndWait(batch, replicas, waitMs);
    if (acknowledged < replicas) throw notReplicated(acknowledged, this.replication);
  }
  async byTarget(target: LogoutTarget, limit: number): Promise<LogoutReport[]> {
    const prefix = this.ks.of(this.ks.bucketOfTarget(target));
    const index = targetIndexKey(prefix, target);
    // Reports older than the retention are gone; their ids leave the index as it is read.
    await this.redis.zremrangebyscore(index, '-inf', Date.now() - this.retentionMs);
    const ids = await this.redis.zrevrange(index, 0, limit - 1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(...ids.map((id) => reportKey(prefix, id)));
    return raws.filter((raw): raw is string => raw !== null).map((raw) => JSON.parse(raw) as LogoutReport);
  }
  /** A report id does not say its bucket: each is asked (one on a single node). */
  async get(id: string): Promise<LogoutReport | null> {
    const raws = await Promise.all(this.ks.all().map((bucket) => this.redis.get(reportKey(this.ks.of(bucket), id))));
    const raw = raws.find((r) => r !== null);
    return raw ? (JSON.parse(raw) as LogoutReport) : null;
  }
  async claimDue(now: number, limit: number, leaseMs: number): Promise<LogoutReport[]> {
    const claimed: LogoutReport[] = [];
    const first = this.nextClaim++ % this.ks.buckets;
    for (let n = 0; n < this.ks.buckets && claimed.length < limit; n++) {
      const prefix = this.ks.of((first + n) % this.ks.buckets);
      const raws = await this.claimDueScript.run({
        keys: { dueQueue: dueQueue(prefix), pendingSince: pendingSince(prefix) },
        args: { now, limit: limit - claimed.length, leaseUntil: now + leaseMs, reportPrefix: reportKey(prefix, '') },
      });
      for (const raw of raws) claimed.push(JSON.parse(raw) as LogoutReport);
    }
    return claimed;
  }
  async dequeue(id: string): Promise<void> {
    await Promise.all(
      this.ks.all().map((bucket) =>
        this.redis
          .multi()
          .zrem(dueQueue(this.ks.of(bucket)), id)
          .zrem(pendingSince(this.ks.of(bucket)), id)
          .exec()
          .then(failOn),
      ),
    );
  }
  async backlog(): Promise<number> {
    const counts = await Promise.all(this.ks.all().map((bucket) => this.redis.zcard(pendingSince(this.ks.of(bucket)))));
    return counts.reduce((a, b) => a + b, 0);
  }
  async oldestPending(): Promise<number | null> {
    const firsts = await Promise.all(this.ks.all().map((bucket) => this.redis.zrange(pendingSince(this.ks.of(bucket)), 0, 0, 'WITHSCORES')));
    const scores = firsts.filter(([, score]) => score !== undefined).map(([, score]) => Number(score));
    return scores.length ? Math.min(...scores) : null;
  }
}
