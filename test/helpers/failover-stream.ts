import { randomUUID } from 'node:crypto';
import type { Redis, Cluster } from 'ioredis';
import type { Test } from 'tap';
import { FULL_KEY, ISSUER, ORDERS, until, type TestService } from './service.js';

// A stream of distinct back-channel logouts through a fault, and what must hold after it: shared by the
// Sentinel and Cluster suites. The users' caches are written where the apps' tokenCache settings point.

export interface StreamUser {
  hid: string;
  sid: string;
  token: string;
}

/** A minimal MSAL cache of one account, as any MSAL library writes it. */
const cacheOf = (hid: string) =>
  JSON.stringify({
    Account: { [`${hid}-login.windows.net-t`]: { home_account_id: hid, environment: 'login.windows.net', realm: 't', authority_type: 'MSSTS' } },
    RefreshToken: { [`${hid}-login.windows.net-refreshtoken-${ORDERS}--`]: { home_account_id: hid, environment: 'login.windows.net', credential_type: 'RefreshToken', client_id: ORDERS, secret: 'rt' } },
  });

/** The two apps' partition keys of an account: a string (msal-node's plugin) and a hash (ASP.NET Core's IDistributedCache). */
export const partitionsOf = (prefix: string, hid: string): [string, string] => [`${prefix}msal:${ORDERS}:${hid}`, `${prefix}billing:${hid}`];

/** Token caches of both Redis kinds on the deployment `location` points at. */
export function cachesOn(location: Record<string, unknown>, prefix: string): [Record<string, unknown>, Record<string, unknown>] {
  return [
    { kind: 'redis', ...location, key: `${prefix}msal:{clientId}:{homeAccountId}` },
    { kind: 'redis-hash', ...location, key: `${prefix}billing:{homeAccountId}` },
  ];
}

/** Users with a session each and an account in both apps' caches. */
export async function streamUsers(svc: TestService, direct: Redis | Cluster, prefix: string, count: number): Promise<StreamUser[]> {
  const list: StreamUser[] = [];
  for (let i = 0; i < count; i++) {
    const hid = `${randomUUID()}.t`;
    const sid = `sid-${randomUUID()}`;
    const res = await svc.app.inject({ method: 'POST', url: '/v1/sessions', headers: { authorization: `Bearer ${FULL_KEY}` }, payload: { clientId: ORDERS, issuer: ISSUER, sid, sub: `sub-${i}`, homeAccountId: hid } });
    if (res.statusCode !== 201) throw new Error(`registration: ${res.statusCode} ${res.body}`);
    const [plain, hash] = partitionsOf(prefix, hid);
    await direct.set(plain, cacheOf(hid));
    await direct.hset(hash, 'absexp', '-1', 'sldexp', '-1', 'data', cacheOf(hid));
    list.push({ hid, sid, token: await svc.provider.sign(svc.provider.claims(ISSUER, [ORDERS], { sid })) });
  }
  return list;
}

const post = (svc: TestService, token: string) => svc.app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${token}` });

/** Posts each token as a provider does (retrying a 400 temporarily_unavailable), 10 in flight, about 100 a second; `fault` runs at the half. */
export async function streamThrough(svc: TestService, users: StreamUser[], fault: () => Promise<unknown>): Promise<number[]> {
  const statuses: number[] = [];
  let faulted: Promise<unknown> | undefined;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < users.length; i = next++) {
      if (i === users.length >> 1) faulted = fault();
      for (let tries = 0; ; tries++) {
        const res = await post(svc, users[i]!.token);
        statuses.push(res.statusCode);
        if (res.statusCode === 200) break;
        // A retry refused as a replay: the admission answered 400 temporarily_unavailable did land (its replay
        // record reached the new master before its removal did). Its logout is journaled and carried out,
        // which assertCarriedOut checks for every user; the provider is only told so wrongly.
        if (tries > 0 && res.statusCode === 400 && /replay/.test(res.json().error_description)) break;
        if (res.statusCode !== 400 || res.json().error !== 'temporarily_unavailable' || tries > 600) throw new Error(`logout ${i}: ${res.statusCode} ${res.body}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  await faulted;
  return statuses;
}

/** Every logout answered 200 carried out (no account left in either cache, the sessions gone), no replay accepted, no 5xx. */
export async function assertCarriedOut(t: Test, svc: TestService, direct: Redis | Cluster, prefix: string, users: StreamUser[], statuses: number[]): Promise<void> {
  t.equal(statuses.filter((s) => s >= 500).length, 0, 'no answer is a 5xx');
  t.comment(`${statuses.filter((s) => s === 400).length} answers were 400 (temporarily_unavailable, retried; or a retry refused as a replay of an admission that did land)`);
  await until(
    async () => {
      // The test's own client may have given up during the failover (ioredis ends a Sentinel client whose
      // master lookup failed mid-failover): it reconnects to look, which says nothing of the service.
      if (direct.status === 'end') await direct.connect().catch(() => {});
      for (const { hid } of users) for (const key of partitionsOf(prefix, hid)) if ((await direct.exists(key).catch(() => 1)) > 0) return false;
      return true;
    },
    60_000,
    200,
  );
  t.pass(`every one of the ${users.length} logouts answered 200 left no account in either app's cache`);
  const left = await svc.app.inject({ url: `/v1/sessions?issuer=${encodeURIComponent(ISSUER)}&sid=${users[users.length >> 1]!.sid}`, headers: { authorization: `Bearer ${FULL_KEY}` } });
  t.same(left.json(), [], 'the sessions are gone');
  let replayed = 0;
  for (const { token } of users) if ((await post(svc, token)).statusCode === 200) replayed++;
  t.equal(replayed, 0, 'no replayed token is accepted: every replay record survived');
}
