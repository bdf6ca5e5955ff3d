import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { AppConfig } from './registrations.js';
import { InvalidLogoutToken } from './errors.js';
import type { IssuerRegistry, ResolvedIssuer } from './issuers.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A logout token that passed every rule except the replay check, which needs a store. */
export interface VerifiedLogoutToken {
  issuer: ResolvedIssuer;
  iss: string;
  sid?: string;
  sub?: string;
  jti: string;
  /** Epoch seconds (NumericDates, possibly fractional). */
  exp: number;
  /** Until when (epoch seconds, before the skew) the token could pass: its exp, or its iat plus the issuer's maximum age. */
  validUntil: number;
  aud: string[];
}

export interface VerifyLogoutTokenOptions {
  issuers: IssuerRegistry;
  apps: AppConfig[];
  clockSkewSeconds: number;
  now?: () => number;
}

/** Every rule a refused back-channel logout token is counted under (`replay` is the jti seen before). */
export const LOGOUT_TOKEN_RULES = ['logout_token', 'jws', 'alg', 'typ', 'crit', 'b64', 'iss', 'tid', 'kid', 'jwks', 'signature', 'aud', 'iat', 'nbf', 'exp', 'jti', 'events', 'sid', 'sub', 'nonce'] as const;
export type LogoutTokenRule = (typeof LOGOUT_TOKEN_RULES)[number];

const isRule = (name: string): name is LogoutTokenRule => (LOGOUT_TOKEN_RULES as readonly string[]).includes(name);

