import type { KindSettings } from '../core/kind-settings.js';
import type { OpenContext } from '../token-caches/kind.js';

export type { OpenContext };
export type { WebSessionEnding, WebSessionOutcome, WebSessionStore, WebSessionTarget } from '../core/web-session.js';
import type { WebSessionStore, WebSessionTarget } from '../core/web-session.js';
import type { WebSessionIdentity } from '../core/web-session-ender.js';

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
  /** A kind whose keys the library fixes, named by the app's session id: a registration must carry it. */
  needsSessionKey?: boolean;
  /** What names a record, when the key template does not say (a kind whose keys the library fixes). */
  identity?(target: WebSessionTarget): WebSessionIdentity;
}
