import t from 'tap';
import { ConfidentialClientApplication, type INetworkModule, type NetworkResponse } from '@azure/msal-node';
import { removeAccountFromPartition } from '../../src/cache-formats/msal-json.js';

/*
 * Every blob here is written by msal-node itself: a real ConfidentialClientApplication redeems an
 * authorization code against an offline token endpoint (below) and its cache is serialized. Entra's
 * instance-discovery answer is given as configuration, with Entra's real alias list, which makes msal-node
 * cache under `login.windows.net` — as real Entra caches do.
 */

const CLIENT_ID = '6731de76-14a6-49ae-97bc-6eba6914391e';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const ALIASES = ['login.microsoftonline.com', 'login.windows.net', 'login.microsoft.com', 'sts.windows.net'];
const SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken'] as const;

const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

interface User {
  oid: string;
  name: string;
}

/** Entra's token endpoint, offline: answers the code redemption for the user the code names. */
class OfflineEntra implements INetworkModule {
  readonly users = new Map<string, User>();
  async sendGetRequestAsync<T>(): Promise<NetworkResponse<T>> {
    throw new Error('no GET expected: discovery and metadata are configured');
  }
  async sendPostRequestAsync<T>(_url: string, options?: { body?: string }): Promise<NetworkResponse<T>> {
    const form = new URLSearchParams(options?.body ?? '');
    const user = this.users.get(form.get('code') ?? '');
    if (!user) return { status: 400, headers: {}, body: { error: 'invalid_grant' } as T };
    const now = Math.floor(Date.now() / 1000);
    const idToken = [
      b64url({ alg: 'RS256', typ: 'JWT', kid: 'k' }),
      b64url({ aud: CLIENT_ID, iss: `https://login.microsoftonline.com/${TENANT}/v2.0`, iat: now, nbf: now, exp: now + 3600, name: user.name, oid: user.oid, preferred_username: `${user.name.toLowerCase()}@example.test`, sub: `sub-${user.oid}`, tid: TENANT, ver: '2.0' }),
      'c2lnbmF0dXJl',
    ].join('.');
    const body = {
      token_type: 'Bearer',
      scope: 'https://graph.microsoft.com/User.Read',
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: `at-${user.oid}`,
      refresh_token: `rt-${user.oid}`,
      id_token: idToken,
      client_info: b64url({ uid: user.oid, utid: TENANT }),
    };
    return { status: 200, headers: { 'content-type': 'application/json' }, body: body as T };
  }
}

const cloudDiscoveryMetadata = JSON.stringify({
  tenant_discovery_endpoint: 'https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration',
  'api-version': '1.1',
  metadata: [{ preferred_network: 'login.microsoftonline.com', preferred_cache: 'login.windows.net', aliases: ALIASES }],
});
const authorityMetadata = JSON.stringify({
  token_endpoint: `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`,
  authorization_endpoint: `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/authorize`,
  end_session_endpoint: `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/logout`,
  issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`,
  jwks_uri: `https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`,
});

/** A partition msal-node wrote after these users signed in; with each user's homeAccountId as msal-node reports it. */
async function signedIn(...users: User[]): Promise<{ blob: string; ids: string[] }> {
  const entra = new OfflineEntra();
  const app = new ConfidentialClientApplication({
    auth: { clientId: CLIENT_ID, clientSecret: 'test-secret', authority: `https://login.microsoftonline.com/${TENANT}`, cloudDiscoveryMetadata, authorityMetadata },
    system: { networkClient: entra },
  });
  const ids: string[] = [];
  for (const user of users) {
    const code = `code-${user.oid}`;
    entra.users.set(code, user);
    const result = await app.acquireTokenByCode({ code, scopes: ['https://graph.microsoft.com/User.Read'], redirectUri: 'https://app.example.test/redirect' });
    ids.push(result.account!.homeAccountId);
  }
  return { blob: app.getTokenCache().serialize(), ids };
}

const ALICE = { oid: 'aaaaaaaa-0000-4000-8000-000000000001', name: 'Alice' };
const BOB = { oid: 'bbbbbbbb-0000-4000-8000-000000000002', name: 'Bob' };

