import { safeMessage } from './errors.js';
import type { ServiceStores } from './service-stores.js';
import { receivedAtMs, type AccountRemoval, type LogoutReport, type Session } from './model.js';
import type { AccountToSweep, TokenCacheSweeper } from './token-cache-sweeper.js';

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
  /** The second pass's removals, when it ran in this attempt. */
  secondPass: AccountRemoval[];
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
    return report.state === 'pending' || (report.state === 'completed' && report.secondPass !== undefined && report.secondPass.at === undefined);
  }

  /** Never throws; the report ends `completed` (maybe queued for its second pass), `pending` (retry queued) or `failed`. */
  async run(report: LogoutReport): Promise<LogoutReport> {
    const { now } = this.options;
    const started = performance.now();
    const wasPending = report.state === 'pending';
    if (!this.hasWork(report, now())) {
      await this.save(report);
      return report;
    }
    report.attempts += 1;
    const done: AttemptDone = { removals: [], secondPass: [], settled: false };
    try {
      if (report.firstPassAt === undefined) {
        done.removals = await this.firstPass(report);
        return report;
      }
      done.removals = await this.retryFailed(report);
      if (secondPassDue(report, now())) done.secondPass = await this.secondPass(report);
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
   * Finds the sessions, sweeps every app, then ends the sessions with the report's save (one step), whatever
   * the caches answered: what a retry needs is in the report's removals. Returns the removals.
   */
  private async firstPass(report: LogoutReport): Promise<AccountRemoval[]> {
    const { stores, sweeper, now, secondPassMs } = this.options;
    // The target first: a registration that lands after the lookup then sees the marker and undoes itself.
    // A back-channel logout's was marked when it was admitted (admitLogout), on every attempt's behalf.
    if (report.channel !== 'backchannel') await this.markLoggedOut(report, []);
    const received = receivedAtMs(report);
    // A session registered after the logout was received is a later sign-in's, not this logout's.
    const sessions = (await this.findSessions(report)).filter((s) => !(Date.parse(s.createdAt) > received));
    await this.markLoggedOut(report, sessions, { targetDone: true });
    const accounts = accountsOf(sessions, report);
    const removals = (await sweeper.sweep(accounts)).map((r) => ({ ...r, attempts: 1 }));
    const at = now();
    const swept: LogoutReport = {
      ...report,
      accounts: [...new Set([...report.accounts, ...accounts.map((a) => a.homeAccountId)])],
      removals: mergeRemovals(report.removals, removals),
      firstPassAt: new Date(at).toISOString(),
      ...(secondPassMs > 0 ? { secondPass: { dueAt: new Date(at + secondPassMs).toISOString(), removals: [] } } : {}),
    };
    swept.sessionIds = [...new Set([...report.sessionIds, ...sessions.map((s) => s.id)])];
    swept.sessionsEnded = swept.sessionIds.length;
    this.settle(swept);
    const dueAt = this.dueAt(swept);
    if (!(await stores.completeLogout(swept, sessions, dueAt))) {
      // One was ended meanwhile (another logout, the API): in two steps, counting only those still there.
      swept.sessionIds = [...new Set([...report.sessionIds, ...(await stores.sessions.removeFound(sessions))])];
      swept.sessionsEnded = swept.sessionIds.length;
      await stores.journal.save(swept, dueAt);
    }
    delete report.lastError;
    Object.assign(report, swept);
    return removals;
  }

  /** Redoes the removals whose latest outcome is `failed` (of the first pass and of the second), and only those. */
  private async retryFailed(report: LogoutReport): Promise<AccountRemoval[]> {
    const lists = [report.removals, report.secondPass?.removals ?? []];
    const failed = lists.flatMap((list) => list.map((r, i) => ({ list, i, r })).filter(({ r }) => r.outcome === 'failed'));
    if (failed.length === 0) return [];
    const later = await this.signedInAgain(report, failed.map(({ r }) => r.homeAccountId));
    const redo = failed.filter(({ r }) => !later.has(r.homeAccountId.toLowerCase()));
    const again = await this.options.sweeper.removeAgain(redo.map(({ r }) => r));
    redo.forEach(({ list, i, r }, n) => (list[i] = { ...again[n]!, attempts: (r.attempts ?? 1) + 1 }));
    const skipped = failed.filter(({ r }) => later.has(r.homeAccountId.toLowerCase()));
    for (const { list, i, r } of skipped) list[i] = superseded(r);
    return [...again, ...skipped.map(({ list, i }) => list[i]!)];
  }

  /** Every account of the logout once more, from every partition the first pass addressed. */
  private async secondPass(report: LogoutReport): Promise<AccountRemoval[]> {
    const pass = report.secondPass!;
    const addressed = report.removals.filter((r) => r.partitionKey !== undefined && r.outcome !== 'failed');
    const later = await this.signedInAgain(report, addressed.map((r) => r.homeAccountId));
    const redo = addressed.filter((r) => !later.has(r.homeAccountId.toLowerCase()));
    const again = (await this.options.sweeper.removeAgain(redo)).map((r) => ({ ...r, attempts: 1 }));
    const skipped = addressed.filter((r) => later.has(r.homeAccountId.toLowerCase())).map((r) => superseded({ ...r, attempts: 0 }));
    pass.removals = [...again, ...skipped];
    pass.at = new Date(this.options.now()).toISOString();
    return pass.removals;
  }

  /**
   * The accounts (lower-cased) with a session registered after the logout was received: the user signed in
   * again, and nothing of theirs may be removed. Found through the account index, by the sessions' `createdAt`.
   */
  private async signedInAgain(report: LogoutReport, homeAccountIds: string[]): Promise<Set<string>> {
    const received = receivedAtMs(report);
    const accounts = [...new Set(homeAccountIds.map((id) => id.toLowerCase()))];
    const later = await Promise.all(
      accounts.map(async (id) => (await this.options.stores.sessions.byHomeAccountId(id)).some((s) => Date.parse(s.createdAt) > received)),
    );
    return new Set(accounts.filter((_, i) => later[i]));
  }

  /** The report's state from its removals (and an error of the attempt itself). */
  private settle(report: LogoutReport, error?: string): void {
    const failed = [...report.removals, ...(report.secondPass?.removals ?? [])].filter((r) => r.outcome === 'failed');
    const lastError = error ?? (failed.length ? `${failed.length} token-cache removal(s) failed: ${failed[0]!.detail ?? ''}` : undefined);
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
    if (report.secondPass && report.secondPass.at === undefined) due.push(Date.parse(report.secondPass.dueAt));
    return due.length ? Math.min(...due) : undefined;
  }

  private save(report: LogoutReport): Promise<void> {
    return this.options.stores.journal.save(report, this.dueAt(report));
  }

  private findSessions(report: LogoutReport): Promise<Session[]> {
    const { sessions } = this.options.stores;
    const { target } = report;
    if (target.kind === 'sid') return sessions.bySid(target.issuer, target.sid);
    if (target.kind === 'sub') return sessions.bySub(target.issuer, target.sub);
    return sessions.byHomeAccountId(target.homeAccountId);
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

const secondPassDue = (report: LogoutReport, now: number): boolean =>
  report.state !== 'failed' && report.secondPass !== undefined && report.secondPass.at === undefined && Date.parse(report.secondPass.dueAt) <= now;

const superseded = (r: AccountRemoval): AccountRemoval => ({
  clientId: r.clientId,
  app: r.app,
  homeAccountId: r.homeAccountId,
  ...(r.partitionKey !== undefined ? { partitionKey: r.partitionKey } : {}),
  outcome: 'superseded',
  detail: 'the user signed in again after this logout: nothing of this account was removed',
  attempts: r.attempts ?? 0,
});

/** A first pass done again (its sessions could not be ended) keeps the earlier attempt's `removed` over a `not_present`. */
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
