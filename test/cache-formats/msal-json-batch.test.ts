import t from 'tap';
import { removeAccountFromPartition, removeAccountsFromPartition } from '../../src/cache-formats/msal-json.js';
import type { PartitionRemoval } from '../../src/core/token-cache.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { FakeEntra, MsalWebApp, type EntraUser } from '../../simulators/msal-app.js';
import { ORDERS, TENANT_A } from '../helpers/service.js';

const SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken'] as const;
type Blob = Record<string, Record<string, unknown>>;

const user = (oid: string, name: string): EntraUser => ({ oid, homeTenant: TENANT_A, name, sid: `sid-${name}` });
const ALICE = user('aaaaaaaa-0000-4000-8000-000000000001', 'Alice');
const USERS = [
  ALICE,
  user('bbbbbbbb-0000-4000-8000-000000000002', 'Bob'),
  user('cccccccc-0000-4000-8000-000000000003', 'Carol'),
  user('dddddddd-0000-4000-8000-000000000004', 'Dave'),
  // Eve's homeAccountId contains Alice's whole (MSAL's substring match would take her with Alice).
  user(`e${ALICE.oid}`, 'Eve'),
  user('ffffffff-0000-4000-8000-000000000006', 'Frank'),
];

/** One shared partition that msal-node itself wrote as these users signed in to one app. */
async function sharedPartition(): Promise<{ blob: Blob; ids: string[] }> {
  const store = new MemoryTokenCacheStore();
  const web = new MsalWebApp(ORDERS, 'shared', store, new FakeEntra());
  const ids: string[] = [];
  for (const u of USERS) ids.push((await web.signIn(u)).homeAccountId);
  return { blob: JSON.parse((await store.get('shared'))!) as Blob, ids };
}

const ownedBy = (entry: unknown, id: string): boolean => typeof entry === 'object' && entry !== null && String((entry as { home_account_id?: unknown }).home_account_id).toLowerCase() === id.toLowerCase();

/** The same removals, one call per account, each on the blob the previous one left. */
async function oneByOne(blob: string, ids: string[]) {
  const results = [];
  let current: string | null = blob;
  for (const id of ids) {
    const { next, ...result }: PartitionRemoval = await removeAccountFromPartition(current!, id);
    results.push(result);
    if (next !== undefined) current = next;
  }
  return { results, final: current };
}

t.test('a batch removal gives what the same removals one by one give: same final blob, same removed keys and outcomes', async (t) => {
  const { blob, ids } = await sharedPartition();
  const [alice, bob, carol, dave, eve] = ids as [string, string, string, string, string];
  t.ok(eve.includes(alice), "eve's id contains alice's");
  // The traps, as mixed real caches hold them: carol under another alias, dave's owner fields in upper
  // case, and a malformed entry of nobody's.
  for (const s of SECTIONS)
    for (const [key, entry] of Object.entries(blob[s]!)) {
      if (ownedBy(entry, carol)) {
        delete blob[s]![key];
        blob[s]![key.replace('-login.windows.net-', '-login.microsoftonline.com-')] = { ...(entry as object), environment: 'login.microsoftonline.com' };
      }
      if (ownedBy(entry, dave)) (entry as { home_account_id: string }).home_account_id = dave.toUpperCase();
    }
  blob.AccessToken!['not-an-entry'] = null;
  const input = JSON.stringify(blob);

  const batch = [alice, carol, dave.toUpperCase(), 'absent-0000.' + TENANT_A, alice, bob.toUpperCase()];
  const expected = await oneByOne(input, batch);
  const got = await removeAccountsFromPartition(input, batch);

  t.same(got.accounts, expected.results, 'each account: same outcome, removed keys (in order) and detail');
  t.equal(got.next, expected.final, 'the same final blob, byte for byte');
  t.same(
    got.accounts.map((r) => [r.outcome, r.removedKeys.length]),
    [
      ['removed', 4],
      ['removed', 4],
      ['removed', 4],
      ['not_present', 0],
      ['not_present', 0],
      ['removed', 4],
    ],
    'the repeated id finds nothing left',
  );
  const next = JSON.parse(got.next!) as Blob;
  t.same(
    Object.values(next.Account!).map((a) => (a as { home_account_id: string }).home_account_id),
    [eve, ids[5]],
    'eve and frank remain',
  );
  for (const s of SECTIONS) for (const [key, entry] of Object.entries(blob[s]!)) if (ownedBy(entry, eve) || ownedBy(entry, ids[5]!) || entry === null) t.equal(JSON.stringify(next[s]![key]), JSON.stringify(entry), `${s} ${key} kept`);
});

t.test('a batch removing every account of the partition deletes it; so do the removals one by one', async (t) => {
  const { blob, ids } = await sharedPartition();
  const input = JSON.stringify(blob);
  const got = await removeAccountsFromPartition(input, ids);
  t.equal(got.next, null);
  t.same(got.accounts, (await oneByOne(input, ids)).results);
  t.ok(got.accounts.every((r) => r.outcome === 'removed' && r.removedKeys.length === 4));
});

t.test('a batch that finds none of its accounts changes nothing; data that is not a cache is skipped for every account', async (t) => {
  const { blob } = await sharedPartition();
  const none = await removeAccountsFromPartition(JSON.stringify(blob), ['absent-1.' + TENANT_A, 'absent-2.' + TENANT_A]);
  t.equal(none.next, undefined);
  t.same(none.accounts, [
    { outcome: 'not_present', removedKeys: [] },
    { outcome: 'not_present', removedKeys: [] },
  ]);
  const foreign = await removeAccountsFromPartition('{"Account": []}', ['a.b', 'c.d']);
  t.equal(foreign.next, undefined);
  t.same(
    foreign.accounts.map((r) => r.outcome),
    ['skipped', 'skipped'],
  );
  t.match(foreign.accounts[1]!.detail, /Account section is not an object/);
  await t.rejects(removeAccountsFromPartition(JSON.stringify(blob), ['a.b', '']), /homeAccountId is empty/);
});
