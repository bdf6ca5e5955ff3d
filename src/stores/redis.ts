import { createHash, randomUUID } from 'node:crypto';
import type { Redis, Cluster } from 'ioredis';
import { Type } from 'typebox';
import { StoreUnavailable } from '../core/errors.js';
import { checkRedisLocation, outagesAsUnavailable, redisLocationOf, REDIS_LOCATION_SETTINGS, type RedisLocation } from '../redis/connect.js';
import { receivedAtMs, targetKey, type LogoutReport, type LogoutTarget, type NewSession, type Session } from '../core/model.js';
import type { LoggedOutMarkers, LogoutJournal, ReplayStore, ServiceStores, SessionStore } from '../core/service-stores.js';
import type { StoreKind } from './kind.js';

type Client = Redis | Cluster;
type Clock = () => number;

/** Index keys are hashed: issuers, sids and subs are arbitrary text of any length. */
const digest = (...parts: string[]): string => createHash('sha256').update(JSON.stringify(parts)).digest('base64url');

/**
 * Where the service's keys live. With one bucket (a single node, Sentinel, or a key prefix that names its
 * own hash tag) every key is under the prefix, as it always was. On a Cluster, issuers (each tenant of a
 * template) are hashed into buckets, each a hash tag of its own: one logout's keys share a slot, so its
 * admission and its completion stay one script, while different issuers' keys spread over the shards.
 * A session id's first two hex digits name its bucket.
 */
export class Keyspace {
  constructor(
    readonly prefix: string,
    readonly buckets: number,
  ) {}
  /** What a bucket's keys start with. */
  of(bucket: number): string {
    return this.buckets === 1 ? this.prefix : `{${this.prefix}${bucket}}`;
  }
  bucketOf(text: string): number {
    return this.buckets === 1 ? 0 : createHash('sha256').update(text).digest().readUInt32BE(0) % this.buckets;
  }
  /** A logout's keys are its target's issuer's (an account, for a logout by account). */
  bucketOfTarget(target: LogoutTarget): number {
    return this.bucketOf(target.kind === 'account' ? target.homeAccountId.toLowerCase() : target.issuer);
  }
  newSessionId(bucket: number): string {
    const id = randomUUID();
    return this.buckets === 1 ? id : bucket.toString(16).padStart(2, '0') + id.slice(2);
  }
  bucketOfSessionId(id: string): number {
    const bucket = this.buckets === 1 ? 0 : Number.parseInt(id.slice(0, 2), 16);
    return Number.isInteger(bucket) && bucket < this.buckets ? bucket : 0;
  }
  all(): number[] {
    return Array.from({ length: this.buckets }, (_, bucket) => bucket);
  }
}

/** A key and the bucket it is in. */
interface Placed {
  key: string;
  bucket: number;
}

const sessionKey = (ks: Keyspace, id: string): Placed => {
  const bucket = ks.bucketOfSessionId(id);
  return { key: `${ks.of(bucket)}session:${id}`, bucket };
};

/** Items by bucket, each bucket's in the order given: what one script or transaction per bucket takes. */
function byBucket<T>(items: T[], bucketOf: (item: T) => number): T[][] {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const bucket = bucketOf(item);
    const group = groups.get(bucket);
    if (group) group.push(item);
    else groups.set(bucket, [item]);
  }
  return [...groups.values()];
}
/** A pipeline's or transaction's first failed command, thrown (ioredis resolves them with per-command errors). */
function failOn(results: [Error | null, unknown][] | null): void {
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
}

type Batch = { wait(replicas: number, timeoutMs: number): unknown; exec(): Promise<[Error | null, unknown][] | null> };

/** Sends `batch` and a WAIT behind it in one round trip: its commands' replies, and how many replicas acknowledged them. */
async function execAndWait(batch: Batch, replicas: number, waitMs: number): Promise<{ replies: unknown[]; acknowledged: number }> {
  batch.wait(replicas, waitMs);
  const results = await batch.exec();
  failOn(results);
  const replies = results!.map(([, reply]) => reply);
  return { replies: replies.slice(0, -1), acknowledged: replies.at(-1) as number };
}