async function aliceAndBob(): Promise<{ blob: string; alice: string; bob: string }> {
  const { blob, ids } = await signedIn(ALICE, BOB);
  return { blob, alice: ids[0]!, bob: ids[1]! };
}

type Blob = Record<string, Record<string, unknown>>;
const parse = (blob: string): Blob => JSON.parse(blob) as Blob;
const owner = (entry: unknown): string | undefined => (typeof entry === 'object' && entry !== null && typeof (entry as { home_account_id?: unknown }).home_account_id === 'string' ? (entry as { home_account_id: string }).home_account_id.toLowerCase() : undefined);

/** An account's entries as `section/key` → the entry's JSON text, for byte-for-byte comparison. */
const entriesOf = (blob: Blob, id: string): Record<string, string> =>
  Object.fromEntries(
    SECTIONS.flatMap((s) =>
      Object.entries(blob[s] ?? {})
        .filter(([, e]) => owner(e) === id.toLowerCase())
        .map(([k, e]) => [`${s}/${k}`, JSON.stringify(e)]),
    ),
  );

/** What a real ConfidentialClientApplication finds after loading a blob. */
async function msalView(blob: string) {
  const cache = new ConfidentialClientApplication({ auth: { clientId: CLIENT_ID, clientSecret: 'x' } }).getTokenCache();
  cache.deserialize(blob);
  return { accounts: (await cache.getAllAccounts()).map((a) => a.homeAccountId), byHomeId: (id: string) => cache.getAccountByHomeId(id) };
}

/** Moves an account's entries in the given sections to another environment alias, key and field, as mixed caches hold them. */
function moveToEnvironment(blob: Blob, id: string, from: string, to: string, sections: readonly string[] = SECTIONS): Blob {
  for (const s of sections)
    for (const [key, entry] of Object.entries(blob[s] ?? {})) {
      if (owner(entry) !== id.toLowerCase()) continue;
      delete blob[s]![key];
      blob[s]![key.replace(`-${from}-`, `-${to}-`)] = { ...(entry as object), environment: to };
    }
  return blob;
}

t.test('msal-node writes the blobs these tests use: four entries per account under login.windows.net', async (t) => {
  const { blob, alice } = await aliceAndBob();
  const entries = entriesOf(parse(blob), alice);
  t.equal(Object.keys(entries).length, 4, 'account, id token, access token, refresh token');
  for (const key of Object.keys(entries)) t.match(key, /^\w+\/aaaaaaaa-0000-4000-8000-000000000001\.72f988bf-86f1-41af-91ab-2d7cd011db47-login\.windows\.net-/);
});

t.test('removes the account with its id, access and refresh tokens; the other account stays byte for byte', async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const before = parse(blob);
  const result = await removeAccountFromPartition(blob, alice);
  t.equal(result.outcome, 'removed');
  t.same(
    result.removedKeys.sort(),
    Object.keys(entriesOf(before, alice))
      .map((k) => k.slice(k.indexOf('/') + 1))
      .sort(),
    'exactly alice’s four keys',
  );
  t.equal(result.detail, undefined);
  const after = parse(result.next!);
  t.same(entriesOf(after, alice), {});
  t.same(entriesOf(after, bob), entriesOf(before, bob), "bob's entries are unchanged, byte for byte");
  t.same(after.AppMetadata, before.AppMetadata);
  const view = await msalView(result.next!);
  t.same(view.accounts, [bob], 'msal-node finds bob only');
  t.equal((await view.byHomeId(bob))?.name, 'Bob', 'getAccountByHomeId finds bob');
  t.equal(await view.byHomeId(alice), null, 'getAccountByHomeId no longer finds alice');
});

