import t from 'tap';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { removeAccountFromPartition } from '../../src/core/msal-cache-partition.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { FakeEntra, MsalWebApp } from '../helpers/msal-app.js';
import { ORDERS, TENANT_A } from '../helpers/service.js';

type Blob = Record<string, Record<string, Record<string, unknown> | unknown>>;
const SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken'];

/** A partition msal-node itself wrote, holding Alice and Bob (Entra caches them under login.windows.net). */
async function twoAccounts(): Promise<{ blob: string; alice: string; bob: string }> {
  const store = new MemoryTokenCacheStore();
  const web = new MsalWebApp(ORDERS, 'shared', store, new FakeEntra());
  const alice = await web.signIn({ oid: 'aaaaaaaa-0000-4000-8000-000000000001', homeTenant: TENANT_A, name: 'Alice', sid: 's1' });
  const bob = await web.signIn({ oid: 'bbbbbbbb-0000-4000-8000-000000000002', homeTenant: TENANT_A, name: 'Bob', sid: 's2' });
  return { blob: (await store.get('shared'))!, alice: alice.homeAccountId, bob: bob.homeAccountId };
}

/** The accounts a real ConfidentialClientApplication finds in a blob. */
async function msalAccounts(blob: string): Promise<string[]> {
  const cache = new ConfidentialClientApplication({ auth: { clientId: ORDERS, clientSecret: 'x' } }).getTokenCache();
  cache.deserialize(blob);
  return (await cache.getAllAccounts()).map((a) => a.homeAccountId);
}

const entriesOf = (blob: Blob, id: string) =>
  SECTIONS.flatMap((s) => Object.entries(blob[s] ?? {}).filter(([, e]) => String((e as { home_account_id?: string })?.home_account_id).toLowerCase() === id.toLowerCase()).map(([k, e]) => [`${s}/${k}`, JSON.stringify(e)]));

/** Moves some of an account's entries to another environment alias, keys and fields, as a mixed cache holds them. */
function moveToEnvironment(blob: Blob, id: string, from: string, to: string, sections: string[]): Blob {
  for (const s of sections)
    for (const [key, entry] of Object.entries(blob[s] ?? {})) {
      if ((entry as { home_account_id?: string }).home_account_id !== id) continue;
      delete blob[s]![key];
      blob[s]![key.replace(from, to)] = { ...(entry as object), environment: to };
    }
  return blob;
}

t.test('removes the account with its id, access and refresh tokens; the other account stays byte for byte', async (t) => {
  const { blob, alice, bob } = await twoAccounts();
  const before = JSON.parse(blob) as Blob;
  t.equal(entriesOf(before, alice).length, 4);
  const result = await removeAccountFromPartition(blob, alice);
  t.equal(result.outcome, 'removed');
  t.equal(result.removedKeys.length, 4, 'account, id token, access token, refresh token');
  const after = JSON.parse(result.next!) as Blob;
  t.same(entriesOf(after, alice), []);
  t.same(entriesOf(after, bob), entriesOf(before, bob), "bob's entries are unchanged, byte for byte");
  t.same(await msalAccounts(result.next!), [bob], 'msal-node finds bob only');
});

t.test("environment trap: MSAL's removeAccount alone leaves entries under another alias; ours removes them all", async (t) => {
  const { blob, alice, bob } = await twoAccounts();
  const mixed = JSON.stringify(moveToEnvironment(JSON.parse(blob), alice, 'login.windows.net', 'login.microsoftonline.com', ['AccessToken', 'RefreshToken']));
  // The trap itself, shown with MSAL alone: removing the account it reports leaves the other alias behind.
  const cache = new ConfidentialClientApplication({ auth: { clientId: ORDERS, clientSecret: 'x' } }).getTokenCache();
  cache.deserialize(mixed);
  const account = (await cache.getAllAccounts()).find((a) => a.homeAccountId === alice)!;
  await cache.removeAccount(account);
  t.ok(entriesOf(JSON.parse(cache.serialize()), alice).length > 0, "MSAL's removeAccount leaves alice's tokens under login.microsoftonline.com");

  const result = await removeAccountFromPartition(mixed, alice);
  t.equal(result.removedKeys.length, 4);
  t.same(entriesOf(JSON.parse(result.next!), alice), [], 'nothing of alice is left under any alias');
  t.same(await msalAccounts(result.next!), [bob]);
});

