/** Text fit for a report or a log line: URL credentials masked, 200 characters at most. */
export const safeText = (text: string): string => text.replace(/\/\/[^@/\s]*@/g, '//***@').slice(0, 200);

/** An error's message as {@link safeText}. */
export const safeMessage = (err: unknown): string => safeText(err instanceof Error ? err.message : String(err));

/**
 * Failures of the logout core, each with a stable `code`; the routes decide the HTTP status.
 * Messages are safe to return: they never carry token values or keys.
 */
export class LogoutReceiverError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'not_found' | 'conflict' | 'temporarily_unavailable',
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A back-channel logout token that fails a rule of OIDC Back-Channel Logout 1.0 §2.4/§2.6. */
export class InvalidLogoutToken extends LogoutReceiverError {
  /** What of the token helps debug a provider and is about no one: its `iss`, and header `kid`, `alg`, `typ`. */
  facts?: { iss?: string; kid?: string; alg?: string; typ?: string };
  constructor(
    /** The rule that failed, e.g. `signature`, `aud`, `jti`, `typ`. */
    readonly rule: string,
    message: string,
  ) {
    super('invalid_request', message);
  }
}

export class InvalidRequest extends LogoutReceiverError {
  constructor(message: string) {
    super('invalid_request', message);
  }
}

export class NotFound extends LogoutReceiverError {
  constructor(message: string) {
    super('not_found', message);
  }
}

export class Conflict extends LogoutReceiverError {
  constructor(message: string) {
    super('conflict', message);
  }
}

/** A store could not be reached, so the request could not be recorded; nothing was promised. */
export class StoreUnavailable extends LogoutReceiverError {
  constructor(message: string) {
    super('temporarily_unavailable', message);
  }
}
