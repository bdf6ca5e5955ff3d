import { safeMessage } from './errors.js';
import { sessionsOfTarget, sessionsReadAtClaim, type ServiceStores } from './service-stores.js';
import { receivedAtMs, type AccountRemoval, type LogoutReport, type Session, type WebSessionRemoval } from './model.js';
import type { AccountToSweep, TokenCacheSweeper } from './token-cache-sweeper.js';
import type { WebSessionEnder } from './web-session-ender.js';

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

export interface LogoutAttemptOptions {
  /** Where attempts read and write (the attempts' own connection with Redis). */
  stores: ServiceStores;
  sweeper: TokenCacheSweeper;
  /** The apps' own web sessions to end beside their tokens (none when no app has a `webSession`). */
  webSessions?: WebSessionEnder;
  /** How long a logged-out `(issuer, sid)` refuses late registrations. */
  markerTtlMs: number;
  /** How long after the first attempt every account is removed once more (what apps wrote back); 0: never. */
  secondPassMs: number;
  retry: RetryPolicy;
  now: () => number;
  /** Told after every attempt at a logout, whatever its state, with how long it took and what it did (metrics, logs). */
  onAttempt?: (report: LogoutReport, seconds: number, done: AttemptDone) => void;
  onError?: (err: unknown, context: string) => void;
}

/** What one attempt did, beside the report it leaves. */
export interface AttemptDone {
  /** The first pass's removals, or the retried ones (and those a retry found superseded): this attempt's, not the report's. */
  removals: AccountRemoval[];
  /** The web-session endings of the first pass, or the retried ones. */
  webSessions: WebSessionRemoval[];
  /** The second pass's removals and endings, when it ran in this attempt. */
  secondPass: AccountRemoval[];
  secondPassWebSessions: WebSessionRemoval[];
  /** The logout turned `completed` or `failed` in this attempt (it was `pending` before). */
  settled: boolean;
}

const removalKey = (r: AccountRemoval): string => JSON.stringify([r.clientId, r.homeAccountId.toLowerCase(), r.partitionKey ?? null]);

/**
 * One attempt at a logout. The first ends its sessions and sweeps every app's token cache, whatever the
 * caches answer; a retry redoes only the removals that failed; the second pass removes every account once
 * more. A retry or the second pass leaves alone an account whose user signed in again after the logout.
 */
export class LogoutAttempt {
  constructor(private readonly options: LogoutAttemptOptions) {}

  /** Until when a logout's markers refuse late registrations. */
  markerUntil(report: LogoutReport): number {
    return Date.parse(report.receivedAt) + this.options.markerTtlMs;
  }

  /** Whether a queued logout has anything to do by `now` (a retry, or its second pass). */
  hasWork(report: LogoutReport, now: number): boolean {
    return report.state === 'pending' || secondPassDue(report, now);
  }

  /** Whether a logout has anything left to do, now or later (run() requeues one claimed ahead of its second pass). */
  hasWorkLeft(report: LogoutReport): boolean {
    return report.state === 'pending' || secondPassToCome(report);
  }

  /**
   * Never throws; the report ends `completed` (maybe queued for its second pass), `pending` (retry queued) or `failed`.
   * `claimed`: the target's sessions its claim read (see ClaimedLogout), which a first pass takes instead of looking them up.
   */
  async run(report: LogoutReport, claimed?: Session[]): Promise<LogoutReport> {
    const { now } = this.options;
    const started = performance.now();
    const wasPending = report.state === 'pending';
    if (!this.hasWork(report, now())) {
      await this.save(report);
      return report;
    }
    report.attempts += 1;
    const done: AttemptDone = { removals: [], webSessions: [], secondPass: [], secondPassWebSessions: [], settled: false };
    try {
      if (report.firstPassAt === undefined) {
        await this.firstPass(report, done, claimed);
        return report;
      }
      await this.retryFailed(report, done);
      if (secondPassDue(report, now())) await this.secondPass(report, done);
      this.settle(report);
      await this.save(report);
    } catch (err) {
      report.lastError = safeMessage(err);
      this.settle(report, report.lastError);
      await this.save(report).catch((saveErr: unknown) => this.options.onError?.(saveErr, 'journal')); // still queued from before: the lease expires and it is retried
    } finally {
      done.settled = wasPending && report.state !== 'pending';
      this.options.onAttempt?.(report, (performance.now() - started) / 1000, done);
    }
    return report;
  }

