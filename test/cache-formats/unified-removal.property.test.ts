import t from 'tap';
import fc from 'fast-check';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { removeAccountsFromPartition } from '../../src/cache-formats/msal-json.js';
import { cacheArbitrary, DIALECTS, type GeneratedCache } from '../../simulators/msal-dialects.js';
import { msalPython, msalPythonAvailable, requireMsalPython, type AccountsAnswer } from '../helpers/msal-python.js';
import { byteShapeArbitrary, damaged, expectedRemoval, shapedTree, write, type ByteShape } from './byte-shapes.js';

// The removal over the unified MSAL schema, held against generated caches of the four MSAL dialects (with
// several accounts, aliases, letter cases, unknown entry types and sections, and a malformed entry
// elsewhere), written in every byte shape of byte-shapes.ts (layouts, escapes, number forms, repeated
// fields, keys and sections, damaged bytes): what it writes back must be, byte for byte, the same writing
// of what should be left; and the two MSAL libraries that run here read what it leaves.

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

const chosen = (dialect: (typeof DIALECTS)[number]) => cacheArbitrary(dialect).chain((cache) => fc.record({ cache: fc.constant(cache), index: fc.nat({ max: cache.accounts.length - 1 }), shape: byteShapeArbitrary, asText: fc.boolean() }));

interface Checked {
  /** The partition as written in the shape, as text (undefined when it is not UTF-8). */
  input: string | undefined;
  outcome: string;
  /** What it left, as text (null: the partition goes; undefined: nothing written). */
  next: string | null | undefined;
}

/** The removal of one generated account from the cache written in the shape, checked byte for byte against the writing of what should be left. */
async function removeAndCheck(cache: GeneratedCache, index: number, shape: ByteShape, asText: boolean): Promise<Checked> {
  const account = cache.accounts[index]!.homeAccountId;
  const other = cache.accounts.find((_, i) => i !== index)?.homeAccountId ?? 'someone.else';
  const tree = shapedTree(JSON.parse(cache.blob), shape, account.toLowerCase(), other);
  const written = Buffer.from(write(tree, shape));
  const bytes = shape.damage ? damaged(written, shape.damage) : written;
  const text = shape.damage?.kind === 'invalid-utf8' ? undefined : bytes.toString('utf8');
  const { accounts, next } = await removeAccountsFromPartition(asText && text !== undefined ? text : bytes, [account]);
  const got = accounts[0]!;
  const expected = shape.damage ? { outcome: 'skipped' as const, removedKeys: [] } : expectedRemoval(tree, account);
  if (got.outcome !== expected.outcome) throw new Error(`${got.outcome} (${got.detail ?? ''}), expected ${expected.outcome}`);
  if (JSON.stringify(got.removedKeys) !== JSON.stringify(expected.removedKeys)) throw new Error(`removed ${got.removedKeys}, expected ${expected.removedKeys}`);
  if (expected.outcome === 'skipped' && typeof got.detail !== 'string') throw new Error('skipped without a reason');
  if (expected.outcome !== 'removed') {
    if (next !== undefined) throw new Error(`${expected.outcome}, yet something is written`);
    return { input: text, outcome: got.outcome, next: undefined };
  }
  // The rule read on the generator's own cache: exactly the account's entries go.
  const mine = (cache.keysByAccount[account.toLowerCase()] ?? []).map((e) => e.key).sort();
  if (JSON.stringify([...got.removedKeys].sort()) !== JSON.stringify(mine)) throw new Error(`removed ${got.removedKeys}, the account has ${mine}`);
  if (expected.next === null) {
    if (next !== null) throw new Error('no account left, yet the partition is kept');
    return { input: text, outcome: got.outcome, next: null };
  }
  if (next === null || next === undefined) throw new Error('an account is left, yet the partition is not rewritten');
  if ((typeof next === 'string') !== (asText && text !== undefined)) throw new Error('text in, bytes out (or the reverse)');
  const want = Buffer.from(write(expected.next!, shape));
  const out = Buffer.from(next);
  if (!out.equals(want)) throw new Error(`the bytes left differ from the writing of what should be left:\n${out.toString()}\n---\n${want.toString()}`);
  return { input: text, outcome: got.outcome, next: out.toString('utf8') };
}

