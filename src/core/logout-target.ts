import { InvalidRequest } from './errors.js';
import type { LogoutTarget } from './model.js';

/** A target as a caller names it: any of the fields, as given. */
export interface TargetFields {
  issuer?: string | undefined;
  sid?: string | undefined;
  sub?: string | undefined;
  homeAccountId?: string | undefined;
}

/**
 * Exactly one of issuer+sid, issuer+sub or homeAccountId; any other combination is refused with
 * `refusal`. `issOf` turns the given issuer into the `iss` of tokens (it may refuse it too), and is
 * asked only once the shape holds.
 */
export function logoutTarget(fields: TargetFields, issOf: (issuer: string) => string, refusal: string): LogoutTarget {
  const { issuer, sid, sub, homeAccountId } = fields;
  if (homeAccountId !== undefined && issuer === undefined && sid === undefined && sub === undefined) return { kind: 'account', homeAccountId };
  if (issuer !== undefined && homeAccountId === undefined) {
    if (sid !== undefined && sub === undefined) return { kind: 'sid', issuer: issOf(issuer), sid };
    if (sub !== undefined && sid === undefined) return { kind: 'sub', issuer: issOf(issuer), sub };
  }
  throw new InvalidRequest(refusal);
}