  /**
   * Finds the sessions (or takes those its claim read), sweeps every app and ends their web sessions, then
   * ends the sessions with the report's save (one step), whatever the caches answered: what a retry needs is in the report.
   */
  private async firstPass(report: LogoutReport, done: AttemptDone, claimed: Session[] | undefined): Promise<void> {
    const { stores, sweeper, webSessions, now, secondPassMs } = this.options;
    // The target first: a registration that lands after the lookup then sees the marker and undoes itself.
    // A back-channel or front-channel logout's was marked before it was answered, on every attempt's behalf.
    if (report.channel === 'api') await this.markLoggedOut(report, []);
    const received = receivedAtMs(report);
    // What the claim read is taken only where the target was marked before it (or has no marker).
    const found = claimed !== undefined && sessionsReadAtClaim(report) ? claimed : await sessionsOfTarget(stores.sessions, report.target);
    // A session registered after the logout was received is a later sign-in's, not this logout's.
    const sessions = found.filter((s) => !(Date.parse(s.createdAt) > received));
    await this.markLoggedOut(report, sessions, { targetDone: true });
    const accounts = accountsOf(sessions, report);
    const [swept, ended] = await Promise.all([sweeper.sweep(accounts), webSessions?.endFor(sessions, report.target.kind !== 'sid') ?? []]);
    done.removals = swept.map((r) => ({ ...r, attempts: 1 }));
    done.webSessions = ended.map((e) => ({ ...e, attempts: 1 }));
    const at = now();
    const next: LogoutReport = {
      ...report,
      accounts: [...new Set([...report.accounts, ...accounts.map((a) => a.homeAccountId)])],
      removals: mergeRemovals(report.removals, done.removals),
      ...(done.webSessions.length ? { webSessions: done.webSessions } : {}),
      firstPassAt: new Date(at).toISOString(),
      ...(secondPassMs > 0 ? { secondPass: { dueAt: new Date(at + secondPassMs).toISOString(), removals: [] } } : {}),
    };
    next.sessionIds = [...new Set([...report.sessionIds, ...sessions.map((s) => s.id)])];
    next.sessionsEnded = next.sessionIds.length;
    this.settle(next);
    const dueAt = this.dueAt(next);
    forgetWhenDone(next, dueAt);
    if (!(await stores.completeLogout(next, sessions, dueAt))) {
      // One was ended meanwhile (another logout, the API): in two steps, counting only those still there.
      next.sessionIds = [...new Set([...report.sessionIds, ...(await stores.sessions.removeFound(sessions))])];
      next.sessionsEnded = next.sessionIds.length;
      await stores.journal.save(next, dueAt);
    }
    delete report.lastError;
    Object.assign(report, next);
  }

  /** Redoes the removals and web-session endings whose latest outcome is `failed` (of the first pass and of the second), and only those. */
  private async retryFailed(report: LogoutReport, done: AttemptDone): Promise<void> {
    const failed = <T extends { outcome: string }>(lists: (T[] | undefined)[]) => lists.flatMap((list) => (list ?? []).map((r, i) => ({ list: list!, i, r })).filter(({ r }) => r.outcome === 'failed'));
    const removals = failed([report.removals, report.secondPass?.removals]);
    const endings = failed([report.webSessions, report.secondPass?.webSessions]);
    if (removals.length === 0 && endings.length === 0) return;
    const later = await this.laterSignIns(report, [...removals.map(({ r }) => r.homeAccountId), ...endings.map(({ r }) => r.target?.homeAccountId)]);
    const [again, endedAgain] = await Promise.all([
      this.redoRemovals(
        removals.map(({ r }) => r),
        later,
      ),
      this.redoEndings(
        endings.map(({ r }) => r),
        later,
      ),
    ]);
    removals.forEach(({ list, i, r }, n) => (list[i] = { ...again[n]!, attempts: (r.attempts ?? 1) + (again[n]!.outcome === 'superseded' ? 0 : 1) }));
    endings.forEach(({ list, i, r }, n) => (list[i] = { ...endedAgain[n]!, attempts: (r.attempts ?? 1) + (endedAgain[n]!.outcome === 'superseded' ? 0 : 1) }));
    done.removals = removals.map(({ list, i }) => list[i]!);
    done.webSessions = endings.map(({ list, i }) => list[i]!);
  }

