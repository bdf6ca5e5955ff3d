import type { WebSessionTarget } from './web-session.js';

// Domain types shared by the logout core, the stores and the routes.

/** A user's sign-in to one registered app, as the app registered it at sign-in. */
export interface Session {
  id: string;
  clientId: string;
  /** The `iss` value as it appears in tokens (a template issuer resolved to its tenant). */
  issuer: string;
  sid?: string;
  sub: string;
  /** MSAL's homeAccountId (`uid.utid` from client_info), the token-cache partition of the account. */
  homeAccountId: string;
  /** The app's own partition key, for apps whose cache key template uses `{cacheKey}`. */
  cacheKey?: string;
  /** The app's own web-session id (as secret as its cookie: never returned, logged or labelled). */
  webSessionKey?: string;
  /** Spring Session's principal name, for its index. */
  principal?: string;
  createdAt: string;
  expiresAt: string;
}

export type NewSession = Omit<Session, 'id' | 'createdAt'>;

/** A registration repeated (the same sign-in at the same app): it extends the session rather than adding one. */
export const sameRegistration = (s: NewSession, input: NewSession): boolean =>
  s.clientId === input.clientId && s.sid === input.sid && s.homeAccountId === input.homeAccountId && s.cacheKey === input.cacheKey && s.webSessionKey === input.webSessionKey && s.principal === input.principal;

/** What a logout applies to: one session, every session of a user at an issuer, or one MSAL account. */
export type LogoutTarget = { kind: 'sid'; issuer: string; sid: string } | { kind: 'sub'; issuer: string; sub: string } | { kind: 'account'; homeAccountId: string };

/** One name per target, whatever the letter case of an account id: the key reports are found by. */
export const targetKey = (target: LogoutTarget): string => JSON.stringify(target.kind === 'account' ? ['account', target.homeAccountId.toLowerCase()] : target.kind === 'sid' ? ['sid', target.issuer, target.sid] : ['sub', target.issuer, target.sub]);

export const LOGOUT_CHANNELS = ['backchannel', 'frontchannel', 'api'] as const;
export type LogoutChannel = (typeof LOGOUT_CHANNELS)[number];

/** A validated request to sign a user out, from whichever channel it came. */
export interface LogoutEvent {
  channel: LogoutChannel;
  target: LogoutTarget;
}

export const REMOVAL_OUTCOMES = ['removed', 'not_present', 'skipped', 'failed', 'superseded'] as const;
export type RemovalOutcome =
  | 'removed' // the account was in the partition and is gone now
  | 'not_present' // the partition had no such account (or did not exist)
  | 'skipped' // the partition could not be addressed or holds foreign data; left untouched
  | 'failed' // a store error: the logout stays pending and this removal is retried
  | 'superseded'; // the user signed in again after the logout was received: a retry or second pass leaves the account alone

export interface AccountRemoval {
  clientId: string;
  app: string;
  homeAccountId: string;
  partitionKey?: string;
  outcome: RemovalOutcome;
  /** What was removed or why nothing was (never token values). */
  detail?: string;
  removedEntries?: number;
  partitionDeleted?: boolean;
  /** How many times this removal was tried (a retry redoes only the removals that failed). */
  attempts?: number;
}

/** One app's web session ended (deleted, or marked signed out) by a logout. */
export interface WebSessionRemoval {
  clientId: string;
  app: string;
  /** The app's web-session kind, and its place in the app's `webSession` list. */
  kind: string;
  index: number;
  outcome: RemovalOutcome;
  detail?: string;
  attempts?: number;
  /** What ending it again needs, the session key included: in the journal while the logout has work left, never in an answer. */
  target?: WebSessionTarget;
}

/** The pass that removes every account of a logout once more, a while after the first attempt. */
export interface SecondPass {
  dueAt: string;
  /** When it ran; absent while it is still due. */
  at?: string;
  removals: AccountRemoval[];
  webSessions?: WebSessionRemoval[];
}

export type LogoutState = 'pending' | 'completed' | 'failed';

export interface LogoutReport {
  id: string;
  state: LogoutState;
  channel: LogoutChannel;
  target: LogoutTarget;
  receivedAt: string;
  completedAt?: string;
  attempts: number;
  sessionsEnded: number;
  sessionIds: string[];
  accounts: string[];
  removals: AccountRemoval[];
  /** The apps' own web sessions the logout ended (apps with a `webSession` only). */
  webSessions?: WebSessionRemoval[];
  /** When the first attempt ended the sessions and swept every app (retries then redo only what failed). */
  firstPassAt?: string;
  secondPass?: SecondPass;
  lastError?: string;
}

/** A logout's report as it is received: pending, nothing done yet. */
export function receivedReport(id: string, channel: LogoutChannel, target: LogoutTarget, receivedAt: string): LogoutReport {
  return { id, state: 'pending', channel, target, receivedAt, attempts: 0, sessionsEnded: 0, sessionIds: [], accounts: [], removals: [] };
}

/** When a report was received, in epoch ms (now, for a report that does not say). */
export function receivedAtMs(report: LogoutReport): number {
  const at = Date.parse(report.receivedAt);
  return Number.isFinite(at) ? at : Date.now();
}
