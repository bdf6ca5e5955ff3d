import t from 'tap';
import fc from 'fast-check';
import { removeAccountsFromPartition } from '../../src/cache-formats/msal-json.js';
import { RedisTokenCacheStore } from '../../src/token-caches/redis.js';
import { hashFieldLayout } from '../../src/token-caches/redis-hash.js';
import { ForeignPartitionError, type PartitionUpdate } from '../../src/core/token-cache.js';
import { cacheArbitrary, DIALECTS } from '../../simulators/msal-dialects.js';
import { byteShapeArbitrary, damaged, damagedPartitions, expectedRemoval, shapedTree, write, type ByteShape, type LayoutName } from '../cache-formats/byte-shapes.js';
import { redisForTest } from '../helpers/redis.js';

// A partition of one account's is deleted inside Redis, in one script, when it holds nothing but the
// account's entries; whatever the script cannot judge for certain comes back, byte for byte, for the
// service's byte-exact removal. Held here against the byte-exact removal itself, over generated caches of
// the four MSAL dialects in every byte shape.

const ctx = await redisForTest(t);
if (ctx) {
  const { redis, prefix } = ctx;
  const store = new RedisTokenCacheStore(redis, false);
  const hashStore = new RedisTokenCacheStore(redis, false, { layout: hashFieldLayout('data') });
  t.teardown(() => Promise.all([store.close(), hashStore.close()]));
  let n = 0;
  const keyOf = () => `${prefix}sole:${n++}`;
  const isRead = (result: { removedEntries: number[] } | PartitionUpdate): result is PartitionUpdate => 'value' in result;
  /** Given back, as the bytes that were there. */
  const givenBack = (result: { removedEntries: number[] } | PartitionUpdate, bytes: Buffer) => isRead(result) && Buffer.isBuffer(result.value) && result.value.equals(bytes);

  /** One account's partition, as a library writes it (some with an entry of no one's, or another account's). */
  const soleArbitrary = fc.constantFrom(...DIALECTS).chain((dialect) => cacheArbitrary(dialect, { minAccounts: 1, maxAccounts: 1 }));
  /** Half of them in a layout only; the others in any byte shape (escapes, numbers, repeats, damage). */
  const plain = fc
    .constantFrom<LayoutName>('compact', 'python-compact', 'indent-2', 'python-indent-4')
    .map((layout): ByteShape => ({ layout, escapes: null, numbers: null, repeatedField: false, repeatedOwner: false, shadowedEntry: null, hiddenSection: null, hiddenOwnerOfRemoved: null, damage: null }));
  const shapes = fc.oneof(plain, byteShapeArbitrary);

  t.test('a partition of one account that holds only its entries is deleted in one script, as the byte-exact removal would delete it', async (t) => {
    let deleted = 0;
    let given = 0;
    await fc.assert(
      fc.asyncProperty(soleArbitrary, shapes, async (cache, shape) => {
        const account = cache.accounts[0]!.homeAccountId;
        const tree = shapedTree(JSON.parse(cache.blob), shape, account.toLowerCase(), 'someone.else');
        const written = Buffer.from(write(tree, shape));
        const bytes = shape.damage ? damaged(written, shape.damage) : written;
        const key = keyOf();
        await redis.set(key, bytes);
        const result = await store.removeWhereSole(key, [account.toUpperCase()]);
        const exact = await removeAccountsFromPartition(bytes, [account]);
        if (isRead(result)) {
          given++;
          t.ok(givenBack(result, bytes), 'given back byte for byte');
          t.ok((await redis.getBuffer(key))?.equals(bytes), 'and left as it was');
          return;
        }
        deleted++;
        // Damage inside strings (invalid UTF-8) makes the byte-exact removal refuse; what the partition holds is read on the undamaged tree.
        const expected = expectedRemoval(tree, account);
        t.match(expected, { outcome: 'removed', next: null }, 'deleted only where the byte-exact removal deletes the partition');
        if (shape.damage) t.equal(shape.damage.kind, 'invalid-utf8', 'of damaged bytes, only invalid UTF-8 inside the JSON is read past');
        else t.equal(exact.next, null);
        t.same(result.removedEntries, [expected.removedKeys.length], 'with as many entries as it removes');
        t.equal(await redis.exists(key), 0);
      }),
      { numRuns: 150 },
    );
    t.ok(deleted > 10, `deleted in Redis ${deleted} times`);
    t.ok(given > 10, `given back ${given} times`);
  });

  t.test('a partition that also holds another account is never deleted in Redis: it comes back byte for byte', async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...DIALECTS).chain((dialect) => cacheArbitrary(dialect, { minAccounts: 2, maxAccounts: 3 })),
        byteShapeArbitrary,
        fc.nat(),
        async (cache, shape, pick) => {
          const account = cache.accounts[pick % cache.accounts.length]!.homeAccountId;
          const other = cache.accounts.find((a) => a.homeAccountId !== account)!.homeAccountId;
          const bytes = Buffer.from(write(shapedTree(JSON.parse(cache.blob), shape, account.toLowerCase(), other), shape));
          const key = keyOf();
          await redis.set(key, bytes);
          const result = await store.removeWhereSole(key, [account]);
          t.ok(givenBack(result, bytes), 'given back byte for byte');
          t.ok((await redis.getBuffer(key))?.equals(bytes));
        },
      ),
      { numRuns: 60 },
    );
  });

  t.test('what it cannot judge comes back: a BOM, bytes after the JSON, a list of objects, an empty section, a number, a hidden repeated home_account_id, a large partition', async (t) => {
    const account = 'uid-1.utid-1';
    const entry = (extra = '') => `{"home_account_id":"${account}","environment":"login.microsoftonline.com"${extra}}`;
    const sole = `{"Account":{"${account}-login.microsoftonline.com-utid-1":${entry()}},"AppMetadata":{}}`;
    const cases: [string, Buffer][] = [
      ...damagedPartitions(sole)
        .filter(([what]) => /order mark|after the JSON/.test(what))
        .map(([what, bytes]): [string, Buffer] => [what, bytes]),
      ['a list of objects', Buffer.from(sole.replace('"environment"', '"scopes":[{"a":"b"}],"environment"'))],
      ['an empty section', Buffer.from(sole.replace('"AppMetadata":{}', '"AppMetadata":{},"IdToken":[ ]'))],
      ['a [ inside a string', Buffer.from(sole.replace('"environment"', '"name":"a [b]","environment"'))],
      ['a number', Buffer.from(sole.replace('"environment"', '"expires_on":1,"environment"'))],
      ['a hidden repeated home_account_id', Buffer.from(sole.replace('{"home_account_id"', '{"home_account_id":"other.one","home_account_id"'))],
      ['an entry of no one', Buffer.from(sole.replace('"AppMetadata"', '"IdToken":{"x":{"environment":"e"}},"AppMetadata"'))],
      ['more than 256 KiB', Buffer.from(sole.replace('"environment"', `"secret":"${'x'.repeat(256 * 1024)}","environment"`))],
      ['not JSON', Buffer.from('{"Account": "garbage"')],
    ];
    for (const [what, bytes] of cases) {
      const key = keyOf();
      await redis.set(key, bytes);
      const result = await store.removeWhereSole(key, [account]);
      t.ok(givenBack(result, bytes), `${what}: given back`);
      t.ok((await redis.getBuffer(key))?.equals(bytes), `${what}: left as it was`);
    }
    const key = keyOf();
    await redis.set(key, sole);
    t.same(await store.removeWhereSole(key, [account]), { removedEntries: [1] }, 'the same partition without them is deleted');
    const named = keyOf();
    await redis.set(named, sole.replace('"environment"', '"name":"Zoë Ångström 李","tenantProfiles":["{\\"tenantId\\":\\"utid-1\\"}"],"environment"'));
    t.same(await store.removeWhereSole(named, [account]), { removedEntries: [1] }, "and so is one with a name in UTF-8 and msal-node's list of tenant profiles");
  });

  t.test('an absent partition reads as null; another Redis type is foreign, never written', async (t) => {
    const absent = await store.removeWhereSole(keyOf(), ['a.b']);
    t.ok(isRead(absent) && absent.value === null);
    const key = keyOf();
    await redis.rpush(key, 'x');
    await t.rejects(store.removeWhereSole(key, ['a.b']), ForeignPartitionError);
    t.same(await redis.lrange(key, 0, -1), ['x']);
  });

  t.test('in a hash field (IDistributedCache): deleted with its expiry fields when sole; a hash without the field is foreign', async (t) => {
    const account = 'uid-2.utid-2';
    const key = keyOf();
    await redis.hset(key, 'absexp', '-1', 'sldexp', '-1', 'data', `{"Account":{"${account}-env-utid-2":{"home_account_id":"${account}"}},"AccessToken":{"${account}-env-accesstoken-c-utid-2-s":{"home_account_id":"${account}"}}}`);
    t.same(await hashStore.removeWhereSole(key, [account]), { removedEntries: [2] });
    t.equal(await redis.exists(key), 0);
    const other = keyOf();
    await redis.hset(other, 'absexp', '-1');
    await t.rejects(hashStore.removeWhereSole(other, [account]), /no data field/);
    t.same(await redis.hgetall(other), { absexp: '-1' });
  });
}