const replayKey = (prefix: string, key: string): string => `${prefix}jti:${digest(key)}`;
const markerKey = (prefix: string, issuer: string, sid: string): string => `${prefix}loggedout:${digest(issuer, sid)}`;
const reportKey = (prefix: string, id: string): string => `${prefix}logout:${id}`;
/** A sorted set of a target's report ids by receipt time, kept as long as its newest report. */
const targetIndexKey = (prefix: string, target: LogoutTarget): string => `${prefix}logouts:${digest(targetKey(target))}`;
const dueQueue = (prefix: string): string => `${prefix}logouts:due`;
/** The queued logouts again, scored by when each was received: the backlog's age. */
const pendingSince = (prefix: string): string => `${prefix}logouts:pending-since`;

/** A session's index keys: by (issuer, sub) and (issuer, sid) in its issuer's bucket, by account in the account's. */
function indexKeys(ks: Keyspace, s: NewSession): Placed[] {
  const own = ks.bucketOf(s.issuer);
  const account = s.homeAccountId.toLowerCase();
  const keys = [{ key: `${ks.of(own)}idx:sub:${digest(s.issuer, s.sub)}`, bucket: own }];
  const accountBucket = ks.bucketOf(account);
  keys.push({ key: `${ks.of(accountBucket)}idx:account:${digest(account)}`, bucket: accountBucket });
  if (s.sid !== undefined) keys.push({ key: `${ks.of(own)}idx:sid:${digest(s.issuer, s.sid)}`, bucket: own });
  return keys;
}

/**
 * Writes sessions and their indexes, atomically (keys of one bucket). KEYS: per entry its session key
 * (when it has one) then its index keys; ARGV: per entry whether it has a session key (1 or 0), the
 * number of its index keys, its id, its JSON and its expiry (epoch ms). An index lives as long as its
 * longest-lived session.
 */
const WRITE_SESSIONS = `
local k = 1
for a = 1, #ARGV, 5 do
  local withSession, indexes, id, at = ARGV[a] == '1', tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 4]
  if withSession then
    redis.call('SET', KEYS[k], ARGV[a + 3], 'PXAT', at)
    k = k + 1
  end
  for j = k, k + indexes - 1 do
    redis.call('SADD', KEYS[j], id)
    redis.call('PEXPIREAT', KEYS[j], at, 'NX')
    redis.call('PEXPIREAT', KEYS[j], at, 'GT')
  end
  k = k + indexes
end
return #ARGV / 5
`;

type WithWriteSessions = { lrWriteSessions(keyCount: number, ...keysAndArgs: (string | number)[]): Promise<number> };

/** What WRITE_SESSIONS takes for one session in one bucket: its key there (if any) and its index keys there. */
interface SessionWrite {
  bucket: number;
  session?: string;
  indexes: string[];
  id: string;
  json: string;
  at: number;
}

async function writeSessions(redis: Client, ks: Keyspace, sessions: Session[]): Promise<void> {
  if (!('lrWriteSessions' in redis)) (redis as Client).defineCommand('lrWriteSessions', { lua: WRITE_SESSIONS });
  const writes: SessionWrite[] = [];
  for (const session of sessions) {
    const own = sessionKey(ks, session.id);
    const json = JSON.stringify(session);
    const at = Date.parse(session.expiresAt);
    for (const indexes of byBucket([own, ...indexKeys(ks, session)], (k) => k.bucket)) {
      const bucket = indexes[0]!.bucket;
      const keys = indexes.map((k) => k.key);
      writes.push(bucket === own.bucket ? { bucket, session: keys[0]!, indexes: keys.slice(1), id: session.id, json, at } : { bucket, indexes: keys, id: session.id, json: '', at });
    }
  }
  const run = (redis as unknown as WithWriteSessions).lrWriteSessions.bind(redis);
  await Promise.all(
    byBucket(writes, (w) => w.bucket).map((group) => {
      const keys = group.flatMap((w) => (w.session ? [w.session, ...w.indexes] : w.indexes));
      const args = group.flatMap((w) => [w.session ? 1 : 0, w.indexes.length, w.id, w.json, w.at]);
      return run(keys.length, ...keys, ...args);
    }),
  );
}

