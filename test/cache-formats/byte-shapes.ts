/**
 * The byte shapes a serialized MSAL cache can come in beyond what JSON.stringify writes, as generators
 * over a generated cache (test/helpers/msal-dialects.ts): layouts (compact, Python's `json.dumps` with and
 * without `indent=4`, indented by 2), escapes in keys and values, numbers in every JSON form, repeated
 * fields, keys and sections, and damaged bytes (invalid UTF-8, a BOM, trailing bytes). A cache is held as
 * a tree of ordered members, so that repeated keys and raw number texts survive; `write` serializes it
 * the same way every time, so the removal's output can be compared, byte for byte, with the writing of
 * what should be left.
 */
import fc from 'fast-check';

/** Raw JSON text, written as it is (a number in a form JSON.stringify never writes). */
export class Raw {
  constructor(readonly text: string) {}
}
/** A JSON object as its members in order, repeated keys included. */
export class Members {
  constructor(readonly members: [string, Node][]) {}
}
export type Node = null | boolean | number | string | Raw | Members | Node[];

/** A parsed value as a tree. */
export function treeOf(value: unknown): Node {
  if (Array.isArray(value)) return value.map(treeOf);
  if (typeof value === 'object' && value !== null) return new Members(Object.entries(value).map(([k, v]) => [k, treeOf(v)]));
  return value as Node;
}

export type LayoutName = 'compact' | 'python-compact' | 'indent-2' | 'python-indent-4';

export interface ByteShape {
  layout: LayoutName;
  /** Escapes some characters of keys and values as `\uXXXX` (which ones follows from the seed and the string). */
  escapes: number | null;
  /** Adds numbers in the given raw forms to entries (which ones follows from the seed). */
  numbers: number | null;
  /** Every entry object gets a field written twice. */
  repeatedField: boolean;
  /** Every entry's home_account_id is written twice: first in upper case, then as it was. */
  repeatedOwner: boolean;
  /** Before one entry, an earlier member with the same key, owned by the account removed or by another. */
  shadowedEntry: { at: number; owner: 'removed' | 'other' } | null;
  /** An earlier member with the name of a section, holding a copy of some of its entries (hidden: the later one wins). */
  hiddenSection: { at: number } | null;
  /** One entry of another account whose earlier, hidden home_account_id names the account removed. */
  hiddenOwnerOfRemoved: { at: number } | null;
  /** The bytes damaged after writing. */
  damage: { kind: 'invalid-utf8' | 'bom' | 'trailing'; at: number; sequence: number } | null;
}

/** Number texts in forms JSON allows, several of which JSON.parse then JSON.stringify would change. */
export const NUMBER_FORMS = ['0', '-0', '1E0', '1e+2', '-1.50e-3', '0.1000', '12345678901234567890', '-1e999', '1E400', '5e-324', '2.5E-0'];
/** Byte sequences that are not UTF-8: a byte never used, an overlong form, an encoded surrogate, a truncated sequence, a lone continuation byte. */
export const INVALID_UTF8 = [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80]];

/** `value` once in `1 + absent` draws, null otherwise. */
const sometimes = <T>(value: fc.Arbitrary<T>, absent: number): fc.Arbitrary<T | null> => fc.oneof({ arbitrary: fc.constant(null), weight: absent }, { arbitrary: value, weight: 1 });

export const byteShapeArbitrary: fc.Arbitrary<ByteShape> = fc.record({
  layout: fc.constantFrom<LayoutName>('compact', 'python-compact', 'indent-2', 'python-indent-4'),
  escapes: sometimes(fc.nat(), 1),
  numbers: sometimes(fc.nat(), 1),
  repeatedField: fc.boolean(),
  repeatedOwner: fc.boolean(),
  shadowedEntry: sometimes(fc.record({ at: fc.nat(), owner: fc.constantFrom<'removed' | 'other'>('removed', 'other') }), 2),
  hiddenSection: sometimes(fc.record({ at: fc.nat() }), 2),
  hiddenOwnerOfRemoved: sometimes(fc.record({ at: fc.nat() }), 6),
  damage: sometimes(fc.record({ kind: fc.constantFrom<'invalid-utf8' | 'bom' | 'trailing'>('invalid-utf8', 'bom', 'trailing'), at: fc.nat(), sequence: fc.nat() }), 6),
});

