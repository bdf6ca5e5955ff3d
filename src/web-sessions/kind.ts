import type { KindSettings } from '../config/kind-settings.js';
import type { OpenContext } from '../token-caches/kind.js';

export type { OpenContext };

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

/** The settings a kind is opened with: its own, with defaults filled in, and its `key` template where it takes one. */
export type WebSessionSettings = Record<string, unknown> & { key?: string };

/** Where a kind's records live: a store's identity and the key patterns (templates) it may touch there. */
export interface WebSessionKeySpace {
  store: string;
  patterns: string[];
}

/** One kind of place where apps keep their web sessions (`webSession.kind`); listed in `kinds.ts`. */
export interface WebSessionKind extends KindSettings {
  /**
   * The `key` setting: a template (with its default; `literalPrefix` when it must begin with text of its
   * own, as every Redis key does), or `none` for a kind whose keys the library fixes.
   */
  key: { default?: string; literalPrefix: boolean } | 'none';
  /** For the check that two apps cannot name the same record (settings with defaults filled in). */
  keySpace(settings: WebSessionSettings): WebSessionKeySpace;
  open(settings: WebSessionSettings, context: OpenContext): WebSessionStore;
}
