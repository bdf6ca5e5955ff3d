import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AccountInfo } from '@azure/msal-node';
import { CacheWriteConflict, FakeEntra, MsalWebApp, RedisCacheClient, WatchingRedisCacheClient, type EntraUser } from '../../simulators/msal-app.js';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';
import { BILLING, ENTRA_TEMPLATE, ORDERS, TENANT_A, postLogoutToken, startRedisService } from '../helpers/service.js';
import { damagedPartitions } from '../cache-formats/byte-shapes.js';

const ctx = await redisForTest(t);
if (ctx) {
  const { redis, prefix } = ctx;
  const svc = await startRedisService({ storeUrl: REDIS_URL, prefix });
  t.teardown(() => svc.close());
  const entraA = ENTRA_TEMPLATE.replace('{tenantid}', TENANT_A);
  const entra = new FakeEntra();
  // The apps' own Redis connection, as in Microsoft's sample: DistributedCachePlugin over a Redis client.
  const appRedis = new Redis(REDIS_URL);
  t.teardown(() => appRedis.quit());
  const apps = svc.config.apps.map((a) => new MsalWebApp(a.clientId, a.tokenCache.key, new RedisCacheClient(appRedis), entra));
  const user = (name: string): EntraUser => ({ oid: randomUUID(), homeTenant: TENANT_A, name, sid: `sid-${randomUUID()}` });

  async function signInEverywhere(u: EntraUser): Promise<AccountInfo> {
    let account: AccountInfo | undefined;
    for (const app of apps) {
      account = await app.signIn(u);
      const claims = account.idTokenClaims as { iss: string; sub: string; sid: string };
      const res = await svc.app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: app.clientId, issuer: claims.iss, sid: claims.sid, sub: claims.sub, homeAccountId: account.homeAccountId } });
      if (res.statusCode !== 201) throw new Error(res.body);
    }
    return account!;
  }

  t.test('apps with a DistributedCachePlugin on Redis: after a logout getAllAccounts() no longer has the account, others remain', async (t) => {
    const alice = await signInEverywhere(user('Alice'));
    const bob = await signInEverywhere(user('Bob'));
    const sharedKey = `${prefix}shared-cache`;
    const aliceKey = `${prefix}msal:${ORDERS}:${alice.homeAccountId}`;
    t.ok(await redis.exists(aliceKey), "alice's partition of orders-web is in Redis");
    const ttlBefore = await redis.ttl(sharedKey);

    const token = await svc.provider.sign(svc.provider.claims(entraA, ORDERS, { sid: alice.idTokenClaims!.sid as string }));
    t.equal((await postLogoutToken(svc.app, token)).statusCode, 200);

    for (const app of apps) {
      const seenForAlice = (await app.accounts(alice.homeAccountId)).map((a) => a.homeAccountId);
      t.notOk(seenForAlice.includes(alice.homeAccountId), `${app.clientId}: alice is gone`);
      await t.rejects(app.acquireSilent(alice), `${app.clientId}: no token for alice`);
      t.ok(
        (await app.accounts(bob.homeAccountId)).some((a) => a.homeAccountId === bob.homeAccountId),
        `${app.clientId}: bob remains`,
      );
      t.ok((await app.acquireSilent(bob)).fromCache, `${app.clientId}: bob's cached token still works`);
    }
    t.equal(await redis.exists(aliceKey), 0, "alice's own partition was deleted");
    t.notMatch(await redis.get(sharedKey), alice.homeAccountId, 'the shared partition holds nothing of alice');
    const ttlAfter = await redis.ttl(sharedKey);
    t.ok(ttlAfter > 0 && ttlAfter <= ttlBefore, `the rewritten partition kept its TTL (${ttlBefore} → ${ttlAfter} s)`);
  });

  t.test('apps writing concurrently to the shared partition lose no write, and no removed account comes back', async (t) => {
    const shared = svc.config.apps.find((a) => a.clientId === BILLING)!.tokenCache.key; // one partition for all accounts
    const raceApp = { clientId: BILLING, template: shared };
    // Accounts to log out, already in the partition.
    const seedApp = new MsalWebApp(raceApp.clientId, raceApp.template, new RedisCacheClient(appRedis), entra);
    const leaving: AccountInfo[] = [];
    for (let i = 0; i < 30; i++) leaving.push(await seedApp.signIn(user(`Leaving${i}`)));

    // Careful apps (WATCH/MULTI, retrying on conflict) sign new users in while the service removes the others.
    const writers = Array.from({ length: 4 }, () => new Redis(REDIS_URL));
    t.teardown(() => Promise.all(writers.map((w) => w.quit())));
    const joined: string[] = [];
    let conflicts = 0;
    const writing = writers.map(async (connection, w) => {
      const app = new MsalWebApp(raceApp.clientId, raceApp.template, new WatchingRedisCacheClient(connection), entra);
      for (let i = 0; i < 10; i++) {
        const u = user(`Joining${w}-${i}`);
        for (;;) {
          try {
            joined.push((await app.signIn(u)).homeAccountId);
            break;
          } catch (err) {
            if (!(err instanceof CacheWriteConflict)) throw err;
            conflicts++;
          }
        }
      }
    });
    // One logout after another for as long as the apps write, so each removal overlaps their writes.
    const removing = (async () => {
      for (const a of leaving) {
        const res = await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { homeAccountId: a.homeAccountId } });
        if (res.json().state !== 'completed') throw new Error(res.body);
      }
    })();
    await Promise.all([...writing, removing]);

    const blob = JSON.parse((await redis.get(shared))!) as { Account: Record<string, { home_account_id: string }> };
    const present = new Set(Object.values(blob.Account).map((a) => a.home_account_id));
    t.same(
      joined.filter((id) => !present.has(id)),
      [],
      `every concurrent write is there (${joined.length} sign-ins, ${conflicts} retried conflicts)`,
    );
    t.same(
      leaving.map((a) => a.homeAccountId).filter((id) => present.has(id)),
      [],
      'no removed account came back',
    );
    t.ok(conflicts > 0, 'the writers and the service really did collide');
  });

  t.test('a token-cache key of another Redis type is reported and skipped; the other apps are still swept', async (t) => {
    const carol = await signInEverywhere(user('Carol'));
    const key = `${prefix}msal:${ORDERS}:${carol.homeAccountId}`;
    await redis.del(key);
    await redis.hset(key, 'not', 'a cache');
    const report = (await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { homeAccountId: carol.homeAccountId } })).json();
    const byApp = Object.fromEntries(report.removals.map((r: { app: string }) => [r.app, r]));
    t.match(byApp['orders-web'], { outcome: 'skipped', detail: /another Redis type/ });
    t.equal(byApp['billing-web'].outcome, 'removed');
    t.equal(report.state, 'completed', 'foreign data does not hold the logout pending');
    t.equal(await redis.hget(key, 'not'), 'a cache', 'and is never overwritten');
  });

  t.test('a cache blob that is not MSAL JSON is reported and skipped, never overwritten', async (t) => {
    const dave = await signInEverywhere(user('Dave'));
    const key = `${prefix}msal:${ORDERS}:${dave.homeAccountId}`;
    await redis.set(key, '{"Account": "garbage"');
    const report = (await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { homeAccountId: dave.homeAccountId } })).json();
    t.match(
      report.removals.find((r: { app: string }) => r.app === 'orders-web'),
      { outcome: 'skipped', detail: /not JSON/ },
    );
    t.equal(await redis.get(key), '{"Account": "garbage"');
  });

  t.test('a partition that is not strict UTF-8, begins with a BOM or has bytes after its JSON is reported skipped with the reason, never overwritten', async (t) => {
    for (const [what, , reason] of damagedPartitions('{}')) {
      const erin = await signInEverywhere(user('Erin'));
      const key = `${prefix}msal:${ORDERS}:${erin.homeAccountId}`;
      const [, bytes] = damagedPartitions((await redis.get(key))!).find(([w]) => w === what)!;
      await redis.set(key, bytes);
      const report = (await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { homeAccountId: erin.homeAccountId } })).json();
      t.match(
        report.removals.find((r: { app: string }) => r.app === 'orders-web'),
        { outcome: 'skipped', detail: reason },
        what,
      );
      t.ok((await redis.getBuffer(key))!.equals(bytes), `${what}: the partition is untouched`);
    }
  });
}
