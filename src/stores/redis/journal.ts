import type { Redis, Cluster } from 'ioredis';
import { receivedAtMs, type LogoutReport, type LogoutTarget } from '../../core/model.js';
import { sessionsReadAtClaim, type ClaimedLogout, type LogoutJournal } from '../../core/service-stores.js';
import { defineScript, replies } from '../../redis/script.js';
import { dueQueue, pendingSince, reportKey, sessionKeyIn, targetIndexKey, targetSessionIndex, type Keyspace } from './keys.js';
import { decodeSession, READ_INDEXED_SESSIONS, SESSIONS_READ_AT_MOST } from './sessions.js';
import { execAndWait, failOn, notReplicated, type Replication } from './replication.js';

/**
 * Claims up to `limit` logouts due by `now` until `leaseUntil` (one instance at a time works on each) and
 * returns their reports, each `{ report, '1', sessions… }` when its sessions were read, else `{ report, '0' }`;
 * an id whose report is gone leaves the queue. A report whose JSON begins with its target's session index
 * (see encodeReport) has the sessions listed there read as RedisSessionStore's lookup reads them (ids of
 * sessions gone leave the index). The keys it reads are not declared: in a Cluster the reports, that
 * index and its sessions share the queue's hash tag, hence its node (an id of another bucket's session,
 * or more than `maxSessions` ids, and the attempt looks them up itself).
 */
const CLAIM_DUE = defineScript({
  name: 'lrClaimDue',
  keys: ['dueQueue', 'pendingSince'],
  args: ['now', 'limit', 'leaseUntil', 'reportPrefix', 'bucketPrefix', 'sessionPrefix', 'sessionIdTag', 'maxSessions'],
  lua: `
${READ_INDEXED_SESSIONS}
local function sessionsOf(report)
  local index = string.match(report, '^{"sessionIndex":"([^"]+)"')
  if not index then return { report, '0' } end
  local found = readIndexed(bucketPrefix .. index)
  if not found then return { report, '0' } end
  local claimed = { report, '1' }
  for _, raw in ipairs(found) do claimed[#claimed + 1] = raw end
  return claimed
end
local ids = redis.call('ZRANGEBYSCORE', dueQueue, '-inf', now, 'LIMIT', 0, limit)
local claimed = {}
for _, id in ipairs(ids) do
  local report = redis.call('GET', reportPrefix .. id)
  if report then
    redis.call('ZADD', dueQueue, leaseUntil, id)
    claimed[#claimed + 1] = sessionsOf(report)
  else
    redis.call('ZREM', dueQueue, id)
    redis.call('ZREM', pendingSince, id)
  end
end
return claimed
`,
  reply: (raw) => {
    if (!Array.isArray(raw)) throw new TypeError('a script replied other than a list');
    return raw.map((entry) => replies.strings(entry));
  },
});

/** How a report that names its target's session index begins (the claim script matches it there). */
const WITH_SESSION_INDEX = '{"sessionIndex":';

/** A report as the journal keeps it: one whose claim reads its sessions names their index first (see CLAIM_DUE). */
export function encodeReport(report: LogoutReport): string {
  if (!sessionsReadAtClaim(report) || report.target.kind === 'account') return JSON.stringify(report);
  return JSON.stringify({ sessionIndex: targetSessionIndex(report.target), ...report });
}

export function decodeReport(raw: string): LogoutReport {
  const parsed = JSON.parse(raw) as LogoutReport & { sessionIndex?: string };
  if (!raw.startsWith(WITH_SESSION_INDEX)) return parsed;
  const { sessionIndex: _, ...report } = parsed;
  return report;
}

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
    batch.set(reportKey(prefix, report.id), encodeReport(report), 'PX', this.retentionMs);
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
    return raws.filter((raw): raw is string => raw !== null).map(decodeReport);
  }
  /** A report id does not say its bucket: each is asked (one on a single node). */
  async get(id: string): Promise<LogoutReport | null> {
    const raws = await Promise.all(this.ks.all().map((bucket) => this.redis.get(reportKey(this.ks.of(bucket), id))));
    const raw = raws.find((r) => r !== null);
    return raw ? decodeReport(raw) : null;
  }
  async claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedLogout[]> {
    const claimed: ClaimedLogout[] = [];
    const first = this.nextClaim++ % this.ks.buckets;
    for (let n = 0; n < this.ks.buckets && claimed.length < limit; n++) {
      const bucket = (first + n) % this.ks.buckets;
      const prefix = this.ks.of(bucket);
      const entries = await this.claimDueScript.run({
        keys: { dueQueue: dueQueue(prefix), pendingSince: pendingSince(prefix) },
        args: {
          now,
          limit: limit - claimed.length,
          leaseUntil: now + leaseMs,
          reportPrefix: reportKey(prefix, ''),
          bucketPrefix: prefix,
          sessionPrefix: sessionKeyIn(prefix, ''),
          sessionIdTag: this.ks.sessionIdTag(bucket),
          maxSessions: SESSIONS_READ_AT_MOST,
        },
      });
      for (const [raw, read, ...sessions] of entries) {
        const report = decodeReport(raw!);
        claimed.push(read === '1' ? { report, sessions: sessions.map(decodeSession) } : { report });
      }
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
