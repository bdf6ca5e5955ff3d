import { safeMessage } from './errors.js';
import type { AppConfig } from './registrations.js';
import type { Session, WebSessionRemoval } from './model.js';
import type { WebSessionStore, WebSessionTarget } from './web-session.js';

/**
 * What names a web session's record, for a retry or second pass after the user signed in again: the
 * app's own session key (ended again unless a later sign-in registered the same key, as Flask-Session's
 * reused ids do), the provider's `sid` (the old sign-in's alone: ended again regardless), or the user
 * (`sub`, the account: a later sign-in's too, so left alone).
 */
export type WebSessionIdentity = 'sessionKey' | 'sid' | 'user';

/** One of an app's web-session targets (`webSession`, or each of a list). */
export interface AppWebSession {
  kind: string;
  store: WebSessionStore;
  identity(target: WebSessionTarget): WebSessionIdentity;
}

export interface AppWebSessions {
  app: AppConfig;
  targets: AppWebSession[];
}

/** Ends the apps' own web sessions of a logout's sessions, beside the token-cache removal. */
export class WebSessionEnder {
  private readonly byClientId: Map<string, AppWebSessions>;

  constructor(readonly apps: AppWebSessions[]) {
    this.byClientId = new Map(apps.filter((a) => a.targets.length > 0).map((a) => [a.app.clientId, a]));
  }

  /** Each session's app's web sessions, once per distinct record; `bySub`: the logout names the user, not one session. */
  async endFor(sessions: Session[], bySub: boolean): Promise<WebSessionRemoval[]> {
    const seen = new Set<string>();
    const ends: { app: AppWebSessions; index: number; target: WebSessionTarget }[] = [];
    for (const s of sessions) {
      const app = this.byClientId.get(s.clientId);
      if (!app) continue;
      const target: WebSessionTarget = {
        clientId: s.clientId,
        iss: s.issuer,
        sub: s.sub,
        homeAccountId: s.homeAccountId,
        bySub,
        ...(s.sid !== undefined ? { sid: s.sid } : {}),
        ...(s.webSessionKey !== undefined ? { sessionKey: s.webSessionKey } : {}),
        ...(s.principal !== undefined ? { principal: s.principal } : {}),
      };
      app.targets.forEach((_, index) => {
        const id = JSON.stringify([s.clientId, index, target]);
        if (seen.has(id)) return;
        seen.add(id);
        ends.push({ app, index, target });
      });
    }
    return Promise.all(ends.map(({ app, index, target }) => this.end(app, index, target)));
  }

  /** The same endings again (a retry, the second pass), from the targets the report kept; in the order given. */
  again(earlier: readonly WebSessionRemoval[]): Promise<WebSessionRemoval[]> {
    return Promise.all(
      earlier.map(async (e): Promise<WebSessionRemoval> => {
        const app = this.byClientId.get(e.clientId);
        const base = { clientId: e.clientId, app: e.app, kind: e.kind, index: e.index };
        if (!app || app.targets[e.index]?.kind !== e.kind) return { ...base, outcome: 'skipped', detail: 'this web session is no longer configured' };
        if (!e.target) return { ...base, outcome: 'skipped', detail: 'nothing kept to end it again' };
        return this.end(app, e.index, e.target);
      }),
    );
  }

  /** What names the record an ending is about (see {@link WebSessionIdentity}). */
  identityOf(e: WebSessionRemoval): WebSessionIdentity {
    const target = this.byClientId.get(e.clientId)?.targets[e.index];
    return target && e.target ? target.identity(e.target) : 'user';
  }

  private async end(app: AppWebSessions, index: number, target: WebSessionTarget): Promise<WebSessionRemoval> {
    const { kind, store } = app.targets[index]!;
    const base = { clientId: app.app.clientId, app: app.app.name, kind, index, target };
    try {
      const { outcome, detail } = await store.end(target);
      return { ...base, outcome, ...(detail ? { detail } : {}) };
    } catch (err) {
      return { ...base, outcome: 'failed', detail: `cannot end: ${safeMessage(err)}` };
    }
  }
}
