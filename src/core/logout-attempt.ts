import { safeMessage } from './errors.js';
import type { ServiceStores } from './service-stores.js';
import type { AccountRemoval, LogoutReport, Session } from './model.js';
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
  retry: RetryPolicy;
  now: () => number;
  /** Told after every attempt at a logout, whatever its state, with how long it took (metrics, logs). */
  onAttempt?: (report: LogoutReport, seconds: number) => void;
  onError?: (err: unknown, context: string) => void;
}

const removalKey = (r: AccountRemoval): string => JSON.stringify([r.clientId, r.homeAccountId.toLowerCase(), r.partitionKey ?? null]);

/** One attempt at a logout: its sessions, their accounts, every app's token cache, then the sessions. */
export class LogoutAttempt {
  constructor(private readonly options: LogoutAttemptOptions) {}

  /** Until when a logout's markers refuse late registrations. */
  markerUntil(report: LogoutReport): number {
    return Date.parse(report.receivedAt) + this.options.markerTtlMs;
  }

  /** Never throws; the report ends `completed`, `pending` (retry queued) or `failed`. */
  async run(report: LogoutReport): Promise<LogoutReport> {
    const { stores, retry, now } = this.options;
    const started = performance.now();
    report.attempts += 1;
    try {
      // The target first: a registration that lands after the lookup then sees the marker and undoes itself.
      // A back-channel logout's was marked when it was admitted (admitLogout), on every attempt's behalf.
      if (report.channel !== 'backchannel') await this.markLoggedOut(report, []);
      const sessions = await this.findSessions(report);
      await this.markLoggedOut(report, sessions, { targetDone: true });
      const accounts = accountsOf(sessions, report);
      report.accounts = [...new Set([...report.accounts, ...accounts.map((a) => a.homeAccountId)])];
      report.removals = mergeRemovals(report.removals, await this.options.sweeper.sweep(accounts));
      const failed = report.removals.filter((r) => r.outcome === 'failed');
      if (failed.length) throw new Error(`${failed.length} token-cache removal(s) failed: ${failed[0]!.detail ?? ''}`);
      // Sessions go last, with the report's completion: a retry after a crash must still find them.
      const sessionIds = [...new Set([...report.sessionIds, ...sessions.map((s) => s.id)])];
      const done: LogoutReport = { ...report, sessionIds, sessionsEnded: sessionIds.length, state: 'completed', completedAt: new Date(now()).toISOString() };
      delete done.lastError;
      if (!(await stores.completeLogout(done, sessions))) {
        // One was ended meanwhile (another logout, the API): in two steps, counting only those still there.
        done.sessionIds = [...new Set([...report.sessionIds, ...(await stores.sessions.removeFound(sessions))])];
        done.sessionsEnded = done.sessionIds.length;
        await stores.journal.save(done);
      }
      delete report.lastError;
      Object.assign(report, done);
    } catch (err) {
      report.lastError = safeMessage(err);
      report.state = report.attempts >= retry.maxAttempts ? 'failed' : 'pending';
      const delay = Math.min(retry.baseDelayMs * 2 ** (report.attempts - 1), retry.maxDelayMs);
      await stores.journal
        .save(report, report.state === 'pending' ? now() + delay : undefined)
        .catch((saveErr: unknown) => this.options.onError?.(saveErr, 'journal')); // still queued from before: the lease expires and it is retried
    }
    this.options.onAttempt?.(report, (performance.now() - started) / 1000);
    return report;
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