  /** Every account of the logout once more, from every partition the first pass addressed; every web session ended once more. */
  private async secondPass(report: LogoutReport, done: AttemptDone): Promise<void> {
    const pass = report.secondPass!;
    const removals = report.removals.filter((r) => r.partitionKey !== undefined && r.outcome !== 'failed');
    const endings = (report.webSessions ?? []).filter((e) => e.outcome !== 'failed');
    const later = await this.laterSignIns(report, [...removals.map((r) => r.homeAccountId), ...endings.map((e) => e.target?.homeAccountId)]);
    const [again, endedAgain] = await Promise.all([this.redoRemovals(removals, later), this.redoEndings(endings, later)]);
    pass.removals = again.map((r) => ({ ...r, attempts: r.outcome === 'superseded' ? 0 : 1 }));
    if (endings.length) pass.webSessions = endedAgain.map((e) => ({ ...e, attempts: e.outcome === 'superseded' ? 0 : 1 }));
    pass.at = new Date(this.options.now()).toISOString();
    done.secondPass = pass.removals;
    done.secondPassWebSessions = pass.webSessions ?? [];
  }

  /** The removals again, but those of an account that signed in again: `superseded`, nothing removed. */
  private async redoRemovals(removals: AccountRemoval[], later: Map<string, Session[]>): Promise<AccountRemoval[]> {
    const redo = removals.filter((r) => !later.has(r.homeAccountId.toLowerCase()));
    const again = await this.options.sweeper.removeAgain(redo);
    return removals.map((r) => (later.has(r.homeAccountId.toLowerCase()) ? superseded(r) : again.shift()!));
  }

  /** The web-session endings again, but those a later sign-in may own (see WebSessionIdentity): `superseded`. */
  private async redoEndings(endings: WebSessionRemoval[], later: Map<string, Session[]>): Promise<WebSessionRemoval[]> {
    const ender = this.options.webSessions;
    if (!ender || endings.length === 0) return endings;
    const supersededBy = (e: WebSessionRemoval): boolean => {
      const sessions = later.get(e.target?.homeAccountId?.toLowerCase() ?? '');
      if (!sessions) return false;
      const identity = ender.identityOf(e);
      if (identity === 'sid') return false;
      return identity === 'user' || sessions.some((s) => s.clientId === e.clientId && s.webSessionKey === e.target?.sessionKey);
    };
    const redo = endings.filter((e) => !supersededBy(e));
    const again = await ender.again(redo);
    return endings.map((e) => (supersededBy(e) ? supersededEnding(e) : again.shift()!));
  }

  /**
   * The sessions registered after the logout was received, by account (lower-cased): the user signed in
   * again, and nothing of theirs may be removed. Found through the account index, by the sessions' `createdAt`.
   */
  private async laterSignIns(report: LogoutReport, homeAccountIds: (string | undefined)[]): Promise<Map<string, Session[]>> {
    const received = receivedAtMs(report);
    const accounts = [...new Set(homeAccountIds.filter((id): id is string => !!id).map((id) => id.toLowerCase()))];
    const later = await Promise.all(accounts.map(async (id) => (await this.options.stores.sessions.byHomeAccountId(id)).filter((s) => Date.parse(s.createdAt) > received)));
    return new Map(accounts.map((id, i) => [id, later[i]!] as const).filter(([, sessions]) => sessions.length > 0));
  }

