import { randomUUID } from 'node:crypto';
import pLimit, { type LimitFunction } from 'p-limit';
import type { ServiceStores } from './service-stores.js';
import { Conflict, InvalidLogoutToken, NotFound, safeMessage, StoreUnavailable } from './errors.js';
import type { LogoutAttempt } from './logout-attempt.js';
import { receivedReport, type LogoutChannel, type LogoutEvent, type LogoutReport, type LogoutTarget, type NewSession, type Session } from './model.js';
import type { VerifiedLogoutToken } from './verify-logout-token.js';

export interface LogoutAdmissionOptions {
  /** What an answer waits on: replay record, journal, marker, sessions. */
  stores: ServiceStores;
  attempt: LogoutAttempt;
  /** How long a front-channel `sid` that matched no session refuses registrations (only a sign-in's race to register). */
  unmatchedMarkerTtlMs: number;
  clockSkewSeconds: number;
  /** How long a worker holds a logout; an admitted logout is queued for the end of it, in case this process dies. */
  leaseMs: number;
  now: () => number;
  /** Whether this process makes the first attempt (`all`) or only queues it, due at once, for a worker (`receiver`). */
  firstAttempt: 'here' | 'queued';
  /** Answered back-channel logouts not yet through their first attempt, at most (1,000); beyond, an answer waits for its own. */
  maxInBackground?: number;
  /** How many of those are worked on at once (256): removals from one partition are batched among them. */
  backgroundConcurrency?: number;
}

/**
 * Takes logouts in: validates what the token rules left (the replay rule), journals the logout and marks
 * its `sid` before answering, then makes the first attempt here or leaves it queued for a worker. Also
 * the sessions' registration and the reports' reading.
 */
export class LogoutAdmission {
  /** First attempts of back-channel logouts already answered, running or waiting their turn. */
  private readonly inBackground = new Set<Promise<LogoutReport>>();
  private readonly backgroundTurn: LimitFunction;
  private readonly maxInBackground: number;

  constructor(private readonly options: LogoutAdmissionOptions) {
    this.maxInBackground = options.maxInBackground ?? 1_000;
    this.backgroundTurn = pLimit(options.backgroundConcurrency ?? 256);
  }

  /** Registers a session unless its `(issuer, sid)` was already logged out. */
  async register(session: NewSession): Promise<Session> {
    const { markers, sessions } = this.options.stores;
    const loggedOut = () => session.sid !== undefined && markers.isMarked(session.issuer, session.sid);
    if (await loggedOut()) throw new Conflict('this session was already logged out');
    const added = await sessions.add(session);
    // A logout that came in between the check and the write must not leave the session behind.
    if (await loggedOut()) {
      await sessions.remove(added.id);
      throw new Conflict('this session was already logged out');
    }
    return added;
  }

  /** When an admitted logout is next due: at once for a worker, or at the end of the lease (this process attempts it first). */
  private dueAt(): number {
    return this.options.now() + (this.options.firstAttempt === 'queued' ? 0 : this.options.leaseMs);
  }

  /**
   * The replay rule, last of the token's rules, then the logout: journaled and its `sid` marked logged
   * out before this returns, carried out after (the provider is not kept waiting on the token caches;
   * `settled()` waits for it). The report comes back `pending`, or as its first attempt left it when
   * `maxInBackground` logouts are already under way.
   */
  async logoutWithToken(token: VerifiedLogoutToken): Promise<LogoutReport> {
    const { stores, attempt } = this.options;
    const replayKey = JSON.stringify([token.iss, token.jti]);
    // Until the token can no longer pass (expired, or too old), in whole milliseconds (NumericDates may be fractional).
    const until = Math.ceil(Math.max((token.validUntil + this.options.clockSkewSeconds) * 1000, this.options.now() + 1000));
    const target = token.sid !== undefined ? { kind: 'sid' as const, issuer: token.iss, sid: token.sid } : { kind: 'sub' as const, issuer: token.iss, sub: token.sub as string };
    const report = this.newReport({ channel: 'backchannel', target });
    // Replay record, journal and marker in one step (one round trip before the answer with Redis). A
    // session registered once this has answered is refused (409). One that could not be recorded is
    // not answered 200, and its replay record is dropped so that the provider's retry is let through.
    let admitted: boolean;
    try {
      admitted = await stores.admitLogout({
        replay: { key: replayKey, expiresAt: until },
        report,
        dueAt: this.dueAt(),
        ...(target.kind === 'sid' ? { marker: { issuer: target.issuer, sid: target.sid, expiresAt: attempt.markerUntil(report) } } : {}),
      });
    } catch (err) {
      await stores.replay.forget(replayKey, report.id, until).catch(() => {});
      throw new StoreUnavailable(`the logout could not be recorded: ${safeMessage(err)}`);
    }
    if (!admitted) throw new InvalidLogoutToken('jti', 'this logout token was already received (replay)');
    return this.firstAttemptAfterAnswer(report);
  }

