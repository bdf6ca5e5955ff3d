import t from 'tap';
import fc from 'fast-check';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { removeAccountsFromPartition } from '../../src/cache-formats/msal-json.js';
import { cacheArbitrary, DIALECTS, type GeneratedCache } from '../helpers/msal-dialects.js';
import { msalPython, msalPythonAvailable, requireMsalPython, type AccountsAnswer } from '../helpers/msal-python.js';

// The removal over the unified MSAL schema, held against generated caches of the four MSAL dialects (with
// several accounts, aliases, letter cases, unknown entry types and sections, and a malformed entry
// elsewhere), and against the two MSAL libraries that run here reading what it leaves.

type Parsed = Record<string, unknown>;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every entry of every object section as `section key` → its JSON text, and the other members as they are. */
function entryTexts(parsed: Parsed): Map<string, string> {
  const texts = new Map<string, string>();
  for (const [name, section] of Object.entries(parsed))
    if (isObject(section)) for (const [key, entry] of Object.entries(section)) texts.set(`${name} ${key}`, JSON.stringify(entry));
    else texts.set(name, JSON.stringify(section));
  return texts;
}

/** What msal-node lists for a blob (as a set of homeAccountIds, lower-cased), or undefined when it cannot read it. */
async function msalNodeAccounts(blob: string): Promise<Set<string> | undefined> {
  const cache = new ConfidentialClientApplication({ auth: { clientId: '00000000-0000-0000-0000-000000000000', clientSecret: 'x' } }).getTokenCache();
  try {
    cache.deserialize(blob);
  } catch {
    return undefined;
  }
  return new Set((await cache.getAllAccounts()).map((a) => a.homeAccountId.toLowerCase()));
}

const chosen = (dialect: (typeof DIALECTS)[number]) =>
  cacheArbitrary(dialect).chain((cache) => fc.record({ cache: fc.constant(cache), index: fc.nat({ max: cache.accounts.length - 1 }), laidOut: fc.boolean() }));

/** The removal of one generated account, checked against the rule; returns what it left (null: the partition goes). */
async function removeAndCheck(cache: GeneratedCache, index: number, laidOut: boolean): Promise<string | null> {
  const account = cache.accounts[index]!.homeAccountId;
  const mine = new Set((cache.keysByAccount[account.toLowerCase()] ?? []).map((e) => `${e.section} ${e.key}`));
  const input = entryTexts(JSON.parse(cache.blob) as Parsed);
  const { accounts, next } = await removeAccountsFromPartition(cache.blob, [account], { layoutFrom: laidOut ? 0 : Infinity });
  if (accounts[0]!.outcome !== 'removed') throw new Error(`not removed: ${accounts[0]!.outcome} ${accounts[0]!.detail ?? ''}`);
  if (accounts[0]!.removedKeys.length !== mine.size) throw new Error(`removed ${accounts[0]!.removedKeys.length} entries, the account has ${mine.size}`);
  const keptInput = [...input].filter(([id]) => !mine.has(id));
  const accountsLeft = keptInput.filter(([id]) => id.startsWith('Account ')).length;
  if (accountsLeft === 0) {
    if (next !== null) throw new Error('no account left, yet the partition is kept');
    return null;
  }
  if (typeof next !== 'string') throw new Error('an account is left, yet the partition is not rewritten');
  const output = entryTexts(JSON.parse(next) as Parsed);
  for (const id of mine) if (output.has(id)) throw new Error(`an entry of the account is left: ${id}`);
  for (const [id, text] of keptInput) if (output.get(id) !== text) throw new Error(`an entry of another account changed or went: ${id}`);
  if (output.size !== keptInput.length) throw new Error('entries appeared');
  return next;
}

for (const dialect of DIALECTS)
  t.test(`${dialect}: removing an account takes every entry of it and keeps every other byte for byte; msal-node then lists every other account and not it`, async (t) => {
    await fc.assert(
      fc.asyncProperty(chosen(dialect), async ({ cache, index, laidOut }) => {
        const next = await removeAndCheck(cache, index, laidOut);
        const account = cache.accounts[index]!.homeAccountId.toLowerCase();
        const before = await msalNodeAccounts(cache.blob);
        if (next === null || before === undefined) return; // nothing left to read, or a blob msal-node itself cannot read
        const after = await msalNodeAccounts(next);
        if (!after) throw new Error('msal-node cannot read what the removal left, though it read the input');
        if (after.has(account)) throw new Error('msal-node still lists the account');
        const others = [...before].filter((a) => a !== account);
        if (others.some((a) => !after.has(a)) || after.size !== others.length) throw new Error(`msal-node lists ${[...after]} instead of ${others}`);
      }),
      { numRuns: 150 },
    );
  });

if (requireMsalPython(t) && msalPythonAvailable().ok)
  t.test("every dialect: MSAL Python's get_accounts() lists, after the removal, what it listed before less the account", async (t) => {
    for (const dialect of DIALECTS) {
      const cases = fc.sample(chosen(dialect), { numRuns: 80, seed: 20261201 + DIALECTS.indexOf(dialect) });
      const results: { cache: GeneratedCache; account: string; next: string | null }[] = [];
      for (const { cache, index, laidOut } of cases) results.push({ cache, account: cache.accounts[index]!.homeAccountId.toLowerCase(), next: await removeAndCheck(cache, index, laidOut) });
      // The authority on the host every account of the dialect has entries under: MSAL Python then lists them from there, and looks at no
      // alias (it takes the first alias with an account, in an order that changes from process to process).
      const host = dialect === 'msal-python' ? 'login.microsoftonline.com' : 'login.windows.net';
      const ask = (caches: string[]) => msalPython<AccountsAnswer>({ command: 'accounts', clientId: '00000000-0000-0000-0000-000000000000', authority: `https://${host}/common`, caches });
      const before = (await ask(results.map((r) => r.cache.blob))).accounts;
      const after = (await ask(results.map((r) => r.next ?? '{}'))).accounts;
      let compared = 0;
      results.forEach(({ account, next }, i) => {
        const was = before[i]!;
        // MSAL Python raises on a malformed entry wherever its lookup meets one (which aliases it searches changes from process to
        // process): only well-formed caches are compared, and only where something is left.
        if (results[i]!.cache.toggles.malformed || !Array.isArray(was) || next === null) return;
        const now = after[i]!;
        t.ok(Array.isArray(now), `${dialect} #${i}: MSAL Python reads what the removal left`);
        if (!Array.isArray(now)) return;
        const listed = new Set(now.map((a) => a.toLowerCase()));
        const generated = new Set(results[i]!.cache.accounts.map((a) => a.homeAccountId.toLowerCase()));
        t.notOk(listed.has(account), `${dialect} #${i}: the removed account is not listed`);
        // Those with an Account entry on the authority's host are listed from there, whatever else the cache holds.
        const onHost = new Set(
          Object.values((JSON.parse(next) as { Account?: Record<string, { environment?: string; home_account_id?: string }> }).Account ?? {})
            .filter((entry) => entry?.environment === host && typeof entry.home_account_id === 'string')
            .map((entry) => entry.home_account_id!.toLowerCase()),
        );
        t.same(was.map((a) => a.toLowerCase()).filter((a) => a !== account && onHost.has(a) && !listed.has(a)), [], `${dialect} #${i}: every other account it listed before is still listed`);
        t.same([...listed].filter((a) => !generated.has(a)), [], `${dialect} #${i}: no account that was not in the cache`);
        compared++;
      });
      t.ok(compared >= 20, `${dialect}: ${compared} of ${cases.length} caches compared through MSAL Python`);
    }
  });
