import t, { type Test } from 'tap';
import fc from 'fast-check';
import { MSAL_LAYOUT, removeAccountsFromPartition } from '../../src/cache-formats/msal-json.js';
import { layoutOf as layoutWith, type PartitionLayout } from '../../src/cache-formats/json-layout.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { FakeEntra, MsalWebApp } from '../helpers/msal-app.js';
import { ORDERS, TENANT_A } from '../helpers/service.js';

type Blob = Record<string, unknown>;
const layoutOf = (bytes: Buffer) => layoutWith(bytes, MSAL_LAYOUT);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a layout against JSON.parse's reading of the same bytes: same sections, entries, owners and values. */
function agreesWithParse(t: Test, bytes: Buffer, layout: PartitionLayout): void {
  const parsed = JSON.parse(bytes.toString('utf8')) as Blob;
  t.ok(isObject(parsed), 'JSON.parse reads an object');
  const laidOut = new Map(layout.sections.map((s) => [s.name, s]));
  // Every object at the top but AppMetadata holds entries (MSAL_LAYOUT), known section or not.
  const names = Object.keys(parsed as Blob).filter((name) => name !== 'AppMetadata' && isObject((parsed as Blob)[name]));
  t.same(new Set(laidOut.keys()), new Set(names), 'the sections laid out are the objects at the top but AppMetadata');
  for (const name of names) {
    const section = parsed[name];
    const got = laidOut.get(name);
    if (section === undefined) {
      t.equal(got, undefined, `${name}: absent both ways`);
      continue;
    }
    t.ok(isObject(section) && got, `${name}: an object, laid out`);
    const entries = section as Record<string, unknown>;
    t.same(new Set(got!.entries.map((e) => e.key)), new Set(Object.keys(entries)), `${name}: the same keys`);
    t.same(JSON.parse(bytes.toString('utf8', got!.start, got!.end)), entries, `${name}: the section's bytes`);
    for (const e of got!.entries) {
      const value = entries[e.key];
      t.same(JSON.parse(bytes.toString('utf8', e.valueStart, e.end)), value, `${name}/${e.key}: its value's bytes`);
      t.same(JSON.parse(`{${bytes.toString('utf8', e.start, e.end)}}`), { [e.key]: value }, `${name}/${e.key}: the member's bytes`);
      t.equal(e.owner, isObject(value) && typeof value.home_account_id === 'string' ? value.home_account_id : undefined, `${name}/${e.key}: its owner`);
    }
  }
}

/** One shared partition that msal-node itself wrote as three users signed in to one app. */
async function msalPartition(): Promise<{ text: string; ids: string[] }> {
  const store = new MemoryTokenCacheStore();
  const web = new MsalWebApp(ORDERS, 'shared', store, new FakeEntra());
  const ids: string[] = [];
  for (const [i, name] of ['Alice', 'Bob', 'Carol'].entries())
    ids.push((await web.signIn({ oid: `${'abc'[i]!.repeat(8)}-0000-4000-8000-00000000000${i}`, homeTenant: TENANT_A, name, sid: `sid-${name}` })).homeAccountId);
  return { text: (await store.get('shared'))!, ids };
}

t.test('a partition msal-node wrote is laid out: every entry of each section but AppMetadata with its key, owner and bytes, as JSON.parse reads them', async (t) => {
  const { text } = await msalPartition();
  for (const form of [text, JSON.stringify(JSON.parse(text), null, 2)]) {
    const bytes = Buffer.from(form);
    const layout = await layoutOf(bytes);
    t.ok(layout, 'laid out');
    t.same(layout!.sections.map((s) => s.entries.length), [3, 3, 3, 3], 'three entries in each section');
    agreesWithParse(t, bytes, layout!);
  }
});