/**
 * Writes many sessions at once in the store's layout (a bulk import, e.g. a migration or the
 * benchmark's preload), on a single node or Sentinel (one bucket). Unlike `add` it does not look for an
 * identical registration first.
 */
export async function importSessions(redis: Client, keyPrefix: string, sessions: Session[]): Promise<void> {
  for (let i = 0; i < sessions.length; i += 500) await writeSessions(redis, new Keyspace(keyPrefix, 1), sessions.slice(i, i + 500));
}

class RedisSessionStore implements SessionStore {
  constructor(
    private readonly redis: Client,
    private readonly ks: Keyspace,
    private readonly now: Clock,
  ) {}

  async add(input: NewSession): Promise<Session> {
    const same = (await this.lookup(indexKeys(this.ks, input)[0]!.key)).find(
      (s) => s.clientId === input.clientId && s.sid === input.sid && s.homeAccountId === input.homeAccountId && s.cacheKey === input.cacheKey,
    );
    const session: Session = same
      ? { ...same, expiresAt: input.expiresAt }
      : { ...input, id: this.ks.newSessionId(this.ks.bucketOf(input.issuer)), createdAt: new Date(this.now()).toISOString() };
    await writeSessions(this.redis, this.ks, [session]);
    return session;
  }

  async get(id: string): Promise<Session | null> {
    const raw = await this.redis.get(sessionKey(this.ks, id).key);
    return raw ? (JSON.parse(raw) as Session) : null;
  }

  private async lookup(indexKey: string): Promise<Session[]> {
    const ids = await this.redis.smembers(indexKey);
    if (ids.length === 0) return [];
    // One MGET per bucket (an account's sessions may be at several issuers).
    const raws = new Map<string, string | null>();
    await Promise.all(
      byBucket(ids, (id) => sessionKey(this.ks, id).bucket).map(async (group) => {
        const values = await this.redis.mget(group.map((id) => sessionKey(this.ks, id).key));
        group.forEach((id, i) => raws.set(id, values[i] ?? null));
      }),
    );
    const stale = ids.filter((id) => raws.get(id) === null);
    if (stale.length) await this.redis.srem(indexKey, ...stale);
    return ids.map((id) => raws.get(id)).filter((r): r is string => typeof r === 'string').map((r) => JSON.parse(r) as Session);
  }

  bySid(issuer: string, sid: string): Promise<Session[]> {
    return this.lookup(`${this.ks.of(this.ks.bucketOf(issuer))}idx:sid:${digest(issuer, sid)}`);
  }

  bySub(issuer: string, sub: string): Promise<Session[]> {
    return this.lookup(`${this.ks.of(this.ks.bucketOf(issuer))}idx:sub:${digest(issuer, sub)}`);
  }

  byHomeAccountId(homeAccountId: string): Promise<Session[]> {
    const account = homeAccountId.toLowerCase();
    return this.lookup(`${this.ks.of(this.ks.bucketOf(account))}idx:account:${digest(account)}`);
  }

  async remove(id: string): Promise<boolean> {
    const session = await this.get(id);
    if (!session) return false;
    return (await this.removeFound([session])).length === 1;
  }

