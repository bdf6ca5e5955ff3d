// The port the logout calls to end an app's own web session; the kinds in src/web-sessions/ implement it.

/** What ending one web session came to; `failed` (a store down, a table missing) is retried, the others are final. */
export type WebSessionOutcome = 'removed' | 'not_present' | 'skipped' | 'failed';

export interface WebSessionEnding {
  outcome: WebSessionOutcome;
  /** Short and safe for a report (never the key: it is as secret as the cookie). */
  detail?: string;
}

/** What a logout knows of one registered session of one app: what the app's key template and kind name its record by. */
export interface WebSessionTarget {
  clientId: string;
  /** The `iss` as in the app's tokens (a template issuer resolved): express-openid-connect keys its markers by it. */
  iss: string;
  sid?: string;
  sub?: string;
  homeAccountId?: string;
  /** The app's own session id, registered as `webSessionKey`. */
  sessionKey?: string;
  /** Spring Session's principal name, registered as `principal`. */
  principal?: string;
  /** The logout names the user (`sub`, or the account), not one session: markers by `sub` too. */
  bySub?: boolean;
}

/**
 * Where one app keeps its web sessions (the port the logout calls). `end` never throws: an outage is
 * `failed` with a short detail, so one app's store never stops the logout of the others.
 */
export interface WebSessionStore {
  end(target: WebSessionTarget): Promise<WebSessionEnding>;
  /** Throws when the store cannot be reached (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