const OWNER = 'home_account_id';
const isMembers = (node: Node | undefined): node is Members => node instanceof Members;
const ownerOf = (entry: Node | undefined): string | undefined => {
  if (!isMembers(entry)) return undefined;
  const last = entry.members.filter(([k]) => k === OWNER).at(-1)?.[1];
  return typeof last === 'string' ? last : undefined;
};

/** A small deterministic hash, so a string is escaped the same way every time it is written. */
function hash(...parts: (string | number)[]): number {
  let h = 2166136261;
  for (const part of parts) for (const c of String(part)) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}

const u = (code: number, upper: boolean) => `\\u${code.toString(16).padStart(4, '0')[upper ? 'toUpperCase' : 'toLowerCase']()}`;

function quote(s: string, shape: ByteShape): string {
  let out = '"';
  const ofString = hash(s); // once: hashing the whole string at each character made long tokens quadratic
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (shape.layout.startsWith('python') && code > 0x7f)
      out += u(code, false); // ensure_ascii
    else if (shape.escapes !== null && hash(shape.escapes, ofString, i) % 4 === 0) out += u(code, hash(ofString, i) % 2 === 0);
    else out += JSON.stringify(s[i]).slice(1, -1);
  }
  return `${out}"`;
}

/** The tree as the shape's layout writes it. */
export function write(node: Node, shape: ByteShape, depth = 0): string {
  if (node instanceof Raw) return node.text;
  if (typeof node === 'string') return quote(node, shape);
  if (node === null || typeof node !== 'object') return JSON.stringify(node);
  const items = Array.isArray(node) ? node.map((v) => write(v, shape, depth + 1)) : node.members.map(([k, v]) => `${quote(k, shape)}${shape.layout === 'compact' ? ':' : ': '}${write(v, shape, depth + 1)}`);
  const [open, close] = Array.isArray(node) ? ['[', ']'] : ['{', '}'];
  if (items.length === 0) return open + close;
  const step = shape.layout === 'indent-2' ? 2 : shape.layout === 'python-indent-4' ? 4 : 0;
  if (step === 0) return open + items.join(shape.layout === 'compact' ? ',' : ', ') + close;
  const pad = (d: number) => `\n${' '.repeat(step * d)}`;
  return open + pad(depth + 1) + items.join(`,${pad(depth + 1)}`) + pad(depth) + close;
}

/** Each entry object of each section but AppMetadata, with its section. */
function entriesOf(root: Members): { section: Members; index: number; entry: Members; key: string }[] {
  return root.members.flatMap(([name, section]) => (name === 'AppMetadata' || !isMembers(section) ? [] : section.members.flatMap(([key, entry], index) => (isMembers(entry) ? [{ section, index, entry, key }] : []))));
}

/** The cache's tree with the shape's repeated keys, fields and numbers applied (the removed account is `removed`, lower-cased). */
export function shapedTree(parsed: unknown, shape: ByteShape, removed: string, other: string): Members {
  const root = treeOf(parsed) as Members;
  const entries = entriesOf(root);
  entries.forEach(({ entry }, i) => {
    if (shape.numbers !== null && (shape.numbers + i) % 2 === 0) entry.members.push(['x_number', new Raw(NUMBER_FORMS[(shape.numbers + i) % NUMBER_FORMS.length]!)]);
    if (shape.repeatedField) {
      entry.members.unshift(['x_repeated', new Raw('1')]);
      entry.members.push(['x_repeated', 'two']);
    }
    const owner = ownerOf(entry);
    if (shape.repeatedOwner && owner !== undefined) entry.members.unshift([OWNER, owner.toUpperCase()]);
  });
  const others = entries.filter(({ entry }) => ownerOf(entry)?.toLowerCase() !== removed && ownerOf(entry) !== undefined);
  if (shape.hiddenOwnerOfRemoved && others.length > 0) others[shape.hiddenOwnerOfRemoved.at % others.length]!.entry.members.unshift([OWNER, removed]);
  if (shape.shadowedEntry && entries.length > 0) {
    const { section, index, key } = entries[shape.shadowedEntry.at % entries.length]!;
    section.members.splice(index, 0, [
      key,
      new Members([
        [OWNER, shape.shadowedEntry.owner === 'removed' ? removed : other],
        ['secret', 'shadowed'],
      ]),
    ]);
  }
  if (shape.hiddenSection) {
    const sections = root.members.filter(([name, section]) => name !== 'AppMetadata' && isMembers(section) && section.members.length > 0);
    if (sections.length > 0) {
      const [name, section] = sections[shape.hiddenSection.at % sections.length]! as [string, Members];
      const at = root.members.findIndex(([n]) => n === name);
      root.members.splice(at, 0, [name, new Members(section.members.map(([k, v]) => [k, isMembers(v) ? new Members([...v.members, ['secret', 'hidden']]) : v]))]);
    }
  }
  return root;
}

