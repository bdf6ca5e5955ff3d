import type { Role } from './roles.js';
import type { ServiceStores } from './service-stores.js';
import { LogoutAdmission } from './logout-admission.js';
import { DEFAULT_RETRY, LogoutAttempt, type LogoutAttemptOptions, type RetryPolicy } from './logout-attempt.js';
import { LogoutWorker } from './logout-worker.js';
import type { LogoutChannel, LogoutEvent, LogoutReport, LogoutTarget, NewSession, Session } from './model.js';
import type { TokenCacheSweeper } from './token-cache-sweeper.js';
import type { WebSessionEnder } from './web-session-ender.js';
import type { VerifiedLogoutToken } from './verify-logout-token.js';

export { DEFAULT_RETRY, type RetryPolicy } from './logout-attempt.js';

export type { Role } from './roles.js';

export interface LogoutServiceOptions {
  stores: ServiceStores;
  /**
   * The same store, for the attempts (and the worker): what an answer waits on (replay record, journal,
   * marker) goes through `stores`, the rest through these, so that with Redis the answers' commands do
   * not queue behind the attempts' on one connection. `stores` by default.
   */
  attemptStores?: ServiceStores;
  sweeper: TokenCacheSweeper;
  /** The apps' own web sessions, ended beside their tokens. */
  webSessions?: WebSessionEnder;
  /** How long a logged-out `(issuer, sid)` refuses late registrations. */
  markerTtlMs: number;
  /** How long after a logout's first attempt every account is removed once more (0, the default: never). */
  secondPassMs?: number;
  /** How long a front-channel `sid` that matched no session refuses them (only a sign-in's race to register). */
  unmatchedMarkerTtlMs: number;
  clockSkewSeconds: number;
  retry?: Partial<RetryPolicy>;
  now?: () => number;
  /** `receiver`: admitted logouts are queued, due at once, for a worker process, and none is attempted here. */
  role?: Role;
  /** Told after every attempt at a logout, whatever its state, with how long it took and what it did (metrics, logs). */
  onAttempt?: LogoutAttemptOptions['onAttempt'];
  /** Told of errors the worker swallows so it keeps going. */
  onError?: (err: unknown, context: string) => void;
  /** Told when a worker round went through (the store answered): an outage it met is over. */
  onWorkerRound?: () => void;
  /** See LogoutAdmissionOptions. */
  maxInBackground?: number;
  backgroundConcurrency?: number;
}

/**
 * Carries out logouts: event → sessions → accounts → removal from every app's token cache. A logout is
 * journaled before anything else and retried until done, so an answered logout survives a store outage
 * or the death of the process. The admission takes logouts in, an attempt carries one out, the worker
 * works off the queue; this puts them together for a process's role.
 */
export class LogoutService {
  readonly admission: LogoutAdmission;
  readonly attempt: LogoutAttempt;
  readonly worker: LogoutWorker;

  constructor(options: LogoutServiceOptions) {
    const now = options.now ?? Date.now;
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    const work = options.attemptStores ?? options.stores;
    this.attempt = new LogoutAttempt({
      stores: work,
      sweeper: options.sweeper,
      ...(options.webSessions ? { webSessions: options.webSessions } : {}),
      markerTtlMs: options.markerTtlMs,
      secondPassMs: options.secondPassMs ?? 0,
      retry,
      now,
      ...(options.onAttempt ? { onAttempt: options.onAttempt } : {}),
      ...(options.onError ? { onError: options.onError } : {}),
    });
    this.admission = new LogoutAdmission({
      stores: options.stores,
      attempt: this.attempt,
      unmatchedMarkerTtlMs: options.unmatchedMarkerTtlMs,
      clockSkewSeconds: options.clockSkewSeconds,
      leaseMs: retry.leaseMs,
      now,
      firstAttempt: options.role === 'receiver' ? 'queued' : 'here',
      ...(options.maxInBackground !== undefined ? { maxInBackground: options.maxInBackground } : {}),
      ...(options.backgroundConcurrency !== undefined ? { backgroundConcurrency: options.backgroundConcurrency } : {}),
    });
    this.worker = new LogoutWorker({
      journal: work.journal,
      attempt: this.attempt,
      now,
      leaseMs: retry.leaseMs,
      ...(options.onWorkerRound ? { onRound: options.onWorkerRound } : {}),
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }

  register(session: NewSession): Promise<Session> {
    return this.admission.register(session);
  }
  logoutWithToken(token: VerifiedLogoutToken): Promise<LogoutReport> {
    return this.admission.logoutWithToken(token);
  }
  logout(event: LogoutEvent): Promise<LogoutReport> {
    return this.admission.logout(event);
  }
  logoutSidAtAnyOf(issuers: string[], sid: string, channel: LogoutChannel): Promise<LogoutReport[]> {
    return this.admission.logoutSidAtAnyOf(issuers, sid, channel);
  }
  reportsOf(target: LogoutTarget): Promise<LogoutReport[]> {
    return this.admission.reportsOf(target);
  }
  report(id: string): Promise<LogoutReport> {
    return this.admission.report(id);
  }
  /** Resolves once no answered back-channel logout is still on its first attempt (shutdown, tests). */
  settled(): Promise<void> {
    return this.admission.settled();
  }
  /** One worker round now (tests); returns how many logouts it attempted. */
  runDue(limit?: number): Promise<number> {
    return this.worker.runDue(limit);
  }
  /** Starts the background worker that works off queued logouts (on every instance; claims keep them apart). */
  startWorker(intervalMs: number): void {
    this.worker.start(intervalMs);
  }
  /** Stops the worker and waits for the round in progress and for the logouts answered before. */
  async stopWorker(): Promise<void> {
    await this.worker.stop();
    await this.settled();
  }
}
