import t from 'tap';
import { CACHE_FORMATS } from '../../src/cache-formats/formats.js';
import type { AppConfig } from '../../src/core/registrations.js';
import { ForeignPartitionError } from '../../src/core/token-cache.js';
import { TokenCacheSweeper } from '../../src/core/token-cache-sweeper.js';
import { hashFieldLayout } from '../../src/token-caches/redis-hash.js';
import { RedisTokenCacheStore } from '../../src/token-caches/redis.js';
import { DOTNET_CLIENT_ID, dotnetCache, dotnetHomeAccountId } from '../helpers/msal-dotnet.js';
import { redisForTest } from '../helpers/redis.js';
import { damagedPartitions } from '../cache-formats/byte-shapes.js';

const context = await redisForTest(t);
if (context) {
  const { redis, prefix } = context;
  const ALICE = { uid: 'AAAAaaaa-0000-4000-8000-00000000000A', utid: '72f988bf-86f1-41af-91ab-2d7cd011db47', name: 'Alice' };
  const BOB = { uid: 'bbbbbbbb-0000-4000-8000-00000000000b', utid: '72f988bf-86f1-41af-91ab-2d7cd011db47', name: 'Bob' };
  const alice = dotnetHomeAccountId(ALICE);
  // As Microsoft.Extensions.Caching.StackExchangeRedis writes an entry: absexp and sldexp in .NET ticks (or -1), data, and the expiry as the key's TTL.
  const ABSEXP = '639012345678901234';
  const writeEntry = async (key: string, data: string | Buffer, sldexp = '-1') => {
    await redis.hset(key, 'absexp', ABSEXP, 'sldexp', sldexp, 'data', data);
    await redis.expire(key, 3600);
  };
  const app = (name: string, key: string): AppConfig => ({ clientId: DOTNET_CLIENT_ID, name, issuers: ['entra'], tokenCache: { kind: 'redis-hash', key, field: 'data' } });
  const hashStore = () => {
    const store = new RedisTokenCacheStore(redis, false, { layout: hashFieldLayout('data'), updateConnections: 2 });
    t.teardown(() => store.close());
    return store;
  };
  const sweep = (store: RedisTokenCacheStore, template: string, homeAccountId = alice) => new TokenCacheSweeper([{ app: app('billing-web', template), store }], { formats: CACHE_FORMATS }).sweep([{ homeAccountId, cacheKeys: new Map() }]);
  const entries = (blob: string) => Object.values(JSON.parse(blob) as Record<string, Record<string, unknown>>).flatMap((s) => Object.entries(s));

  t.test('redis-hash: the account leaves the data field; absexp, sldexp and the TTL are kept; the other account stays byte for byte', async (t) => {
    const key = `${prefix}billing:shared`;
    const blob = dotnetCache([ALICE, BOB]);
    await writeEntry(key, blob, '6000000000');
    const [removal] = await sweep(hashStore(), `${prefix}billing:shared`);
    t.equal(removal!.outcome, 'removed');
    t.equal(removal!.removedEntries, 5, 'account, id token, access token, extended access token, refresh token');
    t.equal(await redis.type(key), 'hash', 'still a hash');
    t.same(await redis.hmget(key, 'absexp', 'sldexp'), [ABSEXP, '6000000000'], 'expiry fields untouched');
    t.ok((await redis.ttl(key)) > 3500, 'the TTL is kept');
    const after = (await redis.hget(key, 'data'))!;
    const bobBefore = entries(blob).filter(([k]) => k.toLowerCase().startsWith(dotnetHomeAccountId(BOB).toLowerCase()));
    t.same(
      entries(after).filter(([k]) => !k.startsWith('appmetadata')),
      bobBefore,
      "only bob's entries are left",
    );
    t.ok(after.includes(JSON.stringify(JSON.parse(blob).Account[`${dotnetHomeAccountId(BOB)}-login.windows.net-${BOB.utid}`])), "bob's account entry byte for byte");
  });

  t.test("redis-hash: a partition left without an account is deleted (Microsoft.Identity.Web's per-user key)", async (t) => {
    const key = `${prefix}billing:${alice}`;
    await writeEntry(key, dotnetCache([ALICE]));
    const [removal] = await sweep(hashStore(), `${prefix}billing:{homeAccountId}`);
    t.equal(removal!.outcome, 'removed');
    t.equal(removal!.partitionDeleted, true);
    t.equal(await redis.exists(key), 0);
  });

  t.test('redis-hash: an encrypted (Data Protection) partition of one account is deleted and reported so; a shared one is skipped and kept', async (t) => {
    const payload = Buffer.concat([Buffer.from([0x09, 0xf0, 0xc9, 0xf0]), Buffer.alloc(48, 0xab)]);
    const own = `${prefix}enc:${alice}`;
    await writeEntry(own, payload);
    const [removed] = await sweep(hashStore(), `${prefix}enc:{homeAccountId}`);
    t.same([removed!.outcome, removed!.detail], ['removed', 'encrypted partition deleted']);
    t.equal(await redis.exists(own), 0);
    await writeEntry(`${prefix}enc2:${alice}`, payload);
    const [byHalves] = await sweep(hashStore(), `${prefix}enc2:{oid}.{tenantId}`);
    t.equal(byHalves!.outcome, 'removed', 'a template naming both halves of the account is one account per partition too');
    t.equal(await redis.exists(`${prefix}enc2:${alice}`), 0);
    const shared = `${prefix}enc:shared`;
    await writeEntry(shared, payload);
    const [skipped] = await sweep(hashStore(), shared);
    t.equal(skipped!.outcome, 'skipped');
    t.same(await redis.hgetBuffer(shared, 'data'), payload, 'kept as it was');
  });

  t.test('redis-hash: a hash without the data field, or a key of another type, is skipped and never written', async (t) => {
    const noData = `${prefix}billing:nodata`;
    await redis.hset(noData, 'absexp', ABSEXP, 'sldexp', '-1');
    const [a] = await sweep(hashStore(), noData);
    t.same([a!.outcome, a!.detail], ['skipped', 'the hash has no data field']);
    t.same(await redis.hgetall(noData), { absexp: ABSEXP, sldexp: '-1' }, 'unchanged');
    const string = `${prefix}billing:string`;
    const text = dotnetCache([ALICE]);
    await redis.set(string, text);
    const [b] = await sweep(hashStore(), string);
    t.same([b!.outcome, b!.detail], ['skipped', 'the key holds another Redis type than a hash']);
    t.equal(await redis.get(string), text, 'still the string');
    t.equal(await redis.type(string), 'string');
    const [c] = await sweep(hashStore(), `${prefix}billing:absent`);
    t.equal(c!.outcome, 'not_present');
  });

  t.test('redis-hash: a data field that is not strict UTF-8, begins with a BOM or has bytes after its JSON is skipped with the reason, and left as it was', async (t) => {
    for (const [what, bytes, reason] of damagedPartitions(dotnetCache([ALICE, BOB]))) {
      for (const template of [`${prefix}damaged:shared`, `${prefix}damaged:{homeAccountId}`]) {
        const key = template.replace('{homeAccountId}', alice);
        await writeEntry(key, bytes);
        const [removal] = await sweep(hashStore(), template);
        t.match(removal, { outcome: 'skipped', detail: reason }, `${what} (${template.endsWith('shared') ? 'shared' : 'one account'})`);
        t.ok((await redis.hgetBuffer(key, 'data'))!.equals(bytes), `${what}: the data field is untouched`);
      }
    }
  });

  t.test("redis-hash: an app's write between the read and the write wins, and the removal is done again on what it wrote", async (t) => {
    const key = `${prefix}billing:race`;
    await writeEntry(key, dotnetCache([ALICE, BOB]));
    const store = hashStore();
    const update = await store.readForUpdate(key);
    const carol = { uid: 'cccccccc-0000-4000-8000-00000000000c', utid: BOB.utid, name: 'Carol' };
    await redis.hset(key, 'data', dotnetCache([ALICE, BOB, carol])); // the app signs carol in meanwhile
    t.equal(await update.write('{}'), false, 'refused: the hash was written since the read');
    update.release();
    const [removal] = await sweep(store, key);
    t.equal(removal!.outcome, 'removed');
    const left = JSON.parse((await redis.hget(key, 'data'))!) as { Account: Record<string, unknown> };
    t.same(Object.keys(left.Account).length, 2, "bob and carol: the app's write is not lost, alice not resurrected");
  });

  t.test('redis-hash: the compare-and-set script (the Cluster path) writes only the data field, and only over what was read', async (t) => {
    const key = `${prefix}billing:cas`;
    await writeEntry(key, 'v1');
    const store = hashStore();
    t.equal(await store.compareAndSet(key, 'other', 'v2'), false);
    t.equal(await store.compareAndSet(key, 'v1', 'v2'), true);
    t.same(await redis.hgetall(key), { absexp: ABSEXP, sldexp: '-1', data: 'v2' });
    t.ok((await redis.ttl(key)) > 3500);
    t.equal(await store.compareAndSet(key, 'v2', null), true, 'null deletes');
    t.equal(await redis.exists(key), 0);
    await redis.set(key, 'x');
    await t.rejects(store.compareAndSet(key, 'x', 'y'), ForeignPartitionError);
  });
}