  /** The report's state from its removals and endings (and an error of the attempt itself). */
  private settle(report: LogoutReport, error?: string): void {
    const failed = [...report.removals, ...(report.secondPass?.removals ?? [])].filter((r) => r.outcome === 'failed');
    const failedEndings = [...(report.webSessions ?? []), ...(report.secondPass?.webSessions ?? [])].filter((e) => e.outcome === 'failed');
    const lastError = error ?? (failed.length ? `${failed.length} token-cache removal(s) failed: ${failed[0]!.detail ?? ''}` : failedEndings.length ? `${failedEndings.length} web-session ending(s) failed: ${failedEndings[0]!.detail ?? ''}` : undefined);
    if (lastError === undefined) {
      delete report.lastError;
      if (report.state !== 'completed') report.completedAt = new Date(this.options.now()).toISOString();
      report.state = 'completed';
      return;
    }
    report.lastError = lastError;
    report.state = report.attempts >= this.options.retry.maxAttempts ? 'failed' : 'pending';
  }

  /** When the logout is next due: its retry's backoff, or its second pass; undefined when nothing is left. */
  private dueAt(report: LogoutReport): number | undefined {
    const { retry, now } = this.options;
    if (report.state === 'failed') return undefined;
    const due: number[] = [];
    if (report.state === 'pending') due.push(now() + Math.min(retry.baseDelayMs * 2 ** (report.attempts - 1), retry.maxDelayMs));
    if (secondPassToCome(report)) due.push(Date.parse(report.secondPass!.dueAt));
    return due.length ? Math.min(...due) : undefined;
  }

  private save(report: LogoutReport): Promise<void> {
    const dueAt = this.dueAt(report);
    forgetWhenDone(report, dueAt);
    return this.options.stores.journal.save(report, dueAt);
  }

  /** Marks the target's `(issuer, sid)` (unless `targetDone`) and those of the sessions found. */
  private async markLoggedOut(report: LogoutReport, sessions: Session[], { targetDone = false } = {}): Promise<void> {
    const until = this.markerUntil(report);
    const sids = new Map<string, [string, string]>();
    const { target } = report;
    if (target.kind === 'sid') sids.set(JSON.stringify([target.issuer, target.sid]), [target.issuer, target.sid]);
    for (const s of sessions) if (s.sid !== undefined) sids.set(JSON.stringify([s.issuer, s.sid]), [s.issuer, s.sid]);
    if (targetDone && target.kind === 'sid') sids.delete(JSON.stringify([target.issuer, target.sid]));
    for (const [issuer, sid] of sids.values()) await this.options.stores.markers.mark(issuer, sid, until);
  }
}

/** The logout's second pass has yet to run (a failed logout's never will). */
const secondPassToCome = (report: LogoutReport): boolean => report.state !== 'failed' && report.secondPass !== undefined && report.secondPass.at === undefined;
const secondPassDue = (report: LogoutReport, now: number): boolean => secondPassToCome(report) && Date.parse(report.secondPass!.dueAt) <= now;

const superseded = (r: AccountRemoval): AccountRemoval => ({
  clientId: r.clientId,
  app: r.app,
  homeAccountId: r.homeAccountId,
  ...(r.partitionKey !== undefined ? { partitionKey: r.partitionKey } : {}),
  outcome: 'superseded',
  detail: 'the user signed in again after this logout: nothing of this account was removed',
  attempts: r.attempts ?? 0,
});

const supersededEnding = (e: WebSessionRemoval): WebSessionRemoval => ({
  ...e,
  outcome: 'superseded',
  detail: 'the user signed in again after this logout: this web session may be theirs now, and was left alone',
});

/** Once a logout has nothing left to do, what ending its web sessions again needed (their keys) leaves the journal. */
function forgetWhenDone(report: LogoutReport, dueAt: number | undefined): void {
  if (dueAt !== undefined) return;
  for (const e of [...(report.webSessions ?? []), ...(report.secondPass?.webSessions ?? [])]) delete e.target;
}

/** A report journaled before first passes were recorded keeps its earlier attempt's `removed` over a `not_present`. */
function mergeRemovals(previous: AccountRemoval[], latest: AccountRemoval[]): AccountRemoval[] {
  const earlier = new Map(previous.map((r) => [removalKey(r), r]));
  const merged = latest.map((r) => {
    const before = earlier.get(removalKey(r));
    earlier.delete(removalKey(r));
    if (!before) return r;
    const attempts = (before.attempts ?? 1) + 1;
    return before.outcome === 'removed' && r.outcome === 'not_present' ? { ...before, attempts } : { ...r, attempts };
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
