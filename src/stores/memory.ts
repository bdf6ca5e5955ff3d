import { Type } from 'typebox';
import { randomUUID } from 'node:crypto';
import { receivedAtMs, sameRegistration, targetKey, type LogoutReport, type LogoutTarget, type NewSession, type Session } from '../core/model.js';
import { REFUSED_BY_IT, sessionsOfTarget, sessionsReadAtClaim, type ClaimedLogout, type LoggedOutMarkers, type LogoutJournal, type ReplayStore, type ServiceStores, type SessionStore } from '../core/service-stores.js';
import type { StoreKind } from './kind.js';

type Clock = () => number;
type Bound = { maxEntries: number; onEvict: () => void };

/** A map whose entries vanish at their expiry time (checked on read and on `prune`); beyond `maxEntries` the oldest goes first. */
class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  constructor(
    private readonly now: Clock,
    private readonly bound: { maxEntries: number; onEvict: () => void; keep?: (key: string) => boolean } = { maxEntries: Infinity, onEvict: () => {} },
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    // Re-set entries move to the end, so the first one is always the oldest written.
    this.entries.delete(key);
    if (this.entries.size >= this.bound.maxEntries)
      for (const [oldest, entry] of this.entries) {
        if (this.bound.keep?.(oldest)) continue;
        this.entries.delete(oldest);
        if (entry.expiresAt > this.now()) this.bound.onEvict(); // an expired one going is no loss
        break;
      }
    this.entries.set(key, { value, expiresAt });
  }

  /** A new value for a live entry, its expiry and place kept. */
  replace(key: string, value: V): void {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > this.now()) entry.value = value;
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  prune(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}

const indexKey = (...parts: string[]): string => JSON.stringify(parts);

class MemorySessionStore implements SessionStore {
  private readonly sessions: ExpiringMap<Session>;
  private readonly indexes = new Map<string, Set<string>>();

  constructor(private readonly now: Clock) {
    this.sessions = new ExpiringMap(now);
  }

  private keysOf(s: Session | NewSession): string[] {
    const keys = [indexKey('sub', s.issuer, s.sub), indexKey('account', s.homeAccountId.toLowerCase())];
    if (s.sid !== undefined) keys.push(indexKey('sid', s.issuer, s.sid));
    return keys;
  }

  async add(input: NewSession): Promise<Session> {
    const same = (await this.lookup(indexKey('sub', input.issuer, input.sub))).find((s) => sameRegistration(s, input));
    if (same) {
      // A repeated registration extends the existing one rather than piling up copies.
      const extended = { ...same, expiresAt: input.expiresAt };
      this.sessions.set(same.id, extended, Date.parse(extended.expiresAt));
      return extended;
    }
    const session: Session = { ...input, id: randomUUID(), createdAt: new Date(this.now()).toISOString() };
    this.sessions.set(session.id, session, Date.parse(session.expiresAt));
    for (const key of this.keysOf(session)) {
      let ids = this.indexes.get(key);
      if (!ids) this.indexes.set(key, (ids = new Set()));
      ids.add(session.id);
    }
    return session;
  }

  async get(id: string): Promise<Session | null> {
    return this.sessions.get(id) ?? null;
  }

  private async lookup(key: string): Promise<Session[]> {
    const ids = this.indexes.get(key);
    if (!ids) return [];
    const found: Session[] = [];
    for (const id of ids) {
      const session = this.sessions.get(id);
      if (session) found.push(session);
      else ids.delete(id);
    }
    if (ids.size === 0) this.indexes.delete(key);
    return found;
  }

  bySid(issuer: string, sid: string): Promise<Session[]> {
    return this.lookup(indexKey('sid', issuer, sid));
  }

  bySub(issuer: string, sub: string): Promise<Session[]> {
    return this.lookup(indexKey('sub', issuer, sub));
  }

  byHomeAccountId(homeAccountId: string): Promise<Session[]> {
    return this.lookup(indexKey('account', homeAccountId.toLowerCase()));
  }