t.test("environment trap: alice under login.windows.net, bob under login.microsoftonline.com; MSAL's default call misses, ours removes", async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const mixed = JSON.stringify(moveToEnvironment(parse(blob), bob, 'login.windows.net', 'login.microsoftonline.com'));
  // The trap, with MSAL alone: an AccountInfo for login.microsoftonline.com (what the app's authority says) removes nothing of alice.
  const cache = new ConfidentialClientApplication({ auth: { clientId: CLIENT_ID, clientSecret: 'x' } }).getTokenCache();
  cache.deserialize(mixed);
  const info = (await cache.getAllAccounts()).find((a) => a.homeAccountId === alice)!;
  await cache.removeAccount({ ...info, environment: 'login.microsoftonline.com' });
  t.equal(Object.keys(entriesOf(parse(cache.serialize()), alice)).length, 4, 'MSAL removed nothing of alice');

  const result = await removeAccountFromPartition(mixed, alice);
  t.equal(result.removedKeys.length, 4);
  const after = parse(result.next!);
  t.same(entriesOf(after, alice), {});
  t.same(entriesOf(after, bob), entriesOf(parse(mixed), bob), 'bob, under login.microsoftonline.com, unchanged');
  t.same((await msalView(result.next!)).accounts, [bob]);
});

t.test("environment trap: alice's tokens under another alias than her account; MSAL's removeAccount alone leaves them", async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const mixed = JSON.stringify(moveToEnvironment(parse(blob), alice, 'login.windows.net', 'login.microsoftonline.com', ['AccessToken', 'RefreshToken']));
  const cache = new ConfidentialClientApplication({ auth: { clientId: CLIENT_ID, clientSecret: 'x' } }).getTokenCache();
  cache.deserialize(mixed);
  await cache.removeAccount((await cache.getAllAccounts()).find((a) => a.homeAccountId === alice)!);
  t.same(Object.keys(entriesOf(parse(cache.serialize()), alice)).length, 2, "MSAL's removeAccount leaves alice's tokens under login.microsoftonline.com");

  const result = await removeAccountFromPartition(mixed, alice);
  t.equal(result.removedKeys.length, 4);
  t.same(entriesOf(parse(result.next!), alice), {}, 'nothing of alice is left under any alias');
  t.same((await msalView(result.next!)).accounts, [bob]);
});

t.test('environment trap: the account under several aliases at once (login.microsoft.com, sts.windows.net)', async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const parsed = parse(blob);
  for (const alias of ['login.microsoft.com', 'sts.windows.net'])
    for (const s of SECTIONS) for (const [key, entry] of Object.entries(parsed[s]!)) if (owner(entry) === alice && key.includes('-login.windows.net-')) parsed[s]![key.replace('-login.windows.net-', `-${alias}-`)] = { ...(entry as object), environment: alias };
  t.equal(Object.keys(entriesOf(parsed, alice)).length, 12);
  t.equal((await msalView(JSON.stringify(parsed))).accounts.filter((id) => id === alice).length, 3, 'msal-node sees alice three times');
  const result = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  t.equal(result.removedKeys.length, 12);
  t.same(entriesOf(parse(result.next!), alice), {});
  t.same(entriesOf(parse(result.next!), bob), entriesOf(parsed, bob));
  t.same((await msalView(result.next!)).accounts, [bob]);
});

t.test('letter-case trap: the homeAccountId given in another case than the blob holds it', async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  for (const given of [alice.toUpperCase(), alice.slice(0, 10).toUpperCase() + alice.slice(10)]) {
    const result = await removeAccountFromPartition(blob, given);
    t.equal(result.removedKeys.length, 4, given);
    t.same(entriesOf(parse(result.next!), alice), {});
    t.same((await msalView(result.next!)).accounts, [bob]);
  }
});