const fail = (rule: LogoutTokenRule, message: string): never => {
  throw new InvalidLogoutToken(rule, message);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** `typ` may be absent, JWT or logout+jwt (any case, with or without `application/`). */
function checkTyp(typ: unknown, requireTyp: boolean): void {
  if (typ === undefined) {
    if (requireTyp) fail('typ', 'the issuer requires the typ header logout+jwt');
    return;
  }
  if (typeof typ !== 'string') return fail('typ', 'the typ header is not a string');
  const type = typ.toLowerCase().replace(/^application\//, '');
  if (type === 'logout+jwt') return;
  if (type === 'jwt' && !requireTyp) return;
  fail('typ', `a token of type "${typ.slice(0, 40)}" is not a logout token`);
}

function decodeUnverified(token: string): { header: Record<string, unknown>; payload: JWTPayload } {
  const segments = token.split('.');
  if (segments.length === 5) fail('jws', 'an encrypted (JWE) logout token is not accepted');
  if (segments.length !== 3) fail('jws', 'the logout token is not a compact JWS');
  try {
    return { header: decodeProtectedHeader(token) as Record<string, unknown>, payload: decodeJwt(token) };
  } catch {
    return fail('jws', 'the logout token cannot be decoded');
  }
}

/** jose's refusal as the rule it breaks. */
function refusal(err: unknown): never {
  if (err instanceof joseErrors.JWTExpired) return fail('exp', 'the logout token has expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return fail(isRule(err.claim) ? err.claim : 'jws', `the ${err.claim.slice(0, 32)} claim is invalid`);
  if (err instanceof joseErrors.JWKSNoMatchingKey) return fail('kid', 'no signing key of the issuer matches the token');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return fail('alg', 'the signing algorithm is not allowed');
  if (err instanceof joseErrors.JOSENotSupported) return /Extension Header Parameter/.test(err.message) ? fail('crit', 'the token names a critical header parameter that is not understood') : fail('alg', 'the signing algorithm is not supported');
  if (err instanceof joseErrors.JWTInvalid) return /unencoded payload/.test(err.message) ? fail('b64', 'an unencoded payload (b64: false) is not accepted') : fail('jws', 'the claims of the logout token are not a JSON object');
  if (err instanceof joseErrors.JWSInvalid) return fail('jws', 'the logout token is not a valid JWS');
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || err instanceof TypeError) return fail('jwks', 'the signing keys of the issuer are unavailable');
  return fail('signature', 'the signature of the logout token does not verify');
}

async function verifySignature(token: string, issuer: ResolvedIssuer, options: VerifyLogoutTokenOptions): Promise<JWTPayload> {
  let keys;
  try {
    keys = await options.issuers.keys(issuer);
  } catch {
    return fail('jwks', 'the signing keys of the issuer are unavailable');
  }
  const verifyOptions = {
    algorithms: issuer.config.algorithms,
    clockTolerance: options.clockSkewSeconds,
    ...(options.now ? { currentDate: new Date(options.now()) } : {}),
  };
  try {
    return (await jwtVerify(token, keys, verifyOptions)).payload;
  } catch (err) {
    if (!(err instanceof joseErrors.JWKSMultipleMatchingKeys)) return refusal(err);
    // A key set that publishes one kid (or none) for several keys: each candidate is tried.
    let last: unknown = err;
    for await (const candidate of err) {
      try {
        return (await jwtVerify(token, candidate, verifyOptions)).payload;
      } catch (candidateErr) {
        last = candidateErr;
      }
    }
    return last instanceof joseErrors.JWKSMultipleMatchingKeys ? fail('kid', 'no signing key of the issuer matches the token') : refusal(last);
  }
}

/**
 * Validates a back-channel logout token as OIDC Back-Channel Logout 1.0 §2.6 says.
 * Throws InvalidLogoutToken naming the rule that failed.
 */
export async function verifyLogoutToken(token: unknown, options: VerifyLogoutTokenOptions): Promise<VerifiedLogoutToken> {
  if (!isNonEmptyString(token)) return fail('logout_token', 'logout_token is missing');
  const { header, payload: unverified } = decodeUnverified(token);
  try {
    return await verifyDecoded(token, header, unverified, options);
  } catch (err) {
    if (err instanceof InvalidLogoutToken) err.facts = factsOf(header, unverified);
    throw err;
  }
}

/** The token's non-personal facts for the log line of its refusal: strings only, cut short. */
function factsOf(header: Record<string, unknown>, payload: JWTPayload): NonNullable<InvalidLogoutToken['facts']> {
  const facts: NonNullable<InvalidLogoutToken['facts']> = {};
  const take = (name: 'iss' | 'kid' | 'alg' | 'typ', value: unknown) => {
    if (typeof value === 'string') facts[name] = value.slice(0, 120);
  };
  take('iss', payload.iss);
  take('kid', header.kid);
  take('alg', header.alg);
  take('typ', header.typ);
  return facts;
}

async function verifyDecoded(token: string, header: Record<string, unknown>, unverified: JWTPayload, options: VerifyLogoutTokenOptions): Promise<VerifiedLogoutToken> {
  const alg = header.alg;
  if (typeof alg !== 'string' || alg.toLowerCase() === 'none') return fail('alg', 'an unsigned logout token is not accepted');
  checkTyp(header.typ, false);

  if (!isNonEmptyString(unverified.iss)) return fail('iss', 'the iss claim is missing');
  const issuer = options.issuers.resolve(unverified.iss);
  if (!issuer) return fail('iss', 'the issuer is not configured');
  checkTyp(header.typ, issuer.config.requireTyp);
  if (!issuer.config.algorithms.includes(alg)) return fail('alg', `the algorithm ${alg.slice(0, 16)} is not allowed for this issuer`);

  const claims = await verifySignature(token, issuer, options);
  const nowSeconds = Math.floor((options.now?.() ?? Date.now()) / 1000);
  const skew = options.clockSkewSeconds;

  if (claims.iss !== issuer.iss) return fail('iss', 'the iss claim is invalid');
  if (issuer.tenant !== undefined && claims.tid !== undefined && claims.tid !== issuer.tenant) fail('tid', 'the tid claim does not match the issuer');

  const audiences = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every(isNonEmptyString)) return fail('aud', 'the aud claim is missing');
  const clientIds = new Set(options.apps.filter((a) => a.issuers.includes(issuer.config.name)).map((a) => a.clientId));
  if (!audiences.every((aud) => clientIds.has(aud))) return fail('aud', 'the aud claim names an audience that is not a registered app of this issuer');

  // NumericDates may be fractional (RFC 7519 §2); a value that is not finite is no date.
  if (typeof claims.iat !== 'number') return fail('iat', 'the iat claim is missing');
  if (!Number.isFinite(claims.iat)) return fail('iat', 'the iat claim is not a finite NumericDate');
  if (claims.iat > nowSeconds + skew) return fail('iat', 'the iat claim is in the future');
  if (claims.iat < nowSeconds - issuer.config.maxTokenAgeSeconds - skew) return fail('iat', 'the logout token is older than the issuer allows');
  if (typeof claims.exp !== 'number') return fail('exp', 'the exp claim is missing');
  if (!Number.isFinite(claims.exp)) return fail('exp', 'the exp claim is not a finite NumericDate');
  if (claims.exp < nowSeconds - skew) return fail('exp', 'the logout token has expired');
  if (!isNonEmptyString(claims.jti)) return fail('jti', 'the jti claim is missing');

  const events = claims.events;
  if (!isObject(events)) return fail('events', 'the events claim is missing or not an object');
  if (!isObject(events[BACKCHANNEL_LOGOUT_EVENT])) return fail('events', 'the events claim has no back-channel logout event object');

  const { sid, sub } = claims as { sid?: unknown; sub?: unknown };
  if (sid !== undefined && !isNonEmptyString(sid)) return fail('sid', 'the sid claim is not a string');
  if (sub !== undefined && !isNonEmptyString(sub)) return fail('sub', 'the sub claim is not a string');
  if (sid === undefined && sub === undefined) return fail('sid', 'the token has neither sid nor sub');
  if ('nonce' in claims) return fail('nonce', 'a logout token must not contain a nonce');

  return {
    issuer,
    iss: issuer.iss,
    ...(sid !== undefined ? { sid } : {}),
    ...(sub !== undefined ? { sub } : {}),
    jti: claims.jti,
    exp: claims.exp,
    validUntil: Math.min(claims.exp, claims.iat + issuer.config.maxTokenAgeSeconds),
    aud: audiences,
  };
}