  /** One transaction per bucket (one for all on a single node): no read first, the lookup's copies name their index keys. */
  async removeFound(sessions: Session[]): Promise<string[]> {
    if (sessions.length === 0) return [];
    // The DELs first, so that in each bucket the i-th reply is its i-th session's.
    const dels = sessions.map((s) => ({ ...sessionKey(this.ks, s.id), id: s.id, del: true }));
    const srems = sessions.flatMap((s) => indexKeys(this.ks, s).map((index) => ({ ...index, id: s.id, del: false })));
    const removed = new Set<string>();
    await Promise.all(
      byBucket([...dels, ...srems], (op) => op.bucket).map(async (ops) => {
        const tx = this.redis.multi();
        for (const op of ops) if (op.del) tx.del(op.key);
        else tx.srem(op.key, op.id);
        const results = await tx.exec();
        if (!results) throw new Error('the session removal was not carried out');
        for (const [err] of results) if (err) throw err;
        ops.forEach((op, i) => op.del && results[i]?.[1] === 1 && removed.add(op.id));
      }),
    );
    return sessions.filter((s) => removed.has(s.id)).map((s) => s.id);
  }
}

/** Deletes a replay record only if the admission named in ARGV[1] made it. */
const FORGET_OWN = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type WithForgetOwn = { lrForgetOwn(key: string, admissionId: string): Promise<number> };

class RedisReplayStore implements ReplayStore {
  /** Records being forgotten in the background, until the replicas acknowledge it (bounded). */
  private readonly forgetting = new Set<NodeJS.Timeout>();
  private stopped = false;
  constructor(
    private readonly redis: Client,
    private readonly ks: Keyspace,
    private readonly replication: { replicas: number; waitMs: number },
  ) {
    if (!('lrForgetOwn' in redis)) redis.defineCommand('lrForgetOwn', { numberOfKeys: 1, lua: FORGET_OWN });
  }
  /**
   * The admission being undone may have reached a replica that a failover then promotes, while the
   * delete does not: until the replicas acknowledge the delete, it is tried again (every 250 ms, up to a
   * minute), so that the provider's retry gets through. Only this admission's record goes: a later
   * admission of the same token, answered 200, keeps its own.
   */
  async forget(key: string, admissionId: string, until: number): Promise<void> {
    // The key does not say its issuer's bucket: each bucket's record is compared, only the admission's goes.
    const records = this.ks.all().map((bucket) => replayKey(this.ks.of(bucket), key));
    const { replicas, waitMs } = this.replication;
    const forgetOne = async (record: string): Promise<boolean> => {
      if (replicas === 0) return (await (this.redis as unknown as WithForgetOwn).lrForgetOwn(record, admissionId), true);
      const pipeline = this.redis.pipeline() as unknown as WithForgetOwn & Batch;
      pipeline.lrForgetOwn(record, admissionId);
      return (await execAndWait(pipeline, replicas, waitMs)).acknowledged >= replicas;
    };
    const once = async (): Promise<boolean> => (await Promise.all(records.map(forgetOne))).every(Boolean);
    let failure: unknown;
    if (await once().catch((err: unknown) => ((failure = err), false))) return;
    const deadline = Math.min(until, Date.now() + 60_000);
    // Beyond that many (a long outage) the records are left to expire on their own.
    if (this.forgetting.size < 10_000) this.forgetLater(once, deadline);
    if (failure) throw failure;
  }

  private forgetLater(once: () => Promise<boolean>, deadline: number): void {
    const again = (): void => {
      const timer: NodeJS.Timeout = setTimeout(() => {
        this.forgetting.delete(timer);
        void once()
          .catch(() => false)
          .then((done) => {
            if (!done && !this.stopped && Date.now() < deadline) again();
          });
      }, 250);
      timer.unref();
      this.forgetting.add(timer);
    };
    again();
  }
  stop(): void {
    this.stopped = true;
    for (const timer of this.forgetting) clearTimeout(timer);
    this.forgetting.clear();
  }
}

class RedisLoggedOutMarkers implements LoggedOutMarkers {
  constructor(
    private readonly redis: Client,
    private readonly ks: Keyspace,
  ) {}
  private key(issuer: string, sid: string): string {
    return markerKey(this.ks.of(this.ks.bucketOf(issuer)), issuer, sid);
  }
  async mark(issuer: string, sid: string, expiresAt: number): Promise<void> {
    await this.redis.set(this.key(issuer, sid), '1', 'PXAT', expiresAt);
  }
  async isMarked(issuer: string, sid: string): Promise<boolean> {
    return (await this.redis.exists(this.key(issuer, sid))) === 1;
  }
}

