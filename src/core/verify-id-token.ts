import { decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import { InvalidRequest } from './errors.js';
import type { IssuerRegistry } from './issuers.js';
import type { AppConfig } from './registrations.js';

/** What a verified ID token proves of a sign-in to the app: who, at which issuer, in which session. */
export interface SignInProof {
  iss: string;
  sub: string;
  sid?: string;
  /** The MSAL homeAccountId the token proves (`oid.tid` for Entra, else `sub`): the one a registration may carry. */
  homeAccountId: string;
}

const refuse = (why: string): never => {
  throw new InvalidRequest(`the idToken ${why}`);
};
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * Verifies an ID token the app received at sign-in: signed by a key of one of the app's issuers, with an
 * algorithm it allows, `aud` naming the app, not expired beyond the skew. A registration that carries
 * one takes who signed in from it, so a leaked API key cannot attach someone else's account to a session.
 */
export async function verifyIdToken(token: string, options: { issuers: IssuerRegistry; app: AppConfig; clockSkewSeconds: number; now?: () => number }): Promise<SignInProof> {
  let unverifiedIss: unknown;
  try {
    unverifiedIss = decodeJwt(token).iss;
  } catch {
    return refuse('is not a JWT');
  }
  const issuer = isNonEmptyString(unverifiedIss) ? options.issuers.resolve(unverifiedIss) : undefined;
  if (!issuer || !options.app.issuers.includes(issuer.config.name)) return refuse("is not from one of the app's issuers");
  let keys;
  try {
    keys = await options.issuers.keys(issuer);
  } catch {
    return refuse('cannot be checked: the signing keys of the issuer are unavailable');
  }
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(token, keys, {
      algorithms: issuer.config.algorithms,
      issuer: issuer.iss,
      audience: options.app.clientId,
      clockTolerance: options.clockSkewSeconds,
      requiredClaims: ['exp', 'sub'],
      ...(options.now ? { currentDate: new Date(options.now()) } : {}),
    }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) return refuse('has expired');
    if (err instanceof joseErrors.JWTClaimValidationFailed) return refuse(`has an invalid ${err.claim} claim`);
    return refuse('does not verify against the keys of its issuer');
  }
  const { sub, sid, oid, tid } = claims as { sub?: unknown; sid?: unknown; oid?: unknown; tid?: unknown };
  if (!isNonEmptyString(sub)) return refuse('has no sub');
  if (sid !== undefined && !isNonEmptyString(sid)) return refuse('has a sid that is not a string');
  // MSAL's homeAccountId for an Entra member is oid.tid; elsewhere (no client_info) it is sub.
  const homeAccountId = isNonEmptyString(oid) && isNonEmptyString(tid) ? `${oid}.${tid}` : sub;
  return { iss: issuer.iss, sub, ...(sid !== undefined ? { sid } : {}), homeAccountId };
}
