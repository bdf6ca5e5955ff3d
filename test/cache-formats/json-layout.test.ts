import t, { type Test } from 'tap';
import fc from 'fast-check';
import { MSAL_LAYOUT } from '../../src/cache-formats/msal-json.js';
import { layoutOf as layoutWith, type PartitionLayout } from '../../src/cache-formats/json-layout.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { FakeEntra, MsalWebApp } from '../../simulators/msal-app.js';
import { ORDERS, TENANT_A } from '../helpers/service.js';

type Blob = Record<string, unknown>;
const layoutOf = (bytes: Buffer) => layoutWith(bytes, MSAL_LAYOUT);
/** The layout of bytes the scanner must take. */
async function laidOut(bytes: Buffer): Promise<PartitionLayout> {
  const layout = await layoutOf(bytes);
  if ('refused' in layout) throw new Error(`refused: ${layout.refused}`);
  return layout;
}
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a layout against JSON.parse's reading of the same bytes: same visible sections, entries, owners and values. */
function agreesWithParse(t: Test, bytes: Buffer, layout: PartitionLayout): void {
  const parsed = JSON.parse(bytes.toString('utf8')) as Blob;
  t.ok(isObject(parsed), 'JSON.parse reads an object');
  const laidOut = new Map(layout.sections.filter((s) => !s.shadowed).map((s) => [s.name, s]));
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
    const visible = got!.entries.filter((e) => !e.shadowed);
    t.same(visible.map((e) => e.key).sort(), Object.keys(entries).sort(), `${name}: the same keys`);
    t.same(JSON.parse(bytes.toString('utf8', got!.start, got!.end)), entries, `${name}: the section's bytes`);
    for (const e of visible) {
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
  for (const [i, name] of ['Alice', 'Bob', 'Carol'].entries()) ids.push((await web.signIn({ oid: `${'abc'[i]!.repeat(8)}-0000-4000-8000-00000000000${i}`, homeTenant: TENANT_A, name, sid: `sid-${name}` })).homeAccountId);
  return { text: (await store.get('shared'))!, ids };
}

t.test('a partition msal-node wrote is laid out: every entry of each section but AppMetadata with its key, owner and bytes, as JSON.parse reads them', async (t) => {
  const { text } = await msalPartition();
  for (const form of [text, JSON.stringify(JSON.parse(text), null, 2)]) {
    const bytes = Buffer.from(form);
    const layout = await laidOut(bytes);
    t.same(
      layout.sections.map((s) => s.entries.length),
      [3, 3, 3, 3],
      'three entries in each section',
    );
    agreesWithParse(t, bytes, layout);
  }
});

t.test('lays out exactly what JSON.parse reads as an object, and agrees with JSON.parse on it', async (t) => {
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
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        if ('refused' in layout) return;
        throw new Error(`laid out what JSON.parse refuses: ${JSON.stringify(text)}`);
      }
      const sectionNotObject = isObject(parsed) && ['Account', 'AccessToken'].some((name) => name in parsed && !isObject(parsed[name]));
      if ('refused' in layout) {
        if (!isObject(parsed) || sectionNotObject) return;
        throw new Error(`refused (${layout.refused}) what JSON.parse reads as an object: ${JSON.stringify(text)}`);
      }
      if (!isObject(parsed) || sectionNotObject) throw new Error(`laid out what is no cache: ${JSON.stringify(text)}`);
      const sub = t.test('agrees', async (t) => agreesWithParse(t, bytes, layout));
      await sub;
    }),
    { numRuns: 400 },
  );
});

t.test('refused, with the reason: what is not strict UTF-8, not one JSON object, or nested deeper than 64', async (t) => {
  const cases: [string, Buffer | string, RegExp][] = [
    ['an invalid byte', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /not valid UTF-8/],
    ['an encoded surrogate (CESU-8)', Buffer.concat([Buffer.from('{"k":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), /not valid UTF-8/],
    ['an overlong encoding', Buffer.concat([Buffer.from('{"k":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), /not valid UTF-8/],
    ['a truncated sequence at the end', Buffer.concat([Buffer.from('{"k":"x"}'), Buffer.from([0xe2, 0x82])]), /not valid UTF-8/],
    ['a byte order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"Account":{}}')]), /byte order mark/],
    ['not an object', '[{"Account":{}}]', /not a JSON object/],
    ['not JSON', 'not json', /not JSON$/],
    ['empty', '', /not JSON$/],
    ['trailing bytes', '{"Account":{}} x', /bytes after its JSON text/],
    ['a second JSON text', '{"Account":{}}{}', /bytes after its JSON text/],
    ['a section that is not an object', '{"AppMetadata":[]}', /AppMetadata section is not an object/],
    ['a section whose last member is not an object', '{"Account":{},"Account":null}', /Account section is not an object/],
    ['nesting deeper than 64', `{"x":${'['.repeat(100)}${']'.repeat(100)}}`, /deeper than 64/],
    ['a raw control character in a string', '{"Account":{"k":{"secret":"a\u0001b"}}}', /not JSON$/],
    ['a bad escape', '{"Account":{"k":{"secret":"\\x41"}}}', /not JSON$/],
    ['a bad number', '{"Account":{"k":{"n":01}}}', /not JSON$/],
    ['NaN, which Python writes for a float nan', '{"Account":{"k":{"n":NaN}}}', /not JSON$/],
  ];
  for (const [what, input, reason] of cases) {
    const layout = await layoutOf(Buffer.from(input));
    t.match('refused' in layout ? layout.refused : 'laid out', reason, what);
    // Each is refused by the strict decoder too, or by JSON.parse, or is no object.
    if (/UTF-8/.test(String(reason))) t.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(input)), `${what}: TextDecoder({ fatal: true }) refuses it too`);
  }
});

t.test('escaped keys are read decoded: a section, an entry key and the owner field spelled with escapes', async (t) => {
  const text = '{"Acc\\u006funt":{"a.b-\\u0065nv":{"home_account_\\u0069d":"A.\\u0062","x":1}},"IdToken":{"k\\"q":{"home_account_id":"c.d"}}}';
  const layout = await laidOut(Buffer.from(text));
  t.same(
    layout.sections.map((s) => s.name),
    ['Account', 'IdToken'],
  );
  t.same(
    layout.sections.map((s) => s.entries.map((e) => [e.key, e.owner])),
    [[['a.b-env', 'A.b']], [['k"q', 'c.d']]],
  );
  agreesWithParse(t, Buffer.from(text), layout);
});

t.test('repeated keys: the last one of a section or a key is the visible one, the others are shadowed; the owner is the last home_account_id, the earlier ones hidden', async (t) => {
  const text = '{"Account":{"k":{"home_account_id":"a.b"}},"Other":1,"Account":{"k":{"home_account_id":"c.d"},"j":{"home_account_id":"e.f"},"k":{"home_account_id":"g.h","home_account_id":"i.j"}},"Other":{"m":{}}}';
  const layout = await laidOut(Buffer.from(text));
  t.same(
    layout.sections.map((s) => [s.name, s.shadowed, s.entries.map((e) => [e.key, e.owner, e.shadowed, e.hiddenOwners ?? []])]),
    [
      ['Account', true, [['k', 'a.b', false, []]]],
      [
        'Account',
        false,
        [
          ['k', 'c.d', true, []],
          ['j', 'e.f', false, []],
          ['k', 'i.j', false, ['g.h']],
        ],
      ],
      ['Other', false, [['m', undefined, false, []]]],
    ],
  );
  agreesWithParse(t, Buffer.from(text), layout);
});