for (const dialect of DIALECTS)
  t.test(`${dialect}: in every byte shape, removing an account writes back exactly the other entries' own bytes, refuses what it cannot keep, and msal-node then lists every other account and not it`, async () => {
    await fc.assert(
      fc.asyncProperty(chosen(dialect), async ({ cache, index, shape, asText }) => {
        const { input, next } = await removeAndCheck(cache, index, shape, asText);
        const account = cache.accounts[index]!.homeAccountId.toLowerCase();
        if (typeof next !== 'string' || input === undefined) return;
        const before = await msalNodeAccounts(input);
        if (before === undefined) return; // a blob msal-node itself cannot read
        const after = await msalNodeAccounts(next);
        if (!after) throw new Error('msal-node cannot read what the removal left, though it read the input');
        if (after.has(account)) throw new Error('msal-node still lists the account');
        const others = [...before].filter((a) => a !== account);
        if (others.some((a) => !after.has(a)) || after.size !== others.length) throw new Error(`msal-node lists ${[...after]} instead of ${others}`);
      }),
      { numRuns: 200 },
    );
  });

t.test('the byte shapes are drawn: every layout, escapes, number forms, repeated keys, a refusal, each damage', async (t) => {
  const shapes = fc.sample(byteShapeArbitrary, { numRuns: 200, seed: 20261206 });
  for (const layout of ['compact', 'python-compact', 'indent-2', 'python-indent-4'])
    t.ok(
      shapes.some((s) => s.layout === layout),
      layout,
    );
  t.ok(shapes.some((s) => s.escapes !== null) && shapes.some((s) => s.numbers !== null), 'escapes and numbers');
  t.ok(shapes.some((s) => s.shadowedEntry?.owner === 'removed') && shapes.some((s) => s.hiddenSection) && shapes.some((s) => s.repeatedOwner), 'repeated keys');
  t.ok(
    shapes.some((s) => s.hiddenOwnerOfRemoved),
    'a hidden owner naming the account',
  );
  for (const kind of ['invalid-utf8', 'bom', 'trailing'])
    t.ok(
      shapes.some((s) => s.damage?.kind === kind),
      kind,
    );
});

if (requireMsalPython(t) && msalPythonAvailable().ok)
  t.test("every dialect, every layout: MSAL Python's get_accounts() lists, after the removal, what it listed before less the account", async (t) => {
    for (const dialect of DIALECTS) {
      const cases = fc.sample(chosen(dialect), { numRuns: 80, seed: 20261201 + DIALECTS.indexOf(dialect) });
      const results: { cache: GeneratedCache; account: string; input: string; next: string | null }[] = [];
      for (const { cache, index, shape, asText } of cases) {
        // Shapes it can read and the removal rewrites: no damage, no refusal.
        const { input, next } = await removeAndCheck(cache, index, { ...shape, damage: null, hiddenOwnerOfRemoved: null }, asText);
        if (input !== undefined && next !== undefined) results.push({ cache, account: cache.accounts[index]!.homeAccountId.toLowerCase(), input, next });
      }
      // The authority on the host every account of the dialect has entries under: MSAL Python then lists them from there, and looks at no
      // alias (it takes the first alias with an account, in an order that changes from process to process).
      const host = dialect === 'msal-python' ? 'login.microsoftonline.com' : 'login.windows.net';
      const ask = (caches: string[]) => msalPython<AccountsAnswer>({ command: 'accounts', clientId: '00000000-0000-0000-0000-000000000000', authority: `https://${host}/common`, caches });
      const before = (await ask(results.map((r) => r.input))).accounts;
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
        t.same(
          was.map((a) => a.toLowerCase()).filter((a) => a !== account && onHost.has(a) && !listed.has(a)),
          [],
          `${dialect} #${i}: every other account it listed before is still listed`,
        );
        t.same(
          [...listed].filter((a) => !generated.has(a)),
          [],
          `${dialect} #${i}: no account that was not in the cache`,
        );
        compared++;
      });
      t.ok(compared >= 20, `${dialect}: ${compared} of ${cases.length} caches compared through MSAL Python`);
    }
  });
