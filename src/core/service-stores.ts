import type { LogoutReport, LogoutTarget, NewSession, Session } from './model.js';

/** Sessions registered by the apps at sign-in, indexed the ways a logout finds them. */
export interface SessionStore {
  /** Stores the session; an identical live registration returns the existing one. */
  add(session: NewSession): Promise<Session>;
  get(id: string): Promise<Session | null>;
  bySid(issuer: string, sid: string): Promise<Session[]>;
  bySub(issuer: string, sub: string): Promise<Session[]>;
  byHomeAccountId(homeAccountId: string): Promise<Session[]>;
  /** Returns false when no such session exists. */
  remove(id: string): Promise<boolean>;
  /**
   * Removes sessions just found by a lookup, from the copies the lookup returned (a session's indexed
   * fields never change), at once; returns the ids of those that were still there.
   */
  removeFound(sessions: Session[]): Promise<string[]>;
}

/** The sessions a logout of `target` ends, as the store's indexes find them. */
export function sessionsOfTarget(sessions: SessionStore, target: LogoutTarget): Promise<Session[]> {
  if (target.kind === 'sid') return sessions.bySid(target.issuer, target.sid);
  if (target.kind === 'sub') return sessions.bySub(target.issuer, target.sub);
  return sessions.byHomeAccountId(target.homeAccountId);
}

/** What a replay record holds once it has refused a token: no admission's id, so no `forget` matches it. */
export const REFUSED_BY_IT = 'refused';

/** Seen `jti`s of logout tokens, so a replayed token has no effect (recorded by {@link ServiceStores.admitLogout}). */
export interface ReplayStore {
  /**
   * Drops the record the admission `admissionId` (its report id) made, when that logout could not be
   * recorded; a record another admission made since is kept, and so is one that has refused a token
   * since (that refusal told the provider its logout was received). `until` (epoch ms): the record's own end.
   */
  forget(key: string, admissionId: string, until: number): Promise<void>;
}

/** Marks `(issuer, sid)` pairs that were logged out, so a late registration is refused. */
export interface LoggedOutMarkers {
  mark(issuer: string, sid: string, expiresAt: number): Promise<void>;
  isMarked(issuer: string, sid: string): Promise<boolean>;
}

/** The record of every logout and what it did, and the queue of logouts still to carry out. */
export interface LogoutJournal {
  /**
   * Stores the report; with `dueAt` (epoch ms) it is (re)queued to be worked on then, without it dequeued.
   * Only a `pending` report counts in the backlog (a completed one may wait for its second pass).
   */
  save(report: LogoutReport, dueAt?: number): Promise<void>;
  get(id: string): Promise<LogoutReport | null>;
  /** The reports of the logouts of that target still kept, newest first (a report is found by its target once queued). */
  byTarget(target: LogoutTarget, limit: number): Promise<LogoutReport[]>;
  /**
   * Takes up to `limit` queued logouts due by `now`, oldest first, for `leaseMs` (one worker at a time has
   * each), with their reports, in one step; a queued id whose report is gone leaves the queue. A report
   * {@link sessionsReadAtClaim} names comes with its target's sessions, read in the same step.
   */
  claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedLogout[]>;
  /** Takes a logout off the queue (its report is gone). */
  dequeue(id: string): Promise<void>;
  /** How many logouts are pending (queued for a first attempt or a retry). */
  backlog(): Promise<number>;
  /** When the oldest logout still pending was received (epoch ms); null when none is. */
  oldestPending(): Promise<number | null>;
}

/** A logout a worker claimed. */
export interface ClaimedLogout {
  report: LogoutReport;
  /**
   * The target's sessions as `bySid` or `bySub` would find them now (index entries of sessions gone
   * dropped), for a report {@link sessionsReadAtClaim} names; absent otherwise, or when the store could
   * not read them in the claim's step: the attempt then looks them up itself.
   */
  sessions?: Session[];
}

/**
 * Whether a claim reads the report's sessions with it: a first attempt (no first pass yet) at a `sub`
 * (which has no marker) or at a `sid` marked before the logout was answered (back and front channel);
 * an `api` logout's first attempt marks its `sid` itself, and only then may its sessions be looked up.
 */
export function sessionsReadAtClaim(report: LogoutReport): boolean {
  return report.firstPassAt === undefined && (report.target.kind === 'sub' || (report.target.kind === 'sid' && report.channel !== 'api'));
}

/** What taking in a logout writes before it is answered. */
export interface LogoutAdmission {
  /** The token's replay record: its key, kept until `expiresAt` (epoch ms); none for a front-channel logout, which has no token. */
  replay?: { key: string; expiresAt: number };
  /** The report, journaled and queued for a worker at `dueAt` (epoch ms). */
  report: LogoutReport;
  dueAt: number;
  /** The target's `(issuer, sid)`, marked logged out until `expiresAt`; none for a `sub` target. */
  marker?: { issuer: string; sid: string; expiresAt: number };
}

/** Everything the service keeps of its own, behind one backing store. */
export interface ServiceStores {
  sessions: SessionStore;
  replay: ReplayStore;
  markers: LoggedOutMarkers;
  journal: LogoutJournal;
  /**
   * The replay record (back channel), the journal entry and the marker of a logout in one step (with
   * Redis one script: one round trip before the answer instead of two). False, and nothing written,
   * when the replay record exists already; that record then belongs to no admission, so that no
   * `forget` drops it any more. After a failure any part may have been written.
   */
  admitLogout(admission: LogoutAdmission): Promise<boolean>;
  /**
   * Marks `(issuer, sid)` logged out until `expiresAt`, then finds its sessions, in one step (with Redis one
   * script): a registration that lands after the lookup sees the marker and undoes itself.
   */
  markAndFindBySid(issuer: string, sid: string, expiresAt: number): Promise<Session[]>;
  /**
   * Ends a logout's sessions in one step (with Redis one script): removes the sessions its first attempt
   * found and saves `report`, which counts them already, as it is: queued for `dueAt` (a retry, its second
   * pass) or, without, off the queue. Only when every one of them is still there: otherwise it writes
   * nothing and says false.
   */
  completeLogout(report: LogoutReport, sessions: Session[], dueAt?: number): Promise<boolean>;
  /** Throws when the backing store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** For a store of bounded size: how many live entries of each kind it evicted to stay within it. */
  evictions?(): Record<string, number>;
}
