import { randomUUID } from 'node:crypto';
import pLimit, { type LimitFunction } from 'p-limit';
import type { ServiceStores } from './service-stores.js';
import { Conflict, InvalidLogoutToken, NotFound, StoreUnavailable } from './errors.js';
import type { AccountRemoval, LogoutChannel, LogoutEvent, LogoutReport, LogoutTarget, NewSession, Session } from './model.js';
import type { AccountToSweep, TokenCacheSweeper } from './token-cache-sweeper.js';
import type { VerifiedLogoutToken } from './verify-logout-token.js';

export interface RetryPolicy {
  /** First retry delay; doubled per attempt up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** After this many attempts the logout is `failed` and no longer retried. */
  maxAttempts: number;
  /** How long a worker holds a logout it works on before another may take it over. */
  leaseMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: 100, leaseMs: 30_000 };

export interface LogoutServiceOptions {
  stores: ServiceStores;
  /**
   * The same store, for the attempts (and the worker): what an answer waits on (replay record, journal,
   * marker) goes through `stores`, the rest through these, so that with Redis the answers' commands do
   * not queue behind the attempts' on one connection. `stores` by default.
   */
  attemptStores?: ServiceStores;
  sweeper: TokenCacheSweeper;
  /** How long a logged-out `(issuer, sid)` refuses late registrations. */
  markerTtlMs: number;
  /** How long a front-channel `sid` that matched no session refuses them (only a sign-in's race to register). */
  unmatchedMarkerTtlMs: number;
  clockSkewSeconds: number;
  retry?: Partial<RetryPolicy>;
  now?: () => number;
  /** Told after every attempt at a logout, whatever its state, with how long it took (metrics, logs). */
  onAttempt?: (report: LogoutReport, seconds: number) => void;
  /** Told of errors the worker swallows so it keeps going. */
  onError?: (err: unknown, context: string) => void;
  /** Told when a worker round went through (the store answered): an outage it met is over. */
  onWorkerRound?: () => void;
  /**
   * Back-channel logouts answered and not yet through their first attempt, at most (1,000 by default);
   * beyond that, an answer waits for its own logout's first attempt, which slows the provider down.
   */
  maxInBackground?: number;
  /**
   * How many of those are worked on at once (256 by default); the others wait their turn. Removals from
   * one partition are batched only among the logouts being worked on, so a low number makes many small
   * rounds on a shared partition.
   */
  backgroundConcurrency?: number;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/\/\/[^@/\s]*@/g, '//***@').slice(0, 200);
const removalKey = (r: AccountRemoval): string => JSON.stringify([r.clientId, r.homeAccountId.toLowerCase(), r.partitionKey ?? null]);

/**
 * Carries out logouts: event → sessions → accounts → removal from every app's token cache.
 * A logout is journaled before anything else and retried until done, so an answered logout survives
 * a store outage or the death of the process.
 */
export class LogoutService {
  private readonly now: () => number;
  private readonly retry: RetryPolicy;
  private readonly maxInBackground: number;
  private worker?: NodeJS.Timeout;
  private running?: Promise<number>;
  /** First attempts of back-channel logouts already answered, running or waiting their turn. */
  private readonly inBackground = new Set<Promise<LogoutReport>>();
  private readonly backgroundTurn: LimitFunction;
  /** Where attempts read and write (see `attemptStores`). */
  private readonly work: ServiceStores;