t.test("letter-case trap: an upper-case uid in client_info; MSAL's removeAccount with its own AccountInfo removes nothing", async (t) => {
  // msal-node keeps home_account_id as client_info has it but lower-cases the cache keys.
  const { blob, ids } = await signedIn({ oid: 'AAAAAAAA-0000-4000-8000-00000000000A', name: 'Alice' }, BOB);
  const [alice, bob] = ids as [string, string];
  t.equal(alice, 'AAAAAAAA-0000-4000-8000-00000000000A.' + TENANT);
  const cache = new ConfidentialClientApplication({ auth: { clientId: CLIENT_ID, clientSecret: 'x' } }).getTokenCache();
  cache.deserialize(blob);
  await cache.removeAccount((await cache.getAllAccounts()).find((a) => a.homeAccountId === alice)!);
  t.equal(Object.keys(entriesOf(parse(cache.serialize()), alice)).length, 4, 'MSAL alone removed nothing');

  for (const given of [alice, alice.toLowerCase()]) {
    const result = await removeAccountFromPartition(blob, given);
    t.equal(result.removedKeys.length, 4, given);
    t.same(entriesOf(parse(result.next!), alice), {});
    t.same(entriesOf(parse(result.next!), bob), entriesOf(parse(blob), bob));
    t.same((await msalView(result.next!)).accounts, [bob]);
  }
});

t.test('letter-case trap: home_account_id fields in another case than the keys', async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const parsed = parse(blob);
  for (const s of SECTIONS) for (const entry of Object.values(parsed[s]!)) if (owner(entry) === alice) (entry as { home_account_id: string }).home_account_id = alice.toUpperCase();
  const result = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  t.equal(result.removedKeys.length, 4);
  t.same(entriesOf(parse(result.next!), alice), {});
  t.same((await msalView(result.next!)).accounts, [bob]);
});

t.test('a malformed entry elsewhere (null, string, number, empty, fields missing) does not stop the removal and is itself kept', async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const parsed = parse(blob);
  parsed.AccessToken!['broken-null'] = null;
  parsed.AccessToken!['broken-string'] = 'not an entry';
  parsed.RefreshToken!['broken-empty'] = {};
  parsed.IdToken!['broken-fields'] = { credential_type: 'IdToken' };
  parsed.Account!['broken-number'] = 42;
  const input = JSON.stringify(parsed);
  await t.rejects(async () => msalView(input), 'msal-node itself cannot load this blob (a null entry)');
  const result = await removeAccountFromPartition(input, alice);
  t.equal(result.outcome, 'removed');
  t.equal(result.removedKeys.length, 4);
  const after = parse(result.next!);
  t.same(entriesOf(after, alice), {});
  for (const [s, k] of [
    ['AccessToken', 'broken-null'],
    ['AccessToken', 'broken-string'],
    ['RefreshToken', 'broken-empty'],
    ['IdToken', 'broken-fields'],
    ['Account', 'broken-number'],
  ] as const)
    t.equal(JSON.stringify(after[s]![k]), JSON.stringify(parsed[s]![k]), `${s}/${k} kept as it was`);
  t.same(entriesOf(after, bob), entriesOf(parsed, bob));
});

t.test("another account's entry that makes msal-node throw does not stop the removal and is kept byte for byte", async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const parsed = parse(blob);
  for (const entry of Object.values(parsed.Account!)) if (owner(entry) === bob) (entry as Record<string, unknown>).tenantProfiles = 'not an array';
  const input = JSON.stringify(parsed);
  await t.rejects(async () => msalView(input), 'msal-node cannot load the whole blob');
  const result = await removeAccountFromPartition(input, alice);
  t.equal(result.removedKeys.length, 4);
  t.equal(result.detail, undefined, 'MSAL still judged alice: it only sees her entries');
  t.same(entriesOf(parse(result.next!), alice), {});
  t.same(entriesOf(parse(result.next!), bob), entriesOf(parsed, bob));
});

t.test("the account's own entry malformed so that msal-node throws on it: removed all the same (no MSAL library on the path)", async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const parsed = parse(blob);
  for (const entry of Object.values(parsed.Account!)) if (owner(entry) === alice) (entry as Record<string, unknown>).tenantProfiles = ['{not json'];
  const result = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  t.equal(result.outcome, 'removed');
  t.equal(result.removedKeys.length, 4);
  t.equal(result.detail, undefined);
  t.same(entriesOf(parse(result.next!), alice), {});
  t.same((await msalView(result.next!)).accounts, [bob]);
});