t.test('environment trap: the account itself under two aliases at once', async (t) => {
  const { blob, alice } = await twoAccounts();
  const parsed = JSON.parse(blob) as Blob;
  for (const [key, entry] of Object.entries(parsed.Account!))
    if ((entry as { home_account_id: string }).home_account_id === alice)
      parsed.Account![key.replace('login.windows.net', 'login.microsoft.com')] = { ...(entry as object), environment: 'login.microsoft.com' };
  const result = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  t.equal(result.removedKeys.length, 5);
  t.same(entriesOf(JSON.parse(result.next!), alice), []);
});

t.test('letter-case trap: the homeAccountId in another case than the blob, or the blob in another case than its keys', async (t) => {
  const { blob, alice, bob } = await twoAccounts();
  const upper = await removeAccountFromPartition(blob, alice.toUpperCase());
  t.equal(upper.removedKeys.length, 4);
  t.same(await msalAccounts(upper.next!), [bob]);

  const parsed = JSON.parse(blob) as Blob;
  for (const s of SECTIONS)
    for (const entry of Object.values(parsed[s]!)) {
      const e = entry as { home_account_id: string };
      if (e.home_account_id === alice) e.home_account_id = alice.toUpperCase();
    }
  const fields = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  t.equal(fields.removedKeys.length, 4);
  t.same(entriesOf(JSON.parse(fields.next!), alice), []);
});

t.test('a malformed entry elsewhere does not stop the removal and is itself kept', async (t) => {
  const { blob, alice, bob } = await twoAccounts();
  const parsed = JSON.parse(blob) as Blob;
  parsed.AccessToken!['broken-null'] = null;
  parsed.AccessToken!['broken-string'] = 'not an entry';
  parsed.RefreshToken!['broken-empty'] = {};
  parsed.Account!['broken-number'] = 42;
  const result = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  t.equal(result.outcome, 'removed');
  const after = JSON.parse(result.next!) as Blob;
  t.same(entriesOf(after, alice), []);
  t.equal(after.AccessToken!['broken-null'], null);
  t.equal(after.AccessToken!['broken-string'], 'not an entry');
  t.same(after.RefreshToken!['broken-empty'], {});
  t.equal(after.Account!['broken-number'], 42);
  t.same(entriesOf(after, bob), entriesOf(parsed, bob));
});

t.test('unknown fields and sections survive', async (t) => {
  const { blob, alice, bob } = await twoAccounts();
  const parsed = JSON.parse(blob) as Blob & { Custom?: unknown };
  parsed.Custom = { anything: [1, 2] };
  for (const entry of Object.values(parsed.Account!)) (entry as Record<string, unknown>).x_future_field = 'kept';
  const result = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  const after = JSON.parse(result.next!) as typeof parsed;
  t.same(after.Custom, { anything: [1, 2] });
  t.same(entriesOf(after, bob), entriesOf(parsed, bob));
  t.same(after.AppMetadata, parsed.AppMetadata);
});

t.test('the last account removed: the partition is to be deleted', async (t) => {
  const { blob, alice, bob } = await twoAccounts();
  const first = await removeAccountFromPartition(blob, alice);
  const last = await removeAccountFromPartition(first.next!, bob);
  t.equal(last.outcome, 'removed');
  t.equal(last.next, null);
});

t.test('an absent account is not_present and nothing is rewritten', async (t) => {
  const { blob } = await twoAccounts();
  const result = await removeAccountFromPartition(blob, 'cccccccc-0000-4000-8000-000000000003.' + TENANT_A);
  t.same(result, { outcome: 'not_present', removedKeys: [] });
  t.same(await removeAccountFromPartition('{}', 'a.b'), { outcome: 'not_present', removedKeys: [] }, 'an empty cache');
});

t.test('data that is not an msal-node cache is skipped and never rewritten', async (t) => {
  for (const foreign of ['not json', '[1,2]', '"text"', 'null', '{"Account":[]}', '{"AccessToken":"x"}', '{"AppMetadata":5}']) {
    const result = await removeAccountFromPartition(foreign, 'a.b');
    t.equal(result.outcome, 'skipped', foreign);
    t.equal(result.next, undefined, `${foreign}: nothing to write`);
    t.type(result.detail, 'string');
  }
});

t.test('an account whose id is a substring of another is not confused with it', async (t) => {
  const { blob, alice, bob } = await twoAccounts();
  const result = await removeAccountFromPartition(blob, alice.slice(4));
  t.equal(result.outcome, 'not_present');
  t.same((await msalAccounts(blob)).sort(), [alice, bob].sort());
});
