import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { requireSentinel, SentinelDeployment } from '../helpers/redis-sentinel.js';
import { FULL_KEY, ISSUER, ORDERS, BILLING, startRedisService, until, type TestService } from '../helpers/service.js';

// An answered logout survives a Sentinel failover: the store follows the master (failoverDetector, role
// check) and an admission counts only once a replica has it (store.replicas, WAIT). The token caches live
// on the same deployment, reached through the sentinels too.
const USERS = 240;

if (requireSentinel(t)) {
  const deployment = await SentinelDeployment.start();
  t.teardown(() => deployment.stop());
  const sentinel = { name: deployment.name, nodes: deployment.nodes };
  const direct = new Redis({ sentinels: deployment.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })), name: deployment.name, failoverDetector: true, maxRetriesPerRequest: 20 });
  direct.on('error', () => {});
  t.teardown(() => direct.disconnect());

  /** A minimal MSAL cache of one account, as any MSAL library writes it. */
  const cacheOf = (hid: string) =>
    JSON.stringify({
      Account: { [`${hid}-login.windows.net-t`]: { home_account_id: hid, environment: 'login.windows.net', realm: 't', authority_type: 'MSSTS' } },
      RefreshToken: { [`${hid}-login.windows.net-refreshtoken-${ORDERS}--`]: { home_account_id: hid, environment: 'login.windows.net', credential_type: 'RefreshToken', client_id: ORDERS, secret: 'rt' } },
    });

  async function service(prefix: string): Promise<TestService> {
    return startRedisService({
      storeUrl: 'redis://127.0.0.1:1', // replaced below: the store is the Sentinel deployment
      prefix,
      workerIntervalMs: 25,
      edit: (f) => {
        f.store = { kind: 'redis', sentinel, keyPrefix: prefix, replicas: 1, replicaWaitMs: 250 };
        f.apps[0]!.tokenCache = { kind: 'redis', sentinel, key: `${prefix}msal:{clientId}:{homeAccountId}` };
        f.apps[1]!.tokenCache = { kind: 'redis-hash', sentinel, key: `${prefix}billing:{homeAccountId}` };
        f.limits = { publicRequestsPerMinute: 1_000_000, apiRequestsPerMinute: 1_000_000 };
      },
    });
  }

  /** Users with a session each and an account in both apps' caches. */
  async function users(svc: TestService, prefix: string) {
    const list = [];
    for (let i = 0; i < USERS; i++) {
      const hid = `${randomUUID()}.t`;
      const sid = `sid-${randomUUID()}`;
      const res = await svc.app.inject({ method: 'POST', url: '/v1/sessions', headers: { authorization: `Bearer ${FULL_KEY}` }, payload: { clientId: ORDERS, issuer: ISSUER, sid, sub: `sub-${i}`, homeAccountId: hid } });
      if (res.statusCode !== 201) throw new Error(`registration: ${res.statusCode} ${res.body}`);
      await direct.set(`${prefix}msal:${ORDERS}:${hid}`, cacheOf(hid));
      await direct.hset(`${prefix}billing:${hid}`, 'absexp', '-1', 'sldexp', '-1', 'data', cacheOf(hid));
      list.push({ hid, sid, token: await svc.provider.sign(svc.provider.claims(ISSUER, [ORDERS], { sid })) });
    }
    return list;
  }

  /** Posts each token as a provider does (retrying a 400 temporarily_unavailable), 10 in flight; `fault` runs at the half. */
  async function stream(svc: TestService, tokens: string[], fault: () => Promise<unknown>) {
    const statuses: number[] = [];
    let faulted: Promise<unknown> | undefined;
    let next = 0;
    const post = (token: string) =>
      svc.app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${token}` });
    const worker = async () => {
      for (let i = next++; i < tokens.length; i = next++) {
        if (i === tokens.length >> 1) faulted = fault();
        for (let tries = 0; ; tries++) {
          const res = await post(tokens[i]!);
          statuses.push(res.statusCode);
          if (res.statusCode === 200) break;
          if (res.statusCode !== 400 || res.json().error !== 'temporarily_unavailable' || tries > 600) throw new Error(`logout ${i}: ${res.statusCode} ${res.body}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await new Promise((resolve) => setTimeout(resolve, 100)); // about 100 logouts a second in all
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    await faulted;
    return statuses;
  }

  async function assertAllCarriedOut(t: Test, svc: TestService, prefix: string, list: { hid: string; sid: string; token: string }[], statuses: number[]) {
    t.equal(statuses.filter((s) => s >= 500).length, 0, 'no answer is a 5xx');
    t.comment(`${statuses.filter((s) => s === 400).length} answers were 400 temporarily_unavailable and retried`);
    await until(async () => {
      for (const { hid } of list) if ((await direct.exists(`${prefix}msal:${ORDERS}:${hid}`, `${prefix}billing:${hid}`)) > 0) return false;
      return true;
    }, 60_000, 200);
    t.pass(`every one of the ${list.length} logouts answered 200 left no account in either app's cache`);
    const left = await svc.app.inject({ url: `/v1/sessions?issuer=${encodeURIComponent(ISSUER)}&sid=${list[list.length >> 1]!.sid}`, headers: { authorization: `Bearer ${FULL_KEY}` } });
    t.same(left.json(), [], 'the sessions are gone');
    let replayed = 0;
    for (const { token } of list) {
      const res = await svc.app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${token}` });
      if (res.statusCode === 200) replayed++;
    }
    t.equal(replayed, 0, 'no replayed token is accepted: every replay record survived');
  }

  t.test('SENTINEL FAILOVER during a stream of logouts: every logout answered 200 is carried out, none is replayable, no 5xx', async (t) => {
    const prefix = `lr-sentinel-${randomUUID()}:`;
    const svc = await service(prefix);
    t.teardown(() => svc.close());
    const list = await users(svc, prefix);
    const before = await deployment.masterPort();
    const statuses = await stream(svc, list.map((u) => u.token), () => deployment.failover());
    t.not(await deployment.masterPort(), before, 'the master changed during the stream');
    await assertAllCarriedOut(t, svc, prefix, list, statuses);
    await svc.close();
  });

  t.test('kill -9 of the Sentinel master during a stream of logouts: the same, once the sentinels promote the replica and the old master comes back as one', async (t) => {
    const prefix = `lr-sentinel-${randomUUID()}:`;
    const svc = await service(prefix);
    t.teardown(() => svc.close());
    const list = await users(svc, prefix);
    const statuses = await stream(svc, list.map((u) => u.token), async () => {
      const killed = await deployment.killMaster();
      await deployment.until(async () => (await deployment.masterPort()) !== killed, 20_000);
      await deployment.restart(killed); // back as a replica of the new master: writes reach a replica again
    });
    await assertAllCarriedOut(t, svc, prefix, list, statuses);
    await svc.close();
  });
}
