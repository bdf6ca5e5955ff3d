import { randomUUID } from 'node:crypto';
import type { ServiceStores } from '../stores/types.js';
import { Conflict, InvalidLogoutToken, NotFound } from './errors.js';
import type { LogoutChannel, LogoutEvent, LogoutReport, NewSession, Session } from './model.js';
import type { AccountToSweep, TokenCacheSweeper } from './token-cache-sweeper.js';
import type { VerifiedLogoutToken } from './verify-logout-token.js';

export interface LogoutServiceOptions {
  stores: ServiceStores;
  sweeper: TokenCacheSweeper;
  /** How long a logged-out `(issuer, sid)` refuses late registrations. */
  markerTtlMs: number;
  clockSkewSeconds: number;
  now?: () => number;
  /** Told of every finished logout (metrics, logs). */
  onLogout?: (report: LogoutReport) => void;
}

/** Carries out logouts: event → sessions → accounts → removal from every app's token cache. */
export class LogoutService {
  private readonly now: () => number;

  constructor(private readonly options: LogoutServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Registers a session unless its `(issuer, sid)` was already logged out. */
  async register(session: NewSession): Promise<Session> {
    const { markers, sessions } = this.options.stores;
    if (session.sid !== undefined && (await markers.isMarked(session.issuer, session.sid)))
      throw new Conflict('this session was already logged out');
    return sessions.add(session);
  }

  /** The replay rule, last of the token's rules: a `jti` is accepted once per issuer. */
  async acceptToken(token: VerifiedLogoutToken): Promise<LogoutEvent> {
    const until = (token.exp + this.options.clockSkewSeconds) * 1000;
    const fresh = await this.options.stores.replay.remember(JSON.stringify([token.iss, token.jti]), Math.max(until, this.now() + 1000));
    if (!fresh) throw new InvalidLogoutToken('jti', 'this logout token was already received (replay)');
    const target =
      token.sid !== undefined
        ? { kind: 'sid' as const, issuer: token.iss, sid: token.sid }
        : { kind: 'sub' as const, issuer: token.iss, sub: token.sub as string };
    return { channel: 'backchannel', target };
  }

  async report(id: string): Promise<LogoutReport> {
    const report = await this.options.stores.journal.get(id);
    if (!report) throw new NotFound('no logout has this id');
    return report;
  }

  async logout(event: LogoutEvent): Promise<LogoutReport> {
    const { stores } = this.options;
    const report: LogoutReport = {
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
    await stores.journal.save(report);

    const sessions = await this.findSessions(event);
    const markUntil = this.now() + this.options.markerTtlMs;
    const sids = new Map<string, [string, string]>();
    if (event.target.kind === 'sid') sids.set(JSON.stringify([event.target.issuer, event.target.sid]), [event.target.issuer, event.target.sid]);
    for (const s of sessions) if (s.sid !== undefined) sids.set(JSON.stringify([s.issuer, s.sid]), [s.issuer, s.sid]);
    for (const [issuer, sid] of sids.values()) await stores.markers.mark(issuer, sid, markUntil);

    const accounts = accountsOf(sessions, event);
    report.attempts = 1;
    report.accounts = accounts.map((a) => a.homeAccountId);
    report.removals = await this.options.sweeper.sweep(accounts);
    for (const s of sessions) if (await stores.sessions.remove(s.id)) report.sessionIds.push(s.id);
    report.sessionsEnded = report.sessionIds.length;
    report.state = report.removals.some((r) => r.outcome === 'failed') ? 'failed' : 'completed';
    report.completedAt = new Date(this.now()).toISOString();
    await stores.journal.save(report);
    this.options.onLogout?.(report);
    return report;
  }

  /**
   * A `sid` whose issuer is one of several (the Entra front-channel form of a multi-tenant template
   * sends no `iss`): ends it where sessions have it, or marks it at every candidate when none does.
   */
  async logoutSidAtAnyOf(issuers: string[], sid: string, channel: LogoutChannel): Promise<LogoutReport[]> {
    const withSessions: string[] = [];
    for (const issuer of issuers) if ((await this.options.stores.sessions.bySid(issuer, sid)).length > 0) withSessions.push(issuer);
    const reports: LogoutReport[] = [];
    for (const issuer of withSessions.length ? withSessions : issuers)
      reports.push(await this.logout({ channel, target: { kind: 'sid', issuer, sid } }));
    return reports;
  }

  private findSessions(event: LogoutEvent): Promise<Session[]> {
    const { sessions } = this.options.stores;
    const { target } = event;
    if (target.kind === 'sid') return sessions.bySid(target.issuer, target.sid);
    if (target.kind === 'sub') return sessions.bySub(target.issuer, target.sub);
    return sessions.byHomeAccountId(target.homeAccountId);
  }
}

/** The distinct MSAL accounts behind the sessions (and the account a logout names itself). */
function accountsOf(sessions: Session[], event: LogoutEvent): AccountToSweep[] {
  const accounts = new Map<string, AccountToSweep>();
  const add = (homeAccountId: string): AccountToSweep => {
    const key = homeAccountId.toLowerCase();
    let account = accounts.get(key);
    if (!account) accounts.set(key, (account = { homeAccountId, cacheKeys: new Map() }));
    return account;
  };
  if (event.target.kind === 'account') add(event.target.homeAccountId);
  for (const s of sessions) {
    const account = add(s.homeAccountId);
    if (s.cacheKey === undefined) continue;
    let keys = account.cacheKeys.get(s.clientId);
    if (!keys) account.cacheKeys.set(s.clientId, (keys = new Set()));
    keys.add(s.cacheKey);
  }
  return [...accounts.values()];
}
