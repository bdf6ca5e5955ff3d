/**
 * For the apps: register the session with logout-receiver at sign-in, from what msal-node returned.
 * Plain fetch; nothing of the service runs in the app.
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
  /**
   * The authorization response's `session_state`: Entra's session id when the app registration does
   * not add the `sid` optional claim to ID tokens.
   */
  sessionState?: string;
  expiresAt?: Date;
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
  return {
    clientId,
    issuer: claims.iss,
    sub: claims.sub,
    homeAccountId: result.account.homeAccountId,
    ...(sid ? { sid } : {}),
    ...(options.cacheKey ? { cacheKey: options.cacheKey } : {}),
    ...(options.expiresAt ? { expiresAt: options.expiresAt.toISOString() } : {}),
    ...(result.idToken ? { idToken: result.idToken } : {}),
  };
}

/** The service refused the registration; `status` 409 means the session was already logged out. */
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
}

/** POSTs the registration to `<serviceUrl>/v1/sessions` with the app's API key; returns the session id. */
export async function registerSession(serviceUrl: string, apiKey: string, registration: SessionRegistration, fetchImpl: typeof fetch = fetch): Promise<string> {
  const res = await fetchImpl(new URL('/v1/sessions', serviceUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(registration),
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await res.json().catch(() => ({}))) as { id?: string; error?: string; error_description?: string };
  if (res.status !== 201 || typeof body.id !== 'string') throw new SessionRegistrationError(res.status, body.error ?? 'unknown', body.error_description ?? '');
  return body.id;
}