/** The shape's damage done to written bytes: invalid UTF-8 in place of an ASCII byte, a BOM, or bytes after the text. */
export function damaged(bytes: Buffer, damage: NonNullable<ByteShape['damage']>): Buffer {
  if (damage.kind === 'bom') return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
  if (damage.kind === 'trailing') return Buffer.concat([bytes, Buffer.from(['\n{}', ' x', ',', '\0'][damage.sequence % 4]!)]);
  let at = damage.at % bytes.length;
  while (bytes[at]! >= 0x80) at = (at + 1) % bytes.length; // in place of a whole character
  return Buffer.concat([bytes.subarray(0, at), Buffer.from(INVALID_UTF8[damage.sequence % INVALID_UTF8.length]!), bytes.subarray(at + 1)]);
}

export interface ExpectedRemoval {
  outcome: 'removed' | 'not_present' | 'skipped';
  removedKeys: string[];
  /** What should be left (null: delete the partition). */
  next?: Members | null;
}

/**
 * What removing `account` should leave, by the rule read on the tree: JSON parsers see the last of
 * repeated keys; the account's visible entries go, with the hidden ones before them; hidden entries that
 * are the account's (by key, or by any of their home_account_id fields) go; a kept entry that names the
 * account in a hidden home_account_id makes the removal refuse.
 */
export function expectedRemoval(root: Members, account: string): ExpectedRemoval {
  const id = account.toLowerCase();
  const byKey = (key: string) => key.toLowerCase().startsWith(`${id}-`);
  /** Every home_account_id field's value, lower-cased when a string. */
  const owners = (entry: Node) => (isMembers(entry) ? entry.members.filter(([k]) => k === OWNER).map(([, v]) => (typeof v === 'string' ? v.toLowerCase() : undefined)) : []);
  const visibleIsTheAccounts = (key: string, entry: Node) => byKey(key) || ownerOf(entry)?.toLowerCase() === id;
  const claimed = (key: string, entry: Node) => byKey(key) || owners(entry).includes(id);
  const removedKeys: string[] = [];
  let accountsLeft = 0;
  let refused = false;
  const lastOf = (members: [string, Node][], name: string) => members.map(([k]) => k).lastIndexOf(name);
  const next = new Members(
    root.members.map(([name, section], s): [string, Node] => {
      if (name === 'AppMetadata' || !isMembers(section)) return [name, section];
      if (lastOf(root.members, name) !== s) return [name, new Members(section.members.filter(([k, e]) => !claimed(k, e)))];
      const gone = new Set(section.members.filter(([k, e], i) => lastOf(section.members, k) === i && visibleIsTheAccounts(k, e)).map(([k]) => k));
      const kept = section.members.filter(([k, e], i) => {
        const visible = lastOf(section.members, k) === i;
        if (!visible) return !gone.has(k) && !claimed(k, e);
        if (gone.has(k)) return (removedKeys.push(k), false);
        if (name === 'Account') accountsLeft++;
        if (owners(e).slice(0, -1).includes(id)) refused = true;
        return true;
      });
      return [name, new Members(kept)];
    }),
  );
  if (refused) return { outcome: 'skipped', removedKeys: [] };
  if (removedKeys.length === 0) return { outcome: 'not_present', removedKeys: [] };
  return { outcome: 'removed', removedKeys, next: accountsLeft === 0 ? null : next };
}

/** A partition's text damaged each way a store must refuse: what, the bytes, and the reason the report gives. */
export function damagedPartitions(blob: string): [string, Buffer, RegExp][] {
  const inString = blob.indexOf('"environment"') + 2; // inside a key's quotes
  const at = (bytes: number[]) => Buffer.concat([Buffer.from(blob.slice(0, inString)), Buffer.from(bytes), Buffer.from(blob.slice(inString))]);
  return [
    ['an invalid byte', at([0xff]), /not valid UTF-8/],
    ['an overlong encoding', at([0xc0, 0xaf]), /not valid UTF-8/],
    ['an encoded surrogate', at([0xed, 0xa0, 0x80]), /not valid UTF-8/],
    ['a byte order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(blob)]), /byte order mark/],
    ['bytes after the JSON text', Buffer.from(`${blob}\n{}`), /bytes after its JSON text/],
  ];
}
