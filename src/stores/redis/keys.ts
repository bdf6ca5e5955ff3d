import { createHash, randomUUID } from 'node:crypto';
import { targetKey, type LogoutTarget, type NewSession } from '../../core/model.js';

/** Index keys are hashed: issuers, sids and subs are arbitrary text of any length. */
const digest = (...parts: string[]): string => createHash('sha256').update(JSON.stringify(parts)).digest('base64url');

/** Hash tags a Cluster store spreads its issuers over: enough for the shards of most Clusters, few enough for a worker to look at each queue every round. */
export const CLUSTER_BUCKETS = 16;

/**
 * Where the service's keys live. With one bucket (a single node, Sentinel, or a key prefix that names its
 * own hash tag) every key is under the prefix, as it always was. On a Cluster, issuers (each tenant of a
 * template) are hashed into buckets, each a hash tag of its own: one logout's keys share a slot, so its
 * admission and its completion stay one script, while different issuers' keys spread over the shards.
 * A session id's first two hex digits name its bucket.
 */
export class Keyspace {
  constructor(
    readonly prefix: string,
    readonly buckets: number,
  ) {}
  /** What a bucket's keys start with. */
  of(bucket: number): string {
    return this.buckets === 1 ? this.prefix : `{${this.prefix}${bucket}}`;
  }
  bucketOf(text: string): number {
    return this.buckets === 1 ? 0 : createHash('sha256').update(text).digest().readUInt32BE(0) % this.buckets;
  }
  /** A logout's keys are its target's issuer's (an account, for a logout by account). */
  bucketOfTarget(target: LogoutTarget): number {
    return this.bucketOf(target.kind === 'account' ? target.homeAccountId.toLowerCase() : target.issuer);
  }
  newSessionId(bucket: number): string {
    const id = randomUUID();
    return this.buckets === 1 ? id : this.sessionIdTag(bucket) + id.slice(2);
  }
  /** What the ids of a bucket's sessions start with ('' with one bucket: every id is the bucket's). */
  sessionIdTag(bucket: number): string {
    return this.buckets === 1 ? '' : bucket.toString(16).padStart(2, '0');
  }
  bucketOfSessionId(id: string): number {
    const bucket = this.buckets === 1 ? 0 : Number.parseInt(id.slice(0, 2), 16);
    return Number.isInteger(bucket) && bucket < this.buckets ? bucket : 0;
  }
  all(): number[] {
    return Array.from({ length: this.buckets }, (_, bucket) => bucket);
  }
}

/** A key and the bucket it is in. */
export interface Placed {
  key: string;
  bucket: number;
}

/** A session's key in its bucket (`prefix`, the bucket's). */
export const sessionKeyIn = (prefix: string, id: string): string => `${prefix}session:${id}`;

export const sessionKey = (ks: Keyspace, id: string): Placed => {
  const bucket = ks.bucketOfSessionId(id);
  return { key: sessionKeyIn(ks.of(bucket), id), bucket };
};

export const sidIndexKey = (prefix: string, issuer: string, sid: string): string => `${prefix}idx:sid:${digest(issuer, sid)}`;
export const subIndexKey = (prefix: string, issuer: string, sub: string): string => `${prefix}idx:sub:${digest(issuer, sub)}`;
/** `account` in lower case: an account's index is one whatever the letter case it was registered in. */
export const accountIndexKey = (prefix: string, account: string): string => `${prefix}idx:account:${digest(account)}`;

/** The index of a `sid` or `sub` target's sessions without its bucket's prefix, for a report to name (its bucket is the report's). */
export const targetSessionIndex = (target: Exclude<LogoutTarget, { kind: 'account' }>): string => (target.kind === 'sid' ? sidIndexKey('', target.issuer, target.sid) : subIndexKey('', target.issuer, target.sub));

/** A session's index keys: by (issuer, sub) and (issuer, sid) in its issuer's bucket, by account in the account's. */
export function indexKeys(ks: Keyspace, s: NewSession): Placed[] {
  const own = ks.bucketOf(s.issuer);
  const account = s.homeAccountId.toLowerCase();
  const keys = [{ key: subIndexKey(ks.of(own), s.issuer, s.sub), bucket: own }];
  const accountBucket = ks.bucketOf(account);
  keys.push({ key: accountIndexKey(ks.of(accountBucket), account), bucket: accountBucket });
  if (s.sid !== undefined) keys.push({ key: sidIndexKey(ks.of(own), s.issuer, s.sid), bucket: own });
  return keys;
}

export const replayKey = (prefix: string, key: string): string => `${prefix}jti:${digest(key)}`;
export const markerKey = (prefix: string, issuer: string, sid: string): string => `${prefix}loggedout:${digest(issuer, sid)}`;
export const reportKey = (prefix: string, id: string): string => `${prefix}logout:${id}`;
/** A sorted set of a target's report ids by receipt time, kept as long as its newest report. */
export const targetIndexKey = (prefix: string, target: LogoutTarget): string => `${prefix}logouts:${digest(targetKey(target))}`;
export const dueQueue = (prefix: string): string => `${prefix}logouts:due`;
/** The queued logouts again, scored by when each was received: the backlog's age. */
export const pendingSince = (prefix: string): string => `${prefix}logouts:pending-since`;
/** Written by the readiness probe in each bucket. */
export const readyKey = (prefix: string): string => `${prefix}readyz`;

/** Items by bucket, each bucket's in the order given: what one script or transaction per bucket takes. */
export function byBucket<T>(items: T[], bucketOf: (item: T) => number): T[][] {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const bucket = bucketOf(item);
    const group = groups.get(bucket);
    if (group) group.push(item);
    else groups.set(bucket, [item]);
  }
  return [...groups.values()];
}