t.test("an account whose id contains the removed one is untouched (MSAL's substring match would take it)", async (t) => {
  // eve's uid ends with alice's whole homeAccountId's uid part, so eve's keys contain alice's homeAccountId.
  const { blob, ids } = await signedIn(ALICE, { oid: 'e' + ALICE.oid, name: 'Eve' });
  const [alice, eve] = ids as [string, string];
  t.ok(eve.includes(alice));
  const cache = new ConfidentialClientApplication({ auth: { clientId: CLIENT_ID, clientSecret: 'x' } }).getTokenCache();
  cache.deserialize(blob);
  await cache.removeAccount((await cache.getAllAccounts()).find((a) => a.homeAccountId === alice)!);
  t.same(entriesOf(parse(cache.serialize()), eve), {}, "MSAL's removeAccount alone also removes eve");

  const result = await removeAccountFromPartition(blob, alice);
  t.equal(result.removedKeys.length, 4);
  t.same(entriesOf(parse(result.next!), eve), entriesOf(parse(blob), eve), 'eve unchanged');
  t.same((await msalView(result.next!)).accounts, [eve]);
  t.equal((await removeAccountFromPartition(blob, alice.slice(4))).outcome, 'not_present', 'a part of an id matches nothing');
});

t.test('unknown fields and sections survive; AppMetadata is untouched', async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const parsed = parse(blob) as Blob & { Custom?: unknown; AppMetadata: Record<string, unknown> };
  parsed.Custom = { anything: [1, 2] };
  parsed.AppMetadata['appmetadata-login.windows.net-' + CLIENT_ID] = { client_id: CLIENT_ID, environment: 'login.windows.net', family_id: '1' };
  for (const s of SECTIONS) for (const entry of Object.values(parsed[s]!)) (entry as Record<string, unknown>).x_future_field = { kept: true };
  const result = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  const after = parse(result.next!) as typeof parsed;
  t.same(after.Custom, { anything: [1, 2] });
  t.equal(JSON.stringify(after.AppMetadata), JSON.stringify(parsed.AppMetadata));
  t.same(entriesOf(after, bob), entriesOf(parsed, bob), "bob's entries, with their unknown field, byte for byte");
  t.same(Object.keys(after), Object.keys(parsed), 'same sections, same order');
});

t.test('the last account removed: next is null (delete the partition)', async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const first = await removeAccountFromPartition(blob, alice);
  const last = await removeAccountFromPartition(first.next!, bob);
  t.equal(last.outcome, 'removed');
  t.equal(last.removedKeys.length, 4);
  t.equal(last.next, null);
  const { blob: single, ids } = await signedIn(ALICE);
  t.equal((await removeAccountFromPartition(single, ids[0]!)).next, null, 'a partition of one account');
});

t.test('an absent account is not_present and nothing is rewritten', async (t) => {
  const { blob } = await aliceAndBob();
  t.same(await removeAccountFromPartition(blob, `cccccccc-0000-4000-8000-000000000003.${TENANT}`), { outcome: 'not_present', removedKeys: [] });
  t.same(await removeAccountFromPartition('{}', 'a.b'), { outcome: 'not_present', removedKeys: [] }, 'an empty cache');
  t.same(await removeAccountFromPartition('{"Account":{},"IdToken":{},"AccessToken":{},"RefreshToken":{},"AppMetadata":{}}', 'a.b'), { outcome: 'not_present', removedKeys: [] });
});

t.test('data that is not an msal-node cache is skipped and never rewritten', async (t) => {
  for (const foreign of ['not json', '', '[1,2]', '"text"', 'null', '42', '{"Account":[]}', '{"Account":null}', '{"IdToken":"x"}', '{"AccessToken":"x"}', '{"RefreshToken":[1]}', '{"AppMetadata":5}']) {
    const result = await removeAccountFromPartition(foreign, 'a.b');
    t.equal(result.outcome, 'skipped', JSON.stringify(foreign));
    t.equal(result.next, undefined, `${JSON.stringify(foreign)}: nothing to write`);
    t.same(result.removedKeys, []);
    t.type(result.detail, 'string');
  }
  const { blob, alice } = await aliceAndBob();
  const withBadSection = JSON.stringify({ ...parse(blob), RefreshToken: ['x'] });
  const result = await removeAccountFromPartition(withBadSection, alice);
  t.equal(result.outcome, 'skipped', 'even when the account is there');
  t.equal(result.next, undefined);
  t.match(result.detail, /RefreshToken/);
});