  async remove(id: string): Promise<boolean> {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    for (const key of this.keysOf(session)) {
      const ids = this.indexes.get(key);
      ids?.delete(id);
      if (ids?.size === 0) this.indexes.delete(key);
    }
    return true;
  }

  async removeFound(sessions: Session[]): Promise<string[]> {
    const removed: string[] = [];
    for (const s of sessions) if (await this.remove(s.id)) removed.push(s.id);
    return removed;
  }

  prune(): void {
    this.sessions.prune();
  }
}

class MemoryReplayStore implements ReplayStore {
  readonly seen: ExpiringMap<string>;
  constructor(now: Clock, bound: Bound) {
    this.seen = new ExpiringMap(now, bound);
  }
  /** Records `key` until `expiresAt` (epoch ms); false when it was already recorded. */
  remember(key: string, admissionId: string, expiresAt: number): boolean {
    if (this.seen.get(key) !== undefined) return (this.seen.replace(key, REFUSED_BY_IT), false);
    this.seen.set(key, admissionId, expiresAt);
    return true;
  }
  async forget(key: string, admissionId: string): Promise<void> {
    if (this.seen.get(key) === admissionId) this.seen.delete(key);
  }
}

class MemoryLoggedOutMarkers implements LoggedOutMarkers {
  readonly marks: ExpiringMap<true>;
  constructor(now: Clock, bound: Bound) {
    this.marks = new ExpiringMap(now, bound);
  }
  async mark(issuer: string, sid: string, expiresAt: number): Promise<void> {
    this.marks.set(indexKey(issuer, sid), true, expiresAt);
  }
  async isMarked(issuer: string, sid: string): Promise<boolean> {
    return this.marks.get(indexKey(issuer, sid)) === true;
  }
}

/** Reports are kept as JSON text (as the Redis store keeps them): one string per report instead of an object graph. */
class MemoryLogoutJournal implements LogoutJournal {
  readonly reports: ExpiringMap<string>;
  constructor(
    private readonly now: Clock,
    private readonly retentionMs: number,
    bound: Bound,
    /** The sessions a claim reads with a report (the session store's own lookup). */
    private readonly sessions: SessionStore,
  ) {
    // A logout still queued keeps its report, whatever its age: it is yet to be carried out.
    this.reports = new ExpiringMap(now, { ...bound, keep: (id) => this.queue.has(id) });
  }
  private readonly queue = new Map<string, number>();
  /** When each queued logout was received, by id. */
  private readonly pendingSince = new Map<string, number>();
  /** Report ids by target, oldest first; ids whose report is gone are dropped when read. */
  private readonly byTargetKey = new Map<string, string[]>();
  async save(report: LogoutReport, dueAt?: number): Promise<void> {
    if (dueAt !== undefined && !this.reports.get(report.id)) {
      const key = targetKey(report.target);
      this.byTargetKey.set(key, [...(this.byTargetKey.get(key) ?? []), report.id]);
    }
    this.reports.set(report.id, JSON.stringify(report), this.now() + this.retentionMs);
    if (dueAt === undefined) this.dequeueNow(report.id);
    else this.queue.set(report.id, dueAt);
    if (dueAt === undefined || report.state !== 'pending') this.pendingSince.delete(report.id);
    else if (!this.pendingSince.has(report.id)) this.pendingSince.set(report.id, receivedAtMs(report));
  }
  private dequeueNow(id: string): void {
    this.queue.delete(id);
    this.pendingSince.delete(id);
  }
  async claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedLogout[]> {
    const due = [...this.queue]
      .filter(([, at]) => at <= now)
      .sort((a, b) => a[1] - b[1])
      .slice(0, limit);
    const claimed: ClaimedLogout[] = [];
    for (const [id] of due) {
      const report = await this.get(id);
      if (!report) this.dequeueNow(id);
      else {
        this.queue.set(id, now + leaseMs);
        claimed.push(sessionsReadAtClaim(report) ? { report, sessions: await sessionsOfTarget(this.sessions, report.target) } : { report });
      }
    }
    return claimed;
  }
  async dequeue(id: string): Promise<void> {
    this.dequeueNow(id);
  }
  async backlog(): Promise<number> {
    return this.pendingSince.size;
  }
  async oldestPending(): Promise<number | null> {
    let oldest: number | null = null;
    for (const at of this.pendingSince.values()) if (oldest === null || at < oldest) oldest = at;
    return oldest;
  }
  async byTarget(target: LogoutTarget, limit: number): Promise<LogoutReport[]> {
    const key = targetKey(target);
    const ids = (this.byTargetKey.get(key) ?? []).filter((id) => this.reports.get(id) !== undefined);
    if (ids.length) this.byTargetKey.set(key, ids);
    else this.byTargetKey.delete(key);
    return Promise.all(
      ids
        .slice(-limit)
        .reverse()
        .map(async (id) => (await this.get(id))!),
    );
  }
  async get(id: string): Promise<LogoutReport | null> {
    const report = this.reports.get(id);
    return report === undefined ? null : (JSON.parse(report) as LogoutReport);
  }
}

