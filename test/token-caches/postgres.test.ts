import t from 'tap';
import pg from 'pg';
import { CACHE_FORMATS } from '../../src/cache-formats/formats.js';
import type { AppConfig } from '../../src/core/registrations.js';
import { TokenCacheSweeper } from '../../src/core/token-cache-sweeper.js';
import { PostgresTokenCacheStore } from '../../src/token-caches/postgres.js';
import { DOTNET_CLIENT_ID, dotnetCache, dotnetHomeAccountId } from '../helpers/msal-dotnet.js';
import { freePort } from '../helpers/redis.js';
import { postgresForTest, type Provider } from '../helpers/postgres.js';
import { damagedPartitions } from '../cache-formats/byte-shapes.js';

const context = await postgresForTest(t);
if (context) {
  const { pool } = context;
  const ALICE = { uid: 'AAAAaaaa-0000-4000-8000-00000000000A', utid: '72f988bf-86f1-41af-91ab-2d7cd011db47', name: 'Alice' };
  const BOB = { uid: 'bbbbbbbb-0000-4000-8000-00000000000b', utid: '72f988bf-86f1-41af-91ab-2d7cd011db47', name: 'Bob' };
  const alice = dotnetHomeAccountId(ALICE);
  const app = (key: string): AppConfig => ({ clientId: DOTNET_CLIENT_ID, name: 'reports-web', issuers: ['entra'], tokenCache: { kind: 'postgres', key } });
  const sweep = (store: PostgresTokenCacheStore, template: string) => new TokenCacheSweeper([{ app: app(template), store }], { formats: CACHE_FORMATS }).sweep([{ homeAccountId: alice, cacheKeys: new Map() }]);

  for (const provider of ['microsoft', 'community'] as Provider[]) {
    t.test(`postgres (${provider}): the account leaves the row's value; the expiry columns are untouched; the other account stays byte for byte`, async (t) => {
      const table = await context.table(provider);
      const store = new PostgresTokenCacheStore(pool, { provider, schema: 'public', table });
      const blob = dotnetCache([ALICE, BOB]);
      await context.writeRow(provider, table, 'shared', blob);
      const before = (await context.readRow(provider, table, 'shared'))!;
      const [removal] = await sweep(store, 'shared');
      t.equal(removal!.outcome, 'removed');
      t.equal(removal!.removedEntries, 5);
      const after = (await context.readRow(provider, table, 'shared'))!;
      t.same([after.expires, after.sliding, after.absolute], [before.expires, before.sliding, before.absolute], 'expiry columns untouched');
      const left = JSON.parse(after.value.toString()) as Record<string, Record<string, unknown>>;
      const bobKey = `${dotnetHomeAccountId(BOB)}-login.windows.net-${BOB.utid}`;
      t.same(Object.keys(left.Account!), [bobKey]);
      t.ok(after.value.toString().includes(JSON.stringify((JSON.parse(blob) as typeof left).Account![bobKey])), "bob's account entry byte for byte");
    });

    t.test(`postgres (${provider}): a row left without an account is deleted; an encrypted row of one account too; an absent row is not_present`, async (t) => {
      const table = await context.table(provider);
      const store = new PostgresTokenCacheStore(pool, { provider, schema: 'public', table });
      await context.writeRow(provider, table, `app:${alice}`, dotnetCache([ALICE]));
      const [removed] = await sweep(store, 'app:{homeAccountId}');
      t.same([removed!.outcome, removed!.partitionDeleted], ['removed', true]);
      t.equal(await context.readRow(provider, table, `app:${alice}`), undefined, 'the row is gone');
      await context.writeRow(provider, table, `enc:${alice}`, Buffer.concat([Buffer.from([0x09, 0xf0, 0xc9, 0xf0]), Buffer.alloc(40, 1)]));
      const [encrypted] = await sweep(store, 'enc:{homeAccountId}');
      t.same([encrypted!.outcome, encrypted!.detail], ['removed', 'encrypted partition deleted']);
      t.equal(await context.readRow(provider, table, `enc:${alice}`), undefined);
      const [absent] = await sweep(store, 'none:{homeAccountId}');
      t.equal(absent!.outcome, 'not_present');
    });

    t.test(`postgres (${provider}): a value that is not JSON is skipped and never written`, async (t) => {
      const table = await context.table(provider);
      const store = new PostgresTokenCacheStore(pool, { provider, schema: 'public', table });
      await context.writeRow(provider, table, 'junk', 'not json at all');
      const [removal] = await sweep(store, 'junk');
      t.same([removal!.outcome, removal!.detail], ['skipped', 'the partition is not JSON']);
      t.equal((await context.readRow(provider, table, 'junk'))!.value.toString(), 'not json at all');
    });

    t.test(`postgres (${provider}): a value that is not strict UTF-8, begins with a BOM or has bytes after its JSON is skipped with the reason, and left as it was`, async (t) => {
      const table = await context.table(provider);
      const store = new PostgresTokenCacheStore(pool, { provider, schema: 'public', table });
      for (const [what, bytes, reason] of damagedPartitions(dotnetCache([ALICE, BOB]))) {
        await context.writeRow(provider, table, `damaged:${alice}`, bytes);
        const [removal] = await sweep(store, 'damaged:{homeAccountId}');
        t.match(removal, { outcome: 'skipped', detail: reason }, what);
        t.ok((await context.readRow(provider, table, `damaged:${alice}`))!.value.equals(bytes), `${what}: the row is untouched`);
      }
    });

    t.test(`postgres (${provider}): an app's write between the read and the write wins, and the removal is done again on it`, async (t) => {
      const table = await context.table(provider);
      const store = new PostgresTokenCacheStore(pool, { provider, schema: 'public', table });
      await context.writeRow(provider, table, 'race', dotnetCache([ALICE, BOB]));
      const update = await store.readForUpdate('race');
      const carol = { uid: 'cccccccc-0000-4000-8000-00000000000c', utid: BOB.utid, name: 'Carol' };
      await context.writeRow(provider, table, 'race', dotnetCache([ALICE, BOB, carol]));
      t.equal(await update.write(Buffer.from('{}')), false, 'refused: the row changed since the read');
      const [removal] = await sweep(store, 'race');
      t.equal(removal!.outcome, 'removed');
      const left = JSON.parse((await context.readRow(provider, table, 'race'))!.value.toString()) as { Account: Record<string, unknown> };
      t.equal(Object.keys(left.Account).length, 2, "bob and carol: the app's write kept, alice not back");
    });
  }

  t.test("postgres (microsoft): the table name is folded to lower case, as the provider's unquoted SQL leaves it", async (t) => {
    const table = await context.table('microsoft');
    const store = new PostgresTokenCacheStore(pool, { provider: 'microsoft', schema: 'public', table: table.toUpperCase() });
    await context.writeRow('microsoft', table, 'fold', dotnetCache([ALICE]));
    t.equal((await sweep(store, 'fold'))[0]!.outcome, 'removed');
  });

  t.test('postgres: a table that does not exist fails the removal (retried), and other apps go on', async (t) => {
    const store = new PostgresTokenCacheStore(pool, { provider: 'community', schema: 'public', table: 'lr_test_no_such_table' });
    const [removal] = await sweep(store, 'x');
    t.equal(removal!.outcome, 'failed');
    t.match(removal!.detail, /does not exist/);
  });

  t.test('postgres: PostgreSQL unreachable fails the removal (retried), and nothing is written', async (t) => {
    const port = await freePort();
    const down = new pg.Pool({ connectionString: `postgresql://root@127.0.0.1:${port}/test`, connectionTimeoutMillis: 1_000 });
    t.teardown(() => down.end());
    const store = new PostgresTokenCacheStore(down, { provider: 'microsoft', schema: 'public', table: 'token_cache' });
    const [removal] = await sweep(store, 'x');
    t.equal(removal!.outcome, 'failed');
    await t.rejects(store.ping());
  });
}
