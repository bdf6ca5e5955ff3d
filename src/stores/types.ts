import type { LogoutReport, NewSession, Session } from '../core/model.js';

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
}

/** Seen `jti`s of logout tokens, so a replayed token has no effect. */
export interface ReplayStore {
  /** Atomically records `key` until `expiresAt` (epoch ms); false when it was already recorded. */
  remember(key: string, expiresAt: number): Promise<boolean>;
}

/** Marks `(issuer, sid)` pairs that were logged out, so a late registration is refused. */
export interface LoggedOutMarkers {
  mark(issuer: string, sid: string, expiresAt: number): Promise<void>;
  isMarked(issuer: string, sid: string): Promise<boolean>;
}

/** The record of every logout and what it did. */
export interface LogoutJournal {
  save(report: LogoutReport): Promise<void>;
  get(id: string): Promise<LogoutReport | null>;
}

/** Everything the service keeps of its own, behind one backing store. */
export interface ServiceStores {
  sessions: SessionStore;
  replay: ReplayStore;
  markers: LoggedOutMarkers;
  journal: LogoutJournal;
  /** Throws when the backing store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