t.test('an empty homeAccountId is refused rather than matched against entries without an owner', async (t) => {
  await t.rejects(removeAccountFromPartition('{}', ''), TypeError);
});

t.test('unified schema: an account entry in a section MSAL does not know (yet) goes, the others there stay byte for byte', async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const parsed = parse(blob) as Blob & { FutureCredential?: Record<string, unknown>; Version?: unknown };
  parsed.FutureCredential = {
    [`${alice}-login.windows.net-futurecredential-${CLIENT_ID}`]: { home_account_id: alice, credential_type: 'FutureCredential' },
    'no-owner-at-all': { environment: 'login.windows.net' },
    [`${bob}-login.windows.net-futurecredential-${CLIENT_ID}`]: { home_account_id: bob, credential_type: 'FutureCredential' },
  };
  parsed.Version = 3;
  const result = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  t.equal(result.removedKeys.length, 5, 'her four entries and the unknown one');
  const after = parse(result.next!) as typeof parsed;
  t.same(Object.keys(after.FutureCredential!), ['no-owner-at-all', `${bob}-login.windows.net-futurecredential-${CLIENT_ID}`]);
  t.equal(JSON.stringify(after.FutureCredential![`${bob}-login.windows.net-futurecredential-${CLIENT_ID}`]), JSON.stringify(parsed.FutureCredential[`${bob}-login.windows.net-futurecredential-${CLIENT_ID}`]));
  t.equal(after.Version, 3, 'a member that is not a section stays');
});

t.test('unified schema: an entry goes when its key starts with the account, whatever its owner field says, or when its owner field names the account, whatever its key', async (t) => {
  const { blob, alice, bob } = await aliceAndBob();
  const parsed = parse(blob);
  parsed.AccessToken![`${alice.toUpperCase()}-login.windows.net-accesstoken-other`] = { home_account_id: bob, credential_type: 'AccessToken' };
  parsed.AccessToken!['a-key-of-no-account'] = { home_account_id: alice.toUpperCase(), credential_type: 'AccessToken' };
  const result = await removeAccountFromPartition(JSON.stringify(parsed), alice);
  t.equal(result.removedKeys.length, 6);
  const after = parse(result.next!);
  t.notOk(`${alice.toUpperCase()}-login.windows.net-accesstoken-other` in after.AccessToken!, 'keyed by her');
  t.notOk('a-key-of-no-account' in after.AccessToken!, 'owned by her');
  t.same(entriesOf(after, bob), entriesOf(parse(blob), bob), "bob's own entries stay");
});

t.test("for caches msal-node wrote, the result is what msal-node's own removeAccount leaves when called for every alias the blob holds", async (t) => {
  const { blob, alice } = await aliceAndBob();
  // alice under two aliases: her account and id token under login.microsoftonline.com, her tokens under login.windows.net.
  const mixed = JSON.stringify(moveToEnvironment(parse(blob), alice, 'login.windows.net', 'login.microsoftonline.com', ['Account', 'IdToken']));
  const ours = await removeAccountFromPartition(mixed, alice);
  const cache = new ConfidentialClientApplication({ auth: { clientId: CLIENT_ID, clientSecret: 'x' } }).getTokenCache();
  cache.deserialize(mixed);
  const info = (await cache.getAllAccounts()).find((a) => a.homeAccountId === alice)!;
  for (const environment of new Set(
    Object.values(parse(mixed))
      .flatMap((s) => Object.values(s).map((e) => (e as { environment?: string }).environment))
      .filter((e): e is string => !!e),
  ))
    await cache.removeAccount({ ...info, environment });
  const theirs = parse(cache.serialize());
  const oursParsed = parse(ours.next!);
  for (const s of SECTIONS) t.same(Object.keys(oursParsed[s] ?? {}).sort(), Object.keys(theirs[s] ?? {}).sort(), `${s}: the same keys left`);
});
