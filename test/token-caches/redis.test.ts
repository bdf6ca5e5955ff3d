import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AccountInfo } from '@azure/msal-node';
import { CacheWriteConflict, FakeEntra, MsalWebApp, RedisCacheClient, WatchingRedisCacheClient, type EntraUser } from '../../simulators/msal-app.js';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';
import { BILLING, ENTRA_TEMPLATE, ORDERS, TENANT_A, postLogoutToken, startRedisService } from '../helpers/service.js';
import { damagedPartitions } from '../cache-formats/byte-shapes.js';
import { CACHE_FORMATS } from '../../src/cache-formats/formats.js';
import { removeAccountsFromPartition } from '../../src/cache-formats/msal-json.js';
import { TokenCacheSweeper } from '../../src/core/token-cache-sweeper.js';
import type { TokenCacheStore } from '../../src/core/token-cache.js';
import { RedisTokenCacheStore } from '../../src/token-caches/redis.js';

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

  /**
   * A store updating shared partitions in pieces of `pieceBytes`, with its update connections instrumented: `sent` lists
   * the commands they send, in order, and a promise `beforePiece` returns for a GETRANGE (numbered from 1) holds it back until it settles.
   */
  function piecewise(t: Test, pieceBytes: number, beforePiece?: (n: number) => Promise<void> | undefined) {
    const client = new Redis(REDIS_URL);
    const sent: string[] = [];
    let pieces = 0;
    client.duplicate = (options) => {
      const connection = Redis.prototype.duplicate.call(client, options);
      const send = connection.sendCommand.bind(connection);
      let ready = false; // what a connection sends before (its name, the ready check) is not the update's
      connection.once('ready', () => (ready = true));
      connection.sendCommand = ((command, ...rest) => (ready && sent.push(command.name), send(command, ...rest))) as Redis['sendCommand'];
      const getrange = connection.getrangeBuffer.bind(connection);
      connection.getrangeBuffer = ((key: string, start: number, end: number) => {
        const before = beforePiece?.(++pieces);
        return before ? before.then(() => getrange(key, start, end)) : getrange(key, start, end);
      }) as Redis['getrangeBuffer'];
      return connection;
    };
    const inner = new RedisTokenCacheStore(client, true, { pieceBytes });
    t.teardown(() => inner.close());
    const reads: (Buffer | null)[] = [];
    // The values the sweeper was given, one per read.
    const store: TokenCacheStore = {
      readForUpdate: async (key, context) => {
        const update = await inner.readForUpdate(key, context);
        reads.push(Buffer.isBuffer(update.value) ? Buffer.from(update.value) : null);
        return update;
      },
    };
    return { store, sent, reads };
  }

  /** A partition every user of one app shares, written by msal-node as `users` sign in; the sweeper of that app over `store`. */
  async function sharedPartitionOf(users: number, name: string) {
    const key = `${prefix}pieces:${name}`;
    const web = new MsalWebApp(BILLING, key, new RedisCacheClient(appRedis), entra);
    const accounts: AccountInfo[] = [];
    for (let i = 0; i < users; i++) accounts.push(await web.signIn(user(`${name}${i}`)));
    const app = { clientId: BILLING, name: 'billing-web', issuers: [], tokenCache: { kind: 'redis', key } };
    return { key, web, accounts, sweeperOver: (store: TokenCacheStore) => new TokenCacheSweeper([{ app, store }], { formats: CACHE_FORMATS }) };
  }

  const removedFrom = async (bytes: Buffer, homeAccountId: string) => (await removeAccountsFromPartition(bytes, [homeAccountId])).next!;
  const sweepOne = (sweeper: TokenCacheSweeper, homeAccountId: string) => sweeper.sweep([{ homeAccountId, cacheKeys: new Map() }]);

  t.test('a shared partition longer than a piece is read in GETRANGE pieces under its WATCH, and the removal is byte for byte the one a single GET gives', async (t) => {
    const { key, accounts, sweeperOver } = await sharedPartitionOf(6, 'longer');
    const original = (await redis.getBuffer(key))!;
    const { store, sent } = piecewise(t, 4096);
    const [removal] = await sweepOne(sweeperOver(store), accounts[2]!.homeAccountId);
    t.match(removal, { outcome: 'removed', removedEntries: 4 });
    t.ok((await redis.getBuffer(key))!.equals(await removedFrom(original, accounts[2]!.homeAccountId)), 'the same bytes as the removal from the whole partition');
    const pieces = Math.ceil(original.length / 4096);
    t.same(sent, ['watch', 'getrange', 'strlen', ...Array<string>(pieces - 1).fill('getrange'), 'multi', 'set', 'exec'], `WATCH first, then ${pieces} pieces, then the transaction`);
  });

  t.test('a shared partition shorter than a piece is read with one command, as with a GET', async (t) => {
    const { key, accounts, sweeperOver } = await sharedPartitionOf(2, 'short');
    const original = (await redis.getBuffer(key))!;
    const { store, sent } = piecewise(t, original.length + 1);
    t.match(await sweepOne(sweeperOver(store), accounts[0]!.homeAccountId), [{ outcome: 'removed' }]);
    t.ok((await redis.getBuffer(key))!.equals(await removedFrom(original, accounts[0]!.homeAccountId)));
    t.same(sent, ['watch', 'getrange', 'multi', 'set', 'exec']);
  });

  t.test('an absent shared partition read in pieces is not_present, and an empty one is no MSAL cache', async (t) => {
    const key = `${prefix}pieces:absent`;
    const app = { clientId: BILLING, name: 'billing-web', issuers: [], tokenCache: { kind: 'redis', key } };
    const { store, sent } = piecewise(t, 4096);
    const sweeper = new TokenCacheSweeper([{ app, store }], { formats: CACHE_FORMATS });
    t.match(await sweepOne(sweeper, `${randomUUID()}.${TENANT_A}`), [{ outcome: 'not_present', detail: 'no such partition' }]);
    t.same(sent.splice(0), ['watch', 'getrange', 'get', 'unwatch'], 'GETRANGE answers an absent key as an empty string: a GET tells them apart');
    await redis.set(key, '');
    t.match(await sweepOne(sweeper, `${randomUUID()}.${TENANT_A}`), [{ outcome: 'skipped', detail: /not JSON|not a JSON object/ }]);
  });

  t.test('an app writing between two pieces makes the write fail; the round reads again and removes from what the app wrote', async (t) => {
    const { key, accounts, sweeperOver } = await sharedPartitionOf(6, 'torn');
    const original = (await redis.get(key))!;
    // The app's write keeps every length and changes every token: no piece of it is the partition as it was.
    const secrets = [...original.matchAll(/"secret":"([^"]+)"/g)].map(([, secret]) => secret!);
    const written = Buffer.from(secrets.reduce((text, secret) => text.replace(secret, 'B'.repeat(secret.length)), original));
    // Before the last piece: the first pieces hold the tokens as they were, the last one the app's new refresh tokens.
    const { store, sent, reads } = piecewise(t, 4096, (n) => (n === Math.ceil(written.length / 4096) ? appRedis.set(key, written, 'KEEPTTL').then(() => {}) : undefined));
    const [removal] = await sweepOne(sweeperOver(store), accounts[1]!.homeAccountId);
    t.match(removal, { outcome: 'removed', removedEntries: 4 });
    t.equal(reads.length, 2, 'read twice');
    t.notOk(reads[0]!.equals(Buffer.from(original)) || reads[0]!.equals(written), 'the first read mixed the two writes');
    t.ok(reads[1]!.equals(written), 'the second read is what the app wrote');
    t.same(
      sent.filter((c) => c === 'exec'),
      ['exec', 'exec'],
      'the first transaction was refused',
    );
    t.ok((await redis.getBuffer(key))!.equals(await removedFrom(written, accounts[1]!.homeAccountId)), "the app's write, less the account");
  });

  t.test("a read torn by an app's sign-in is read again, never reported as a damaged partition", async (t) => {
    const { key, web, accounts, sweeperOver } = await sharedPartitionOf(6, 'signin');
    let written: Buffer | undefined;
    const signIn = async () => {
      await web.signIn(user('Late'));
      written = (await appRedis.getBuffer(key))!;
    };
    const { store, reads } = piecewise(t, 4096, (n) => (n === 2 ? signIn() : undefined));
    const [removal] = await sweepOne(sweeperOver(store), accounts[4]!.homeAccountId);
    t.match(removal, { outcome: 'removed', removedEntries: 4 }, 'not skipped: nothing is judged on torn bytes');
    t.equal(reads.length, 2);
    t.ok((await redis.getBuffer(key))!.equals(await removedFrom(written!, accounts[4]!.homeAccountId)), 'the partition with the late sign-in, less the account');
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