  constructor(private readonly options: LogoutServiceOptions) {
    this.work = options.attemptStores ?? options.stores;
    this.now = options.now ?? Date.now;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
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

  /**
   * The replay rule, last of the token's rules, then the logout: journaled and its `sid` marked logged
   * out before this returns, carried out after (the provider is not kept waiting on the token caches;
   * `settled()` waits for it). The report comes back `pending`, or as its first attempt left it when
   * `maxInBackground` logouts are already under way.
   */
  async logoutWithToken(token: VerifiedLogoutToken): Promise<LogoutReport> {
    const { stores } = this.options;
    const replayKey = JSON.stringify([token.iss, token.jti]);
    // Until the token can no longer pass (expired, or too old), in whole milliseconds (NumericDates may be fractional).
    const until = Math.ceil(Math.max((token.validUntil + this.options.clockSkewSeconds) * 1000, this.now() + 1000));
    const target =
      token.sid !== undefined ? { kind: 'sid' as const, issuer: token.iss, sid: token.sid } : { kind: 'sub' as const, issuer: token.iss, sub: token.sub as string };
    const report = this.newReport({ channel: 'backchannel', target });
    // Replay record, journal and marker in one step (one round trip before the answer with Redis). A
    // session registered once this has answered is refused (409). One that could not be recorded is
    // not answered 200, and its replay record is dropped so that the provider's retry is let through.
    let admitted: boolean;
    try {
      admitted = await stores.admitLogout({
        replay: { key: replayKey, expiresAt: until },
        report,
        // Queued for a worker at the end of the lease, in case this process dies during the attempt.
        dueAt: this.now() + this.retry.leaseMs,
        ...(target.kind === 'sid' ? { marker: { issuer: target.issuer, sid: target.sid, expiresAt: this.markerUntil(report) } } : {}),
      });
    } catch (err) {
      await stores.replay.forget(replayKey).catch(() => {});
      throw new StoreUnavailable(`the logout could not be recorded: ${message(err)}`);
    }
    if (!admitted) throw new InvalidLogoutToken('jti', 'this logout token was already received (replay)');
    if (this.inBackground.size >= this.maxInBackground) return this.attempt(report, { targetMarked: true });
    const answered = copyOf(report);
    const attempt = this.backgroundTurn(() => this.attempt(report, { targetMarked: true })).finally(() => this.inBackground.delete(attempt));
    this.inBackground.add(attempt);
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
   * Journals the logout (throws StoreUnavailable when it cannot), then makes a first attempt.
   * The report comes back `completed`, or `pending` when a store failed and a retry is queued.
   */
  async logout(event: LogoutEvent): Promise<LogoutReport> {
    const report = this.newReport(event);
    await this.record(report);
    return this.attempt(report);
  }

  private newReport(event: LogoutEvent): LogoutReport {
    return {
      id: randomUUID(),
      state: 'pending',
      channel: event.channel,
      target: event.target,
      receivedAt: new Date(this.now()).toISOString(),
      attempts: 0,
      sessionsEnded: 0,
      sessionIds: [],
      accounts: [],
      removals: [],
    };
  }

  /** Journals the report `pending`, queued for a worker (StoreUnavailable when it cannot be). */
  private async record(report: LogoutReport): Promise<void> {
    try {
      // Queued for a worker at the end of the lease, in case this process dies during the attempt.
      await this.options.stores.journal.save(report, this.now() + this.retry.leaseMs);
    } catch (err) {
      throw new StoreUnavailable(`the logout could not be recorded: ${message(err)}`);
    }
  }

  /**
   * A front-channel logout: by `sid`, at one issuer or (the Entra form of a multi-tenant template) at any
   * of several. Where sessions have the sid, they are logged out (journaled, reported). Where none does,
   * an unauthenticated caller must not make the store grow: a single issuer gets only a short marker,
   * which covers a sign-in whose registration is still on its way, and no report; several issuers get
   * nothing (a marker per tenant would be the fan-out this avoids).
   */
  async logoutSidAtAnyOf(issuers: string[], sid: string, channel: LogoutChannel): Promise<LogoutReport[]> {
    const { markers, sessions } = this.options.stores;
    const withSessions: string[] = [];
    try {
      // The marker first: a registration that lands after the lookup then sees it and undoes itself.
      if (issuers.length === 1) await markers.mark(issuers[0]!, sid, this.now() + this.options.unmatchedMarkerTtlMs);
      for (const issuer of issuers) if ((await sessions.bySid(issuer, sid)).length > 0) withSessions.push(issuer);
    } catch (err) {
      throw new StoreUnavailable(`the sessions could not be read: ${message(err)}`);
    }
    const reports: LogoutReport[] = [];
    for (const issuer of withSessions) reports.push(await this.logout({ channel, target: { kind: 'sid', issuer, sid } }));
    return reports;
  }

  /** One attempt: never throws; the report ends `completed`, `pending` (retry queued) or `failed`. */
  private async attempt(report: LogoutReport, { targetMarked = false } = {}): Promise<LogoutReport> {
    const stores = this.work;
    const started = performance.now();
    report.attempts += 1;
    try {
      // The target first: a registration that lands after the lookup then sees the marker and undoes itself.
      if (!targetMarked) await this.markLoggedOut(report, []);
      const sessions = await this.findSessions(report);
      await this.markLoggedOut(report, sessions, { targetDone: true });
      const accounts = accountsOf(sessions, report);
      report.accounts = [...new Set([...report.accounts, ...accounts.map((a) => a.homeAccountId)])];
      report.removals = mergeRemovals(report.removals, await this.options.sweeper.sweep(accounts));
      const failed = report.removals.filter((r) => r.outcome === 'failed');
      if (failed.length) throw new Error(`${failed.length} token-cache removal(s) failed: ${failed[0]!.detail ?? ''}`);
      // Sessions go last: a retry after a crash must still find them.
      report.sessionIds.push(...(await stores.sessions.removeFound(sessions)));
      report.sessionsEnded = report.sessionIds.length;
      report.state = 'completed';
      report.completedAt = new Date(this.now()).toISOString();
      delete report.lastError;
      await stores.journal.save(report);
    } catch (err) {
      report.lastError = message(err);
      report.state = report.attempts >= this.retry.maxAttempts ? 'failed' : 'pending';
      const delay = Math.min(this.retry.baseDelayMs * 2 ** (report.attempts - 1), this.retry.maxDelayMs);
      await stores.journal
        .save(report, report.state === 'pending' ? this.now() + delay : undefined)
        .catch((saveErr: unknown) => this.options.onError?.(saveErr, 'journal')); // still queued from before: the lease expires and it is retried
    }
    this.options.onAttempt?.(report, (performance.now() - started) / 1000);
    return report;
  }

  /** Works off the queued logouts that are due; returns how many it attempted. */
  async runDue(limit = 50): Promise<number> {
    const { journal } = this.work;
    let attempted = 0;
    for (const id of await journal.due(this.now(), limit)) {
      if (!(await journal.claim(id, this.now(), this.retry.leaseMs))) continue;
      const report = await journal.get(id);
      if (!report || report.state !== 'pending') {
        await journal.dequeue(id);
        continue;
      }
      await this.attempt(report);
      attempted++;
    }
    return attempted;
  }

  /** Starts the background worker that retries queued logouts (on every instance; claims keep them apart). */
  startWorker(intervalMs: number): void {
    if (this.worker) return;
    this.worker = setInterval(() => {
      if (this.running) return;
      this.running = this.runDue()
        .then((attempted) => {
          this.options.onWorkerRound?.();
          return attempted;
        })
        .catch((err: unknown) => {
          this.options.onError?.(err, 'worker');
          return 0;
        })
        .finally(() => {
          this.running = undefined;
        });
    }, intervalMs).unref();
  }

  /** Stops the worker and waits for the round in progress and for the logouts answered before. */
  async stopWorker(): Promise<void> {
    if (this.worker) clearInterval(this.worker);
    this.worker = undefined;
    await this.running;
    await this.settled();
  }

  private findSessions(report: LogoutReport): Promise<Session[]> {
    const { sessions } = this.work;
    const { target } = report;
    if (target.kind === 'sid') return sessions.bySid(target.issuer, target.sid);
    if (target.kind === 'sub') return sessions.bySub(target.issuer, target.sub);
    return sessions.byHomeAccountId(target.homeAccountId);
  }

  /** Until when a logout's markers refuse late registrations. */
  private markerUntil(report: LogoutReport): number {
    return Date.parse(report.receivedAt) + this.options.markerTtlMs;
  }

  /** Marks the target's `(issuer, sid)` (unless `targetDone`) and those of the sessions found, through the attempts' stores. */
  private async markLoggedOut(report: LogoutReport, sessions: Session[], { targetDone = false } = {}): Promise<void> {
    const until = this.markerUntil(report);
    const sids = new Map<string, [string, string]>();
    const { target } = report;
    if (target.kind === 'sid') sids.set(JSON.stringify([target.issuer, target.sid]), [target.issuer, target.sid]);
    for (const s of sessions) if (s.sid !== undefined) sids.set(JSON.stringify([s.issuer, s.sid]), [s.issuer, s.sid]);
    if (targetDone && target.kind === 'sid') sids.delete(JSON.stringify([target.issuer, target.sid]));
    for (const [issuer, sid] of sids.values()) await this.work.markers.mark(issuer, sid, until);
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

/** A retry that finds nothing left keeps the earlier attempt's `removed`. */
function mergeRemovals(previous: AccountRemoval[], latest: AccountRemoval[]): AccountRemoval[] {
  const earlier = new Map(previous.map((r) => [removalKey(r), r]));
  const merged = latest.map((r) => {
    const before = earlier.get(removalKey(r));
    earlier.delete(removalKey(r));
    return before?.outcome === 'removed' && r.outcome === 'not_present' ? before : r;
  });
  return [...merged, ...earlier.values()];
}

/** The distinct MSAL accounts behind the sessions (and the account a logout names itself). */
function accountsOf(sessions: Session[], report: LogoutReport): AccountToSweep[] {
  const accounts = new Map<string, AccountToSweep>();
  const add = (homeAccountId: string): AccountToSweep => {
    const key = homeAccountId.toLowerCase();
    let account = accounts.get(key);
    if (!account) accounts.set(key, (account = { homeAccountId, cacheKeys: new Map() }));
    return account;
  };
  if (report.target.kind === 'account') add(report.target.homeAccountId);
  for (const s of sessions) {
    const account = add(s.homeAccountId);
    if (s.cacheKey === undefined) continue;
    let keys = account.cacheKeys.get(s.clientId);
    if (!keys) account.cacheKeys.set(s.clientId, (keys = new Set()));
    keys.add(s.cacheKey);
  }
  return [...accounts.values()];
}