/**
 * Claims up to ARGV[2] logouts due by ARGV[1] until ARGV[3] (one instance at a time works on each) and
 * returns their reports; an id whose report is gone leaves the queue. KEYS: due queue, pending-since;
 * ARGV[4]: the reports' key prefix. (The reports' keys are not declared: in a Cluster they share the
 * queue's hash tag, hence its node.)
 */
const CLAIM_DUE = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local reports = {}
for _, id in ipairs(ids) do
  local report = redis.call('GET', ARGV[4] .. id)
  if report then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    reports[#reports + 1] = report
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
return reports
`;

class RedisLogoutJournal implements LogoutJournal {
  /** The bucket the next claim starts at, so that every bucket's queue gets its turn. */
  private nextClaim = 0;
  constructor(
    private readonly redis: Client,
    private readonly ks: Keyspace,
    private readonly retentionMs: number,
    private readonly replication: { replicas: number; waitMs: number },
  ) {
    if (!('lrClaimDue' in redis)) redis.defineCommand('lrClaimDue', { numberOfKeys: 2, lua: CLAIM_DUE });
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
    if (acknowledged < replicas) throw notReplicated(acknowledged, replicas, waitMs);
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
    const run = (this.redis as unknown as { lrClaimDue(...keysAndArgs: (string | number)[]): Promise<string[]> }).lrClaimDue;
    const claimed: LogoutReport[] = [];
    const first = this.nextClaim++ % this.ks.buckets;
    for (let n = 0; n < this.ks.buckets && claimed.length < limit; n++) {
      const prefix = this.ks.of((first + n) % this.ks.buckets);
      const raws = await run.call(this.redis, dueQueue(prefix), pendingSince(prefix), now, limit - claimed.length, now + leaseMs, reportKey(prefix, ''));
      for (const raw of raws) claimed.push(JSON.parse(raw) as LogoutReport);
    }
    return claimed;
  }
  async dequeue(id: string): Promise<void> {
    await Promise.all(this.ks.all().map((bucket) => this.redis.multi().zrem(dueQueue(this.ks.of(bucket)), id).zrem(pendingSince(this.ks.of(bucket)), id).exec().then(failOn)));
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

/**
 * A back-channel logout taken in: the replay record (refused when it exists: nothing else is written),
 * the report queued for a worker and found by its target, the target's marker. KEYS: replay record,
 * report, due queue, target index, pending-since, marker (optional); ARGV: replay expiry, report JSON, report retention
 * (ms), due at, report id, received at, marker expiry.
 */
const ADMIT_LOGOUT = `
if not redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[1], 'NX') then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[5])
redis.call('PEXPIRE', KEYS[4], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[5])
if #KEYS == 6 then redis.call('SET', KEYS[6], '1', 'PXAT', ARGV[7]) end
return 1
`;

/**
 * A logout's sessions ended: when every session its first attempt found still exists, they go (with their
 * index entries) and its report is saved, queued at ARGV[4] (a retry, its second pass) or, when that is
 * '', dequeued; it stays in pending-since when ARGV[5] is '1' (still pending); else nothing is written
 * (0). KEYS: report, due queue, pending-since, then per session its key and its index keys; ARGV: report
 * JSON, report retention (ms), report id, due at or '', pending '1' or '0', then per session the number of
 * its index keys and its id.
 */
const COMPLETE_LOGOUT = `
local sessions = {}
local k = 4
for a = 6, #ARGV, 2 do
  sessions[#sessions + 1] = { key = k, indexes = tonumber(ARGV[a]), id = ARGV[a + 1] }
  k = k + 1 + tonumber(ARGV[a])
end
for _, s in ipairs(sessions) do
  if redis.call('EXISTS', KEYS[s.key]) == 0 then return 0 end
end
for _, s in ipairs(sessions) do
  redis.call('DEL', KEYS[s.key])
  for j = s.key + 1, s.key + s.indexes do redis.call('SREM', KEYS[j], s.id) end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[4] == '' then redis.call('ZREM', KEYS[2], ARGV[3]) else redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3]) end
