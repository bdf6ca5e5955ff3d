import { createHash, randomUUID } from 'node:crypto';
import type { Redis, Cluster } from 'ioredis';
import type { LogoutReport, NewSession, Session } from '../core/model.js';
import type { LoggedOutMarkers, LogoutJournal, ReplayStore, ServiceStores, SessionStore } from './types.js';

type Client = Redis | Cluster;
type Clock = () => number;

/** Index keys are hashed: issuers, sids and subs are arbitrary text of any length. */
const digest = (...parts: string[]): string => createHash('sha256').update(JSON.stringify(parts)).digest('base64url');

class RedisSessionStore implements SessionStore {
  constructor(
    private readonly redis: Client,
    private readonly prefix: string,
    private readonly now: Clock,
  ) {}

  private sessionKey(id: string): string {
    return `${this.prefix}session:${id}`;
  }

  private indexKeys(s: NewSession): string[] {
    const keys = [`${this.prefix}idx:sub:${digest(s.issuer, s.sub)}`, `${this.prefix}idx:account:${digest(s.homeAccountId.toLowerCase())}`];
    if (s.sid !== undefined) keys.push(`${this.prefix}idx:sid:${digest(s.issuer, s.sid)}`);
    return keys;
  }

  async add(input: NewSession): Promise<Session> {
    const same = (await this.lookup(this.indexKeys(input)[0]!)).find(
      (s) => s.clientId === input.clientId && s.sid === input.sid && s.homeAccountId === input.homeAccountId && s.cacheKey === input.cacheKey,
    );
    const session: Session = same ? { ...same, expiresAt: input.expiresAt } : { ...input, id: randomUUID(), createdAt: new Date(this.now()).toISOString() };
    const expiresAt = Date.parse(session.expiresAt);
    const tx = this.redis.multi().set(this.sessionKey(session.id), JSON.stringify(session), 'PXAT', expiresAt);
    for (const key of this.indexKeys(session)) {
      tx.sadd(key, session.id);
      // An index lives as long as its longest-lived session.
      tx.pexpireat(key, expiresAt, 'NX').pexpireat(key, expiresAt, 'GT');
    }
    await tx.exec();
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
    const tx = this.redis.multi().del(this.sessionKey(id));
    for (const key of this.indexKeys(session)) tx.srem(key, id);
    const results = await tx.exec();
    return results?.[0]?.[1] === 1;
  }
}

class RedisReplayStore implements ReplayStore {
  constructor(
    private readonly redis: Client,
    private readonly prefix: string,
  ) {}
  async remember(key: string, expiresAt: number): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}jti:${digest(key)}`, '1', 'PXAT', expiresAt, 'NX')) === 'OK';
  }
  async forget(key: string): Promise<void> {
    await this.redis.del(`${this.prefix}jti:${digest(key)}`);
  }
}

class RedisLoggedOutMarkers implements LoggedOutMarkers {
  constructor(
    private readonly redis: Client,
    private readonly prefix: string,
  ) {}
  async mark(issuer: string, sid: string, expiresAt: number): Promise<void> {
    await this.redis.set(`${this.prefix}loggedout:${digest(issuer, sid)}`, '1', 'PXAT', expiresAt);
  }
  async isMarked(issuer: string, sid: string): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}loggedout:${digest(issuer, sid)}`)) === 1;
  }
}

/** Claims a due logout for `lease` ms so that one instance at a time works on it. */
const CLAIM = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`;

class RedisLogoutJournal implements LogoutJournal {
  private readonly queue: string;
  constructor(
    private readonly redis: Client,
    private readonly prefix: string,
    private readonly retentionMs: number,
  ) {
    this.queue = `${prefix}logouts:due`;
    redis.defineCommand('lrClaim', { numberOfKeys: 1, lua: CLAIM });
  }
  private key(id: string): string {
    return `${this.prefix}logout:${id}`;
  }
  async save(report: LogoutReport, dueAt?: number): Promise<void> {
    const tx = this.redis.multi().set(this.key(report.id), JSON.stringify(report), 'PX', this.retentionMs);
    if (dueAt === undefined) tx.zrem(this.queue, report.id);
    else tx.zadd(this.queue, dueAt, report.id);
    await tx.exec();
  }
  async get(id: string): Promise<LogoutReport | null> {
    const raw = await this.redis.get(this.key(id));
    return raw ? (JSON.parse(raw) as LogoutReport) : null;
  }
  async due(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.queue, '-inf', now, 'LIMIT', 0, limit);
  }
  async claim(id: string, now: number, leaseMs: number): Promise<boolean> {
    const run = (this.redis as unknown as { lrClaim(k: string, id: string, now: number, until: number): Promise<number> }).lrClaim;
    return (await run.call(this.redis, this.queue, id, now, now + leaseMs)) === 1;
  }
  async dequeue(id: string): Promise<void> {
    await this.redis.zrem(this.queue, id);
  }
  async backlog(): Promise<number> {
    return this.redis.zcard(this.queue);
  }
}

export interface RedisStoreOptions {
  keyPrefix: string;
  reportRetentionMs: number;
  now?: Clock;
  /** Whether close() ends the connection (false when it is shared). */
  ownsConnection?: boolean;
}

/** The production store: sessions, replay records, logged-out markers and the logout journal in Redis. */
export function createRedisStores(redis: Client, options: RedisStoreOptions): ServiceStores {
  const now = options.now ?? Date.now;
  const prefix = options.keyPrefix;
  return {
    sessions: new RedisSessionStore(redis, prefix, now),
    replay: new RedisReplayStore(redis, prefix),
    markers: new RedisLoggedOutMarkers(redis, prefix),
    journal: new RedisLogoutJournal(redis, prefix, options.reportRetentionMs),
    async ping() {
      await redis.ping();
    },
    async close() {
      if (options.ownsConnection ?? true) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
