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

const sessionKey = (prefix: string, id: string): string => `${prefix}session:${id}`;
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

function indexKeys(prefix: string, s: NewSession): string[] {
  const keys = [`${prefix}idx:sub:${digest(s.issuer, s.sub)}`, `${prefix}idx:account:${digest(s.homeAccountId.toLowerCase())}`];
  if (s.sid !== undefined) keys.push(`${prefix}idx:sid:${digest(s.issuer, s.sid)}`);
  return keys;
}

/**
 * Writes sessions and their indexes, atomically. KEYS: per session its key, then its index keys;
 * ARGV: per session the number of its index keys, its id, its JSON and its expiry (epoch ms).
 * An index lives as long as its longest-lived session.
 */
const WRITE_SESSIONS = `
local k = 1
for a = 1, #ARGV, 4 do
  local indexes, id, at = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 3]
  redis.call('SET', KEYS[k], ARGV[a + 2], 'PXAT', at)
  for j = k + 1, k + indexes do
    redis.call('SADD', KEYS[j], id)
    redis.call('PEXPIREAT', KEYS[j], at, 'NX')
    redis.call('PEXPIREAT', KEYS[j], at, 'GT')
  end
  k = k + 1 + indexes
end
return #ARGV / 4
`;

type WithWriteSessions = { lrWriteSessions(keyCount: number, ...keysAndArgs: (string | number)[]): Promise<number> };

function writeSessions(redis: Client, prefix: string, sessions: Session[]): Promise<number> {
  if (!('lrWriteSessions' in redis)) (redis as Client).defineCommand('lrWriteSessions', { lua: WRITE_SESSIONS });
  const keys: string[] = [];
  const args: (string | number)[] = [];
  for (const session of sessions) {
    const indexes = indexKeys(prefix, session);
    keys.push(sessionKey(prefix, session.id), ...indexes);
    args.push(indexes.length, session.id, JSON.stringify(session), Date.parse(session.expiresAt));
  }
  return (redis as unknown as WithWriteSessions).lrWriteSessions(keys.length, ...keys, ...args);
}

/**
 * Writes many sessions at once in the store's layout (a bulk import, e.g. a migration or the
 * benchmark's preload). Unlike `add` it does not look for an identical registration first. In a
 * Cluster, `keyPrefix` must carry the store's hash tag so that all keys share a slot.
 */
export async function importSessions(redis: Client, keyPrefix: string, sessions: Session[]): Promise<void> {
  for (let i = 0; i < sessions.length; i += 500) await writeSessions(redis, keyPrefix, sessions.slice(i, i + 500));
}

class RedisSessionStore implements SessionStore {
  constructor(
    private readonly redis: Client,
    private readonly prefix: string,
    private readonly now: Clock,
  ) {}

  private sessionKey(id: string): string {
    return sessionKey(this.prefix, id);
  }

  private indexKeys(s: NewSession): string[] {
    return indexKeys(this.prefix, s);
  }

  async add(input: NewSession): Promise<Session> {
    const same = (await this.lookup(this.indexKeys(input)[0]!)).find(
      (s) => s.clientId === input.clientId && s.sid === input.sid && s.homeAccountId === input.homeAccountId && s.cacheKey === input.cacheKey,
    );
    const session: Session = same ? { ...same, expiresAt: input.expiresAt } : { ...input, id: randomUUID(), createdAt: new Date(this.now()).toISOString() };
    await writeSessions(this.redis, this.prefix, [session]);
    return session;
  }

  async get(id: string): Promise<Session | null> {
    const raw = await this.redis.get(this.sessionKey(id));
    return raw ? (JSON.parse(raw) as Session) : null;
  }