if ARGV[5] ~= '1' then redis.call('ZREM', KEYS[3], ARGV[3]) end
return 1
`;

type WithCompleteLogout = { lrCompleteLogout(keyCount: number, ...keysAndArgs: (string | number)[]): Promise<number> };

type WithAdmitLogout = { lrAdmitLogout(keyCount: number, ...keysAndArgs: (string | number)[]): Promise<number> };

export interface RedisStoreOptions {
  keyPrefix: string;
  /** Buckets of issuers, each a hash tag of its own (see {@link Keyspace}); 1, the default, keeps every key under the prefix. */
  buckets?: number;
  reportRetentionMs: number;
  now?: Clock;
  /** Whether close() ends the connection (false when it is shared). */
  ownsConnection?: boolean;
  /** What must reach this many replicas (WAIT) within `replicaWaitMs` before it counts as recorded; 0 waits for none. */
  replicas?: number;
  replicaWaitMs?: number;
}

/**
 * The write did not reach enough replicas in time: a failover could discard it, so it does not count as
 * recorded (the provider's retry, or the caller's, goes through instead).
 */
const notReplicated = (acknowledged: number, replicas: number, waitMs: number): StoreUnavailable =>
  new StoreUnavailable(`the write reached ${acknowledged} of ${replicas} replicas within ${waitMs} ms`);

/** The production store: sessions, replay records, logged-out markers and the logout journal in Redis. */
export function createRedisStores(redis: Client, options: RedisStoreOptions): ServiceStores {
  const now = options.now ?? Date.now;
  const ks = new Keyspace(options.keyPrefix, options.buckets ?? 1);
  if (!('lrAdmitLogout' in redis)) redis.defineCommand('lrAdmitLogout', { lua: ADMIT_LOGOUT });
  if (!('lrCompleteLogout' in redis)) redis.defineCommand('lrCompleteLogout', { lua: COMPLETE_LOGOUT });
  const replication = { replicas: options.replicas ?? 0, waitMs: options.replicaWaitMs ?? 500 };
  const replay = new RedisReplayStore(redis, ks, replication);
  const sessions = new RedisSessionStore(redis, ks, now);
  const stores: ServiceStores = {
    sessions: outagesAsUnavailable(sessions),
    replay: outagesAsUnavailable(replay),
    markers: outagesAsUnavailable(new RedisLoggedOutMarkers(redis, ks)),
    journal: outagesAsUnavailable(new RedisLogoutJournal(redis, ks, options.reportRetentionMs, replication)),
    async admitLogout({ replay, report, dueAt, marker }) {
      // Every key in the target's issuer's bucket (the marker is the target's own).
      const prefix = ks.of(ks.bucketOfTarget(report.target));
      const keys = [replayKey(prefix, replay.key), reportKey(prefix, report.id), dueQueue(prefix), targetIndexKey(prefix, report.target), pendingSince(prefix)];
      const args: (string | number)[] = [replay.expiresAt, JSON.stringify(report), options.reportRetentionMs, dueAt, report.id, receivedAtMs(report)];
      if (marker) {
        keys.push(markerKey(ks.of(ks.bucketOf(marker.issuer)), marker.issuer, marker.sid));
        args.push(marker.expiresAt);
      }
      if (replication.replicas === 0) return (await (redis as unknown as WithAdmitLogout).lrAdmitLogout(keys.length, ...keys, ...args)) === 1;
      // Script and WAIT in one round trip, on the node of the admission's keys.
      const pipeline = redis.pipeline() as unknown as WithAdmitLogout & Batch;
      pipeline.lrAdmitLogout(keys.length, ...keys, ...args);
      const { replies, acknowledged } = await execAndWait(pipeline, replication.replicas, replication.waitMs);
      if (replies[0] !== 1) return false;
      if (acknowledged < replication.replicas) throw notReplicated(acknowledged, replication.replicas, replication.waitMs);
      return true;
    },
    async completeLogout(report, found, dueAt) {
      const bucket = ks.bucketOfTarget(report.target);
      const prefix = ks.of(bucket);
      // One script over the report's bucket; a session at another issuer than the target's (a logout by
      // account) is not (false: the attempt then removes and saves in steps).
      if (found.some((s) => sessionKey(ks, s.id).bucket !== bucket)) return false;
      const keys = [reportKey(prefix, report.id), dueQueue(prefix), pendingSince(prefix)];
      const pending = dueAt !== undefined && report.state === 'pending';
      const args: (string | number)[] = [JSON.stringify(report), options.reportRetentionMs, report.id, dueAt ?? '', pending ? '1' : '0'];
      const elsewhere: [string, string][] = [];
      for (const s of found) {
        const indexes = indexKeys(ks, s);
        const here = indexes.filter((i) => i.bucket === bucket).map((i) => i.key);
        keys.push(sessionKey(ks, s.id).key, ...here);
        args.push(here.length, s.id);
        for (const other of indexes.filter((i) => i.bucket !== bucket)) elsewhere.push([other.key, s.id]);
      }
      const done = (await (redis as unknown as WithCompleteLogout).lrCompleteLogout(keys.length, ...keys, ...args)) === 1;
      // The account index, in the account's bucket: after the script (a stale id there is dropped when read).
      if (done) await Promise.all(elsewhere.map(([key, id]) => redis.srem(key, id)));
      return done;
    },
    async ping() {
      // A write under the prefix, not a PING: it must reach a writable master owning the service's keys (a
      // replica answers READONLY, a Cluster shard that is down fails), which is what readiness means here.
      await Promise.all(ks.all().map((bucket) => redis.set(`${ks.of(bucket)}readyz`, '1', 'PX', 10_000)));
    },
    async close() {
      replay.stop();
      if (options.ownsConnection ?? true) await redis.quit().catch(() => redis.disconnect());
    },
  };
  return outagesAsUnavailable(stores);
}

/** Hash tags a Cluster store spreads its issuers over: enough for the shards of most Clusters, few enough for a worker to look at each queue every round. */
export const CLUSTER_BUCKETS = 16;

/** `kind: redis`: the production store, shared by every instance. */
export const redisStore: StoreKind = {
  kind: 'redis',
  settings: Type.Object(
    {
      ...REDIS_LOCATION_SETTINGS,
      keyPrefix: Type.Optional(Type.String({ maxLength: 64 })),
      replicas: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 })),
      replicaWaitMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 10_000 })),
    },
    { additionalProperties: false },
  ),
  check: (settings) => checkRedisLocation(settings as RedisLocation),
  defaults: (settings) => ({ keyPrefix: 'lr:', replicas: 0, replicaWaitMs: 500, ...settings }),
  open(settings, context) {
    const keyPrefix = settings.keyPrefix as string;
    const location = redisLocationOf(settings as RedisLocation);
    // On a Cluster, issuers' keys spread over CLUSTER_BUCKETS hash tags, unless the prefix names its own tag
    // (every key in one slot, as before).
    const buckets = location.cluster && !/\{.+\}/.test(keyPrefix) ? CLUSTER_BUCKETS : 1;
    const options = { keyPrefix, buckets, reportRetentionMs: context.reportRetentionMs, ownsConnection: false, replicas: settings.replicas as number, replicaWaitMs: settings.replicaWaitMs as number };
    const redis = context.redis(location, 'store');
    return {
      stores: createRedisStores(redis, options),
      attemptStores: createRedisStores(context.redis(location, 'store attempts'), options),
      // The rate limiter's keys: each its own slot on a Cluster.
      shared: { redis, keyPrefix },
    };
  },
};