export interface MemoryStoreOptions {
  /** How long logout reports stay readable. */
  reportRetentionMs: number;
  now?: Clock;
  /** How often expired entries are dropped; 0 disables the timer. */
  pruneIntervalMs?: number;
  /** Replay records, markers and reports kept at most, each (100,000 by default); beyond, the oldest go first. */
  maxEntries?: number;
}

/** The embedded store: one process, lost on restart. */
export function createMemoryStores(options: MemoryStoreOptions): ServiceStores {
  const now = options.now ?? Date.now;
  const sessions = new MemorySessionStore(now);
  const evictions = { replay: 0, markers: 0, reports: 0 };
  const bound = (map: keyof typeof evictions): Bound => ({ maxEntries: options.maxEntries ?? 100_000, onEvict: () => void evictions[map]++ });
  const replay = new MemoryReplayStore(now, bound('replay'));
  const markers = new MemoryLoggedOutMarkers(now, bound('markers'));
  const journal = new MemoryLogoutJournal(now, options.reportRetentionMs, bound('reports'), sessions);
  const interval = options.pruneIntervalMs ?? 60_000;
  const timer =
    interval > 0
      ? setInterval(() => {
          sessions.prune();
          replay.seen.prune();
          markers.marks.prune();
          journal.reports.prune();
        }, interval).unref()
      : undefined;
  return {
    sessions,
    replay,
    markers,
    journal,
    async admitLogout(admission) {
      if (admission.replay && !replay.remember(admission.replay.key, admission.report.id, admission.replay.expiresAt)) return false;
      // The marker before the journal entry: a worker may claim the logout, and read its sessions, once it is queued.
      if (admission.marker) await markers.mark(admission.marker.issuer, admission.marker.sid, admission.marker.expiresAt);
      await journal.save(admission.report, admission.dueAt);
      return true;
    },
    async markAndFindBySid(issuer, sid, expiresAt) {
      await markers.mark(issuer, sid, expiresAt);
      return sessions.bySid(issuer, sid);
    },
    async completeLogout(report, found, dueAt) {
      for (const s of found) if (!(await sessions.get(s.id))) return false;
      await sessions.removeFound(found);
      await journal.save(report, dueAt);
      return true;
    },
    evictions: () => ({ ...evictions }),
    async ping() {},
    async close() {
      if (timer) clearInterval(timer);
    },
  };
}

/** `kind: memory`: the embedded default. */
export const memoryStore: StoreKind = {
  kind: 'memory',
  settings: Type.Object({}, { additionalProperties: false }),
  open: (_settings, { reportRetentionMs }) => ({ stores: createMemoryStores({ reportRetentionMs }) }),
};