  /**
   * A journaled logout's first attempt, after the answer (the provider is not kept waiting on the token
   * caches): here in the background, or left to a worker. The report as it is now; or as its first attempt
   * left it when `maxInBackground` logouts are already under way.
   */
  private async firstAttemptAfterAnswer(report: LogoutReport): Promise<LogoutReport> {
    const { attempt } = this.options;
    if (this.options.firstAttempt === 'queued') return report;
    if (this.inBackground.size >= this.maxInBackground) return attempt.run(report);
    const answered = copyOf(report);
    const first = this.backgroundTurn(() => attempt.run(report)).finally(() => this.inBackground.delete(first));
    this.inBackground.add(first);
    return answered;
  }

  /** Resolves once no answered back-channel logout is still on its first attempt (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.inBackground.size > 0) await Promise.allSettled([...this.inBackground]);
  }

  /** The reports of the logouts of a target, newest first (at most 100). */
  async reportsOf(target: LogoutTarget): Promise<LogoutReport[]> {
    return this.options.stores.journal.byTarget(target, 100);
  }

  async report(id: string): Promise<LogoutReport> {
    const report = await this.options.stores.journal.get(id);
    if (!report) throw new NotFound('no logout has this id');
    return report;
  }

  /**
   * Journals the logout (throws StoreUnavailable when it cannot), then makes a first attempt (or leaves
   * it to a worker). The report comes back `completed`, or `pending` when a store failed and a retry is queued.
   */
  async logout(event: LogoutEvent): Promise<LogoutReport> {
    const report = await this.journal(event);
    return this.options.firstAttempt === 'queued' ? report : this.options.attempt.run(report);
  }

  /** A new logout's report, journaled and queued (throws StoreUnavailable when it cannot be). */
  private async journal(event: LogoutEvent): Promise<LogoutReport> {
    const report = this.newReport(event);
    try {
      await this.options.stores.journal.save(report, this.dueAt());
    } catch (err) {
      throw new StoreUnavailable(`the logout could not be recorded: ${safeMessage(err)}`);
    }
    return report;
  }

  /**
   * A front-channel logout: by `sid`, at one issuer or (the Entra form of a multi-tenant template) at any
   * of several. Where sessions have the sid, they are logged out: the sid marked, then the logout journaled,
   * before this returns, carried out after, as for the back channel. Where none does,
   * an unauthenticated caller must not make the store grow: a single issuer gets only a short marker,
   * which covers a sign-in whose registration is still on its way, and no report; several issuers get
   * nothing (a marker per tenant would be the fan-out this avoids).
   */
  async logoutSidAtAnyOf(issuers: string[], sid: string, channel: LogoutChannel): Promise<LogoutReport[]> {
    const { stores } = this.options;
    const withSessions: string[] = [];
    try {
      // The marker with the lookup: a registration that lands after it then sees the marker and undoes itself.
      const found = (issuer: string) => (issuers.length === 1 ? stores.markAndFindBySid(issuer, sid, this.options.now() + this.options.unmatchedMarkerTtlMs) : stores.sessions.bySid(issuer, sid));
      for (const issuer of issuers) if ((await found(issuer)).length > 0) withSessions.push(issuer);
    } catch (err) {
      throw new StoreUnavailable(`the sessions could not be read: ${safeMessage(err)}`);
    }
    const reports: LogoutReport[] = [];
    for (const issuer of withSessions) {
      const report = this.newReport({ channel, target: { kind: 'sid', issuer, sid } });
      try {
        // The marker and the journal entry in one step (one round trip with Redis), as the back channel's admission.
        await this.options.stores.admitLogout({ report, dueAt: this.dueAt(), marker: { issuer, sid, expiresAt: this.options.attempt.markerUntil(report) } });
      } catch (err) {
        throw new StoreUnavailable(`the logout could not be recorded: ${safeMessage(err)}`);
      }
      reports.push(await this.firstAttemptAfterAnswer(report));
    }
    return reports;
  }

  private newReport(event: LogoutEvent): LogoutReport {
    return receivedReport(randomUUID(), event.channel, event.target, new Date(this.options.now()).toISOString());
  }
}

/** A copy that the attempt's later changes to the report do not reach (structuredClone costs several times more). */
function copyOf(report: LogoutReport): LogoutReport {
  return {
    ...report,
    target: { ...report.target },
    sessionIds: [...report.sessionIds],
    accounts: [...report.accounts],
    removals: report.removals.map((r) => ({ ...r })),
  };
}
