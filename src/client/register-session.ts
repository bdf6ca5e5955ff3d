/**
 * For the apps: register the session with logout-receiver at sign-in, from what msal-node returned.
 * Plain fetch; nothing of the service runs in the app (import it as `logout-receiver/client`).
 */

import type { NewSession } from '../core/model.js';

/** The body of POST /v1/sessions. */
export type SessionRegistration = Omit<NewSession, 'expiresAt'> & { expiresAt?: string; idToken?: string };

/** The parts of msal-node's AuthenticationResult this needs. */
export interface SignInResult {
  account: { homeAccountId: string } | null;
  idTokenClaims: object;
  /** The raw ID token: sent along, so that the service can check who signed in (apps with requireIdToken need it). */
  idToken?: string;
}

export interface SessionOptions {
  /** The app's own partition key, for a cache key template with {cacheKey}. */
  cacheKey?: string;
  /** The app's own web-session id (express-session: `req.sessionID` after `req.session.regenerate()`), so that a logout ends it. */
  webSessionKey?: string;
  /**
   * The authorization response's `session_state`: Entra's session id when the app registration does
   * not add the `sid` optional claim to ID tokens.
   */
  sessionState?: string;
  expiresAt?: Date;
  /** Told what the app should know (no `sid`: the front channel cannot end this session); `console.warn` by default. */
  onWarning?: (message: string) => void;
}

export interface RegisterOptions {
  /** The whole request, at most (5,000 ms); then the registration fails as unreachable (`retryable`). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * What to register for a sign-in: `iss`, `sub` and `sid` from the ID token, and MSAL's own
 * `account.homeAccountId` (for a guest that is the home tenant's `uid.utid`, not the ID token's `oid.tid`).
 */
export function sessionFromSignIn(clientId: string, result: SignInResult, options: SessionOptions = {}): SessionRegistration {
  const claims = result.idTokenClaims as { iss?: unknown; sub?: unknown; sid?: unknown };
  if (!result.account) throw new TypeError('the sign-in result has no account');
  if (typeof claims.iss !== 'string' || typeof claims.sub !== 'string') throw new TypeError('the ID token has no iss or sub');
  const sid = typeof claims.sid === 'string' ? claims.sid : options.sessionState;
  if (!sid)
    (options.onWarning ?? console.warn)(
      "logout-receiver: this sign-in has no sid (no sid claim in the ID token, no sessionState given): a front-channel logout cannot end its session, only a back-channel logout by sub. Add the sid optional claim to ID tokens, or pass the authorization response's session_state",
    );
  return {
    clientId,
    issuer: claims.iss,
    sub: claims.sub,
    homeAccountId: result.account.homeAccountId,
    ...(sid ? { sid } : {}),
    ...(options.cacheKey ? { cacheKey: options.cacheKey } : {}),
    ...(options.webSessionKey ? { webSessionKey: options.webSessionKey } : {}),
    ...(options.expiresAt ? { expiresAt: options.expiresAt.toISOString() } : {}),
    ...(result.idToken ? { idToken: result.idToken } : {}),
  };
}

/**
 * The registration did not land. `status` 409: the session was already logged out (sign the user out of
 * the app). `retryable` (unreachable, timed out, 429, 5xx): the service is down; fail open, i.e. let the
 * sign-in go on and retry the registration later (`SessionRegistrationQueue` does), rather than fail
 * every sign-in while the service is away. Anything else (401, 403, 400) is a mistake in the app's setup.
 */
export class SessionRegistrationError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
  ) {
    super(`logout-receiver answered ${status} ${error}: ${description}`);
    this.name = 'SessionRegistrationError';
  }

  /** The user signed out (somewhere) before this sign-in was registered: sign them out of the app too. */
  get alreadyLoggedOut(): boolean {
    return this.status === 409;
  }

  /** The service could not be reached or could not answer now (status 0 when no answer came). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/**
 * POSTs the registration to `<serviceUrl>/v1/sessions` with the app's API key; returns the session id.
 * A path in `serviceUrl` is kept (`https://gw/logout-receiver` posts to `https://gw/logout-receiver/v1/sessions`).
 */
export async function registerSession(serviceUrl: string, apiKey: string, registration: SessionRegistration, options: RegisterOptions = {}): Promise<string> {
  const base = serviceUrl.endsWith('/') ? serviceUrl : `${serviceUrl}/`;
  let res: Response;
  try {
    res = await (options.fetch ?? fetch)(new URL('v1/sessions', base), {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(registration),
      signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
    });
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new SessionRegistrationError(0, 'unreachable', timedOut ? `no answer within ${options.timeoutMs ?? 5_000} ms` : `cannot reach the service (${(err as Error).message})`);
  }
  const body = (await res.json().catch(() => ({}))) as { id?: string; error?: string; error_description?: string };
  if (res.status !== 201 || typeof body.id !== 'string') throw new SessionRegistrationError(res.status, body.error ?? 'unknown', body.error_description ?? '');
  return body.id;
}