t.test('never lays out what JSON.parse refuses, and what it lays out agrees with JSON.parse', async (t) => {
  // Cache-like JSON, then damaged: a character dropped, doubled or replaced by a structural one.
  const entry = fc.dictionary(fc.constantFrom('home_account_id', 'environment', 'secret', 'x', 'é'), fc.jsonValue(), { maxKeys: 4 });
  const cache = fc.record({
    Account: fc.dictionary(fc.string({ maxLength: 6 }), entry, { maxKeys: 3 }),
    AccessToken: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(entry, fc.jsonValue()), { maxKeys: 3 }),
    Other: fc.jsonValue(),
  });
  const damage = fc.tuple(fc.nat(), fc.constantFrom('drop', 'double', ...'{}[]:,"\\ \u0001\ttrue0-.e'.split('')));
  await fc.assert(
    fc.asyncProperty(cache, fc.boolean(), fc.option(damage, { nil: undefined }), async (value, pretty, hit) => {
      let text = JSON.stringify(value, null, pretty ? 1 : undefined);
      if (hit) {
        const [at, what] = [hit[0] % text.length, hit[1]];
        text = text.slice(0, at) + (what === 'drop' ? '' : what === 'double' ? text[at]! + text[at]! : what) + text.slice(at + 1);
      }
      const bytes = Buffer.from(text);
      const layout = await layoutOf(bytes);
      if (!layout) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new Error(`laid out what JSON.parse refuses: ${JSON.stringify(text)}`);
      }
      if (!isObject(parsed)) throw new Error('laid out a non-object');
      const sub = t.test('agrees', async (t) => agreesWithParse(t, bytes, layout));
      await sub;
    }),
    { numRuns: 400 },
  );
});

t.test('shapes left to JSON.parse are not laid out', async (t) => {
  const cases: [string, Buffer | string][] = [
    ['not valid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
    ['not an object', '[{"Account":{}}]'],
    ['trailing bytes', '{"Account":{}} x'],
    ['an escaped key that spells a section', '{"Acc\\u006funt":{"k":{"home_account_id":"a.b"}}}'],
    ['an escaped entry key', '{"Account":{"a.b-\\u0065nv":{}}}'],
    ['an escaped key inside an entry', '{"Account":{"k":{"home_account_\\u0069d":"a.b"}}}'],
    ['a repeated section', '{"Account":{},"Account":{}}'],
    ['a repeated entry key', '{"Account":{"k":{},"k":{}}}'],
    ['a repeated member at the top', '{"Other":1,"Other":{}}'],
    ['a section that is not an object', '{"AppMetadata":[]}'],
    ['nesting deeper than 64', `{"x":${'['.repeat(100)}${']'.repeat(100)}}`],
    ['a raw control character in a string', '{"Account":{"k":{"secret":"a\u0001b"}}}'],
    ['a bad escape', '{"Account":{"k":{"secret":"\\x41"}}}'],
    ['a bad number', '{"Account":{"k":{"n":01}}}'],
  ];
  for (const [what, input] of cases) t.equal(await layoutOf(Buffer.from(input)), undefined, what);
});

t.test('a laid-out removal removes what the parsed one does, and keeps every other entry as it was in the bytes, formatting included', async (t) => {
  const { text, ids } = await msalPartition();
  const pretty = JSON.stringify(JSON.parse(text), null, 2);
  for (const batch of [[ids[1]!], [ids[0]!, ids[2]!], ids]) {
    const parsed = await removeAccountsFromPartition(pretty, batch, { layoutFrom: Infinity });
    const laid = await removeAccountsFromPartition(Buffer.from(pretty), batch, { layoutFrom: 0 });
    t.same(laid.accounts, parsed.accounts, `${batch.length} removed: the same outcomes and removed keys`);
    if (batch.length === ids.length) {
      t.equal(laid.next, null, 'every account gone: delete the partition');
      continue;
    }
    t.ok(Buffer.isBuffer(laid.next), 'bytes in, bytes out');
    t.same(JSON.parse(laid.next!.toString()), JSON.parse(parsed.next!), 'the same cache');
    const before = (await layoutOf(Buffer.from(pretty)))!;
    const after = (await layoutOf(laid.next!))!;
    const raw = (bytes: Buffer, layout: PartitionLayout) =>
      new Map(layout.sections.flatMap((s) => s.entries.map((e) => [`${s.name}/${e.key}`, bytes.toString('utf8', e.start, e.end)])));
    const was = raw(Buffer.from(pretty), before);
    const kept = raw(laid.next!, after);
    t.equal(kept.size, was.size - 4 * batch.length, 'four entries fewer per account');
    for (const [key, bytes] of kept) t.equal(bytes, was.get(key), `${key}: byte for byte, indentation and all`);
  }
});