  private async lookup(indexKey: string): Promise<Session[]> {
    const ids = await this.redis.smembers(indexKey);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.sessionKey(id)));
    const stale = ids.filter((_, i) => raws[i] === null);
    if (stale.length) await this.redis.srem(indexKey, ...stale);
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as Session);
  }

  bySid(issuer: string, sid: string): Promise<Session[]> {
    return this.lookup(`${this.prefix}idx:sid:${digest(issuer, sid)}`);
  }

  bySub(issuer: string, sub: string): Promise<Session[]> {
    return this.lookup(`${this.prefix}idx:sub:${digest(issuer, sub)}`);
  }

  byHomeAccountId(homeAccountId: string): Promise<Session[]> {
    return this.lookup(`${this.prefix}idx:account:${digest(homeAccountId.toLowerCase())}`);
  }

  async remove(id: string): Promise<boolean> {
    const session = await this.get(id);
    if (!session) return false;
    return (await this.removeFound([session])).length === 1;
  }

  /** One transaction for all of them: no read first, the lookup's copies name their index keys. */
  async removeFound(sessions: Session[]): Promise<string[]> {
    if (sessions.length === 0) return [];
    // The DELs first, so that the i-th reply is the i-th session's.
    const tx = this.redis.multi();
    for (const s of sessions) tx.del(this.sessionKey(s.id));
    for (const s of sessions) for (const key of this.indexKeys(s)) tx.srem(key, s.id);
    const results = await tx.exec();
    if (!results) throw new Error('the session removal was not carried out');
    for (const [err] of results) if (err) throw err;
    return sessions.filter((_, i) => results[i]?.[1] === 1).map((s) => s.id);
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
    private readonly prefix: string,
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
    const record = replayKey(this.prefix, key);
    const { replicas, waitMs } = this.replication;
    const once = async (): Promise<boolean> => {
      if (replicas === 0) return (await (this.redis as unknown as WithForgetOwn).lrForgetOwn(record, admissionId), true);
      const pipeline = this.redis.pipeline() as unknown as WithForgetOwn & Batch;
      pipeline.lrForgetOwn(record, admissionId);
      return (await execAndWait(pipeline, replicas, waitMs)).acknowledged >= replicas;
    };
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
    private readonly prefix: string,
  ) {}
  async mark(issuer: string, sid: string, expiresAt: number): Promise<void> {
    await this.redis.set(markerKey(this.prefix, issuer, sid), '1', 'PXAT', expiresAt);
  }
  async isMarked(issuer: string, sid: string): Promise<boolean> {
    return (await this.redis.exists(markerKey(this.prefix, issuer, sid))) === 1;
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
  private readonly queue: string;
  private readonly pending: string;
  constructor(
    private readonly redis: Client,
    private readonly prefix: string,
    private readonly retentionMs: number,
    private readonly replication: { replicas: number; waitMs: number },
  ) {
    this.queue = dueQueue(prefix);
    this.pending = pendingSince(prefix);
    if (!('lrClaimDue' in redis)) redis.defineCommand('lrClaimDue', { numberOfKeys: 2, lua: CLAIM_DUE });
  }
  private key(id: string): string {
    return reportKey(this.prefix, id);
  }
  async save(report: LogoutReport, dueAt?: number): Promise<void> {
    const { replicas, waitMs } = this.replication;
    // A logout still to carry out must survive a failover: it waits for the replicas, in the same round
    // trip. Then as a pipeline, not MULTI (WAIT may not run inside a transaction): the writes are
    // idempotent, on one node.
    const waits = dueAt !== undefined && replicas > 0;
    const batch = waits ? this.redis.pipeline() : this.redis.multi();
    batch.set(this.key(report.id), JSON.stringify(report), 'PX', this.retentionMs);
    if (dueAt === undefined) batch.zrem(this.queue, report.id).zrem(this.pending, report.id);
    else {
      const index = targetIndexKey(this.prefix, report.target);
      batch.zadd(this.queue, dueAt, report.id).zadd(this.pending, 'NX', receivedAtMs(report), report.id).zadd(index, receivedAtMs(report), report.id).pexpire(index, this.retentionMs);
    }
    if (!waits) return void failOn(await batch.exec());
    const { acknowledged } = await execAndWait(batch, replicas, waitMs);
    if (acknowledged < replicas) throw notReplicated(acknowledged, replicas, waitMs);
  }
  async byTarget(target: LogoutTarget, limit: number): Promise<LogoutReport[]> {
    const index = targetIndexKey(this.prefix, target);
    // Reports older than the retention are gone; their ids leave the index as it is read.
    await this.redis.zremrangebyscore(index, '-inf', Date.now() - this.retentionMs);
    const ids = await this.redis.zrevrange(index, 0, limit - 1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(...ids.map((id) => this.key(id)));
    return raws.filter((raw): raw is string => raw !== null).map((raw) => JSON.parse(raw) as LogoutReport);
  }
  async get(id: string): Promise<LogoutReport | null> {
    const raw = await this.redis.get(this.key(id));
    return raw ? (JSON.parse(raw) as LogoutReport) : null;
  }
  async claimDue(now: number, limit: number, leaseMs: number): Promise<LogoutReport[]> {
    const run = (this.redis as unknown as { lrClaimDue(...keysAndArgs: (string | number)[]): Promise<string[]> }).lrClaimDue;
    const raws = await run.call(this.redis, this.queue, this.pending, now, limit, now + leaseMs, reportKey(this.prefix, ''));
    return raws.map((raw) => JSON.parse(raw) as LogoutReport);
  }
  async dequeue(id: string): Promise<void> {
    await this.redis.multi().zrem(this.queue, id).zrem(this.pending, id).exec().then(failOn);
  }
  async backlog(): Promise<number> {
    return this.redis.zcard(this.queue);
  }
  async oldestPending(): Promise<number | null> {
    const [, score] = await this.redis.zrange(this.pending, 0, 0, 'WITHSCORES');
    return score === undefined ? null : Number(score);
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
 * A logout's end: when every session its attempt found still exists, they go (with their index entries)
 * and its report is saved, dequeued; else nothing is written (0). KEYS: report, due queue, pending-since,
 * then per session its key and its index keys; ARGV: report JSON, report retention (ms), report id, then
 * per session the number of its index keys and its id.
 */
const COMPLETE_LOGOUT = `
local sessions = {}
local k = 4
for a = 4, #ARGV, 2 do
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
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
`;

type WithCompleteLogout = { lrCompleteLogout(keyCount: number, ...keysAndArgs: (string | number)[]): Promise<number> };

type WithAdmitLogout = { lrAdmitLogout(keyCount: number, ...keysAndArgs: (string | number)[]): Promise<number> };

export interface RedisStoreOptions {
  keyPrefix: string;
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
  const prefix = options.keyPrefix;
  if (!('lrAdmitLogout' in redis)) redis.defineCommand('lrAdmitLogout', { lua: ADMIT_LOGOUT });
  if (!('lrCompleteLogout' in redis)) redis.defineCommand('lrCompleteLogout', { lua: COMPLETE_LOGOUT });
  const replication = { replicas: options.replicas ?? 0, waitMs: options.replicaWaitMs ?? 500 };
  const replay = new RedisReplayStore(redis, prefix, replication);
  const stores: ServiceStores = {
    sessions: outagesAsUnavailable(new RedisSessionStore(redis, prefix, now)),
    replay: outagesAsUnavailable(replay),
    markers: outagesAsUnavailable(new RedisLoggedOutMarkers(redis, prefix)),
    journal: outagesAsUnavailable(new RedisLogoutJournal(redis, prefix, options.reportRetentionMs, replication)),
    async admitLogout({ replay, report, dueAt, marker }) {
      const keys = [replayKey(prefix, replay.key), reportKey(prefix, report.id), dueQueue(prefix), targetIndexKey(prefix, report.target), pendingSince(prefix)];
      const args: (string | number)[] = [replay.expiresAt, JSON.stringify(report), options.reportRetentionMs, dueAt, report.id, receivedAtMs(report)];
      if (marker) {
        keys.push(markerKey(prefix, marker.issuer, marker.sid));
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
    async completeLogout(report, sessions) {
      const keys = [reportKey(prefix, report.id), dueQueue(prefix), pendingSince(prefix)];
      const args: (string | number)[] = [JSON.stringify(report), options.reportRetentionMs, report.id];
      for (const s of sessions) {
        const indexes = indexKeys(prefix, s);
        keys.push(sessionKey(prefix, s.id), ...indexes);
        args.push(indexes.length, s.id);
      }
      return (await (redis as unknown as WithCompleteLogout).lrCompleteLogout(keys.length, ...keys, ...args)) === 1;
    },
    async ping() {
      // A write under the prefix, not a PING: it must reach a writable master owning the service's keys (a
      // replica answers READONLY, a Cluster shard that is down fails), which is what readiness means here.
      await redis.set(`${prefix}readyz`, '1', 'PX', 10_000);
    },
    async close() {
      replay.stop();
      if (options.ownsConnection ?? true) await redis.quit().catch(() => redis.disconnect());
    },
  };
  return outagesAsUnavailable(stores);
}

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
    // In a Cluster the service's keys share one hash slot, so its MULTI transactions stay on one node.
    const prefix = location.cluster && !/\{.+\}/.test(keyPrefix) ? `{${keyPrefix}}` : keyPrefix;
    const options = { keyPrefix: prefix, reportRetentionMs: context.reportRetentionMs, ownsConnection: false, replicas: settings.replicas as number, replicaWaitMs: settings.replicaWaitMs as number };
    const redis = context.redis(location, 'store');
    return {
      stores: createRedisStores(redis, options),
      attemptStores: createRedisStores(context.redis(location, 'store attempts'), options),
      shared: { redis, keyPrefix: prefix },
    };
  },
};
