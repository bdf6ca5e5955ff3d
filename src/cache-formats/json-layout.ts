import { isUtf8 } from 'node:buffer';
import { cpuTurn } from './cpu-turns.js';

/** One entry of an account section: its key and where it sits in the partition's bytes. */
export interface LaidOutEntry {
  /** Decoded, as JSON.parse reads it. */
  key: string;
  /** The member from its key's opening quote to the end of its value. */
  start: number;
  end: number;
  /** Where its value starts. */
  valueStart: number;
  /** The entry's `home_account_id` when that is a string, as JSON.parse would read it (the last one of the entry). */
  owner: string | undefined;
  /** The string values of the entry's earlier `home_account_id` fields, which the last one hides. */
  hiddenOwners?: string[];
  /** A later member of its section has the same key: no JSON parser sees this one (the last one wins). */
  shadowed: boolean;
}

/** One section of entries (`Account`, `IdToken`, …): its object's bytes and its entries in order. */
export interface LaidOutSection {
  name: string;
  /** From the section's `{` to just after its `}`. */
  start: number;
  end: number;
  entries: LaidOutEntry[];
  /** A later member at the top has the same name: no JSON parser sees this section. */
  shadowed: boolean;
}

/** The sections of a serialized cache whose entries were laid out, in the order they appear. */
export interface PartitionLayout {
  sections: LaidOutSection[];
}

/** What the scanner must know of a cache format: which top-level members hold entries, and who owns an entry. */
export interface LayoutVocabulary {
  /** Whether the entries of the top-level member `name`, when it is an object, are laid out. */
  laysOut(name: string): boolean;
  /** Whether the top-level member `name` (its last one) must be an object for the bytes to be such a cache. */
  mustBeObject(name: string): boolean;
  /** The entry field whose string value is noted as the entry's owner. */
  ownerField: string;
}

/** Deeper nesting is refused: MSAL.NET's JSON reader refuses it too, and the scanner recurses. */
const MAX_DEPTH = 64;
/** Bytes read between two turns of the event loop. */
const PAUSE_EVERY = 1 << 20;

/** Thrown inside the scanner: why the bytes are refused. */
class Refusal {
  constructor(readonly reason: string) {}
}
const NOT_JSON = 'the partition is not JSON';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** The characters that may follow a backslash in a JSON string, `u` aside. */
const SIMPLE_ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)));
const isHex = (c: number | undefined): boolean => c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

/** A member's key: from its opening quote to just after its closing one. */
interface Key {
  start: number;
  end: number;
  escaped: boolean;
}

/** A strict RFC 8259 reader of one JSON object that notes where the account sections' entries are. */
class Scanner {
  private i = 0;
  /** Where the scanner last let the event loop run. */
  private paused = 0;
  /** Whether the last string read had an escape sequence. */
  private escaped = false;
  readonly sections: LaidOutSection[] = [];
  /** The owner field as its key is written without escapes. */
  private readonly ownerKey: Buffer;

  constructor(
    private readonly b: Buffer,
    private readonly vocabulary: LayoutVocabulary,
  ) {
    this.ownerKey = Buffer.from(JSON.stringify(vocabulary.ownerField));
  }

  async read(): Promise<void> {
    this.space();
    if (this.b[this.i] !== 0x7b) {
      this.value(0);
      this.space();
      this.fail(this.i === this.b.length ? 'the partition is not a JSON object' : NOT_JSON);
    }
    await this.topLevel();
    this.space();
    if (this.i !== this.b.length) this.fail('the partition has bytes after its JSON text');
  }

  private fail(reason = NOT_JSON): never {
    throw new Refusal(reason);
  }

  private space(): void {
    const b = this.b;
    let i = this.i;
    for (let c = b[i]; c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = b[++i]);
    this.i = i;
  }

  private expect(c: number): void {
    if (this.b[this.i] !== c) this.fail();
    this.i++;
  }

  /** A string, from its opening quote; leaves `i` after the closing one and sets `escaped`. */
  private string(): void {
    const b = this.b;
    let i = this.i + 1;
    let escaped = false;
    // Byte by byte in JavaScript: most strings are short, and a native search per string cost more than it saved.
    for (let c = b[i]; c !== QUOTE; c = b[i]) {
      if (c === undefined || c < 0x20) this.fail();
      if (c !== BACKSLASH) {
        i++;
        continue;
      }
      escaped = true;
      const e = b[i + 1];
      if (e === 0x75) {
        if (!isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) this.fail();
        i += 6;
      } else if (e !== undefined && SIMPLE_ESCAPES.has(e)) i += 2;
      else this.fail();
    }
    this.i = i + 1;
    this.escaped = escaped;
  }

  /** A member's key as JSON.parse reads it (escape sequences decoded). */
  private keyText(key: Key): string {
    return key.escaped ? (JSON.parse(this.b.toString('utf8', key.start, key.end)) as string) : this.b.toString('utf8', key.start + 1, key.end - 1);
  }

  private number(): void {
    const b = this.b;
    let i = this.i;
    if (b[i] === 0x2d) i++;
    if (b[i] === 0x30) i++;
    else if (isDigit(b[i])) while (isDigit(b[i])) i++;
    else this.fail();
    if (b[i] === 0x2e) {
      i++;
      if (!isDigit(b[i])) this.fail();
      while (isDigit(b[i])) i++;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++;
      if (b[i] === 0x2b || b[i] === 0x2d) i++;
      if (!isDigit(b[i])) this.fail();
      while (isDigit(b[i])) i++;
    }
    this.i = i;
  }

  private literal(word: string): void {
    for (let k = 0; k < word.length; k++) if (this.b[this.i + k] !== word.charCodeAt(k)) this.fail();
    this.i += word.length;
  }

  /** Any value, checked and skipped. */
  private value(depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`the partition nests deeper than ${MAX_DEPTH} levels`);
    const c = this.b[this.i];
    if (c === QUOTE) this.string();
    else if (c === 0x7b) {
      if (this.open())
        do {
          this.memberKey();
          this.value(depth + 1);
        } while (this.more());
    } else if (c === 0x5b) this.elements(depth);
    else if (c === 0x74) this.literal('true');
    else if (c === 0x66) this.literal('false');
    else if (c === 0x6e) this.literal('null');
    else this.number();
  }

  private elements(depth: number): void {
    this.expect(0x5b);
    this.space();
    if (this.b[this.i] === 0x5d) return void this.i++;
    for (;;) {
      this.space();
      this.value(depth + 1);
      this.space();
      if (this.b[this.i] === 0x2c) this.i++;
      else return this.expect(0x5d);
    }
  }

  /** An object's `{`; false when the object is empty (its `}` read too). */
  private open(): boolean {
    this.expect(0x7b);
    this.space();
    if (this.b[this.i] !== 0x7d) return true;
    this.i++;
    return false;
  }

  /** A member's key and colon, leaving `i` at its value. */
  private memberKey(): Key {
    this.space();
    const start = this.i;
    if (this.b[start] !== QUOTE) this.fail();
    this.string();
    const key = { start, end: this.i, escaped: this.escaped };
    this.space();
    this.expect(0x3a);
    this.space();
    return key;
  }

  /** After a member's value: true when another member follows, false at the object's `}`. */
  private more(): boolean {
    this.space();
    if (this.b[this.i] === 0x2c) {
      this.i++;
      return true;
    }
    this.expect(0x7d);
    return false;
  }

  /** Lets the event loop run, in a turn of its own, once per mebibyte read. */
  private async pause(): Promise<void> {
    this.paused = this.i;
    await cpuTurn();
  }

  private async topLevel(): Promise<void> {
    /** Each member's name at the top, in order; whether the last one of a name is an object. */
    const names: string[] = [];
    const lastIsObject = new Map<string, boolean>();
    const ordinals = new Map<LaidOutSection, number>();
    if (this.open())
      do {
        const name = this.keyText(this.memberKey());
        const isObject = this.b[this.i] === 0x7b;
        names.push(name);
        lastIsObject.set(name, isObject);
        if (isObject && this.vocabulary.laysOut(name)) ordinals.set(await this.section(name), names.length - 1);
        else this.value(1);
      } while (this.more());
    for (const [name, isObject] of lastIsObject) if (!isObject && this.vocabulary.mustBeObject(name)) this.fail(`the partition's ${name} section is not an object`);
    // A repeated name: JSON parsers keep the last member (JSON.parse, Python's json, MSAL.NET's and msal4j's readers).
    for (const [section, ordinal] of ordinals) section.shadowed = names.lastIndexOf(section.name) !== ordinal;
  }

  private async section(name: string): Promise<LaidOutSection> {
    const start = this.i;
    const entries: LaidOutEntry[] = [];
    const last = new Map<string, LaidOutEntry>();
    if (this.open())
      do {
        const member = this.memberKey();
        const key = this.keyText(member);
        const valueStart = this.i;
        const owners = this.b[valueStart] === 0x7b ? this.entry() : (this.value(2), { owner: undefined });
        const entry: LaidOutEntry = { key, start: member.start, end: this.i, valueStart, ...owners, shadowed: false };
        entries.push(entry);
        // A repeated key: JSON parsers keep the last member.
        const earlier = last.get(key);
        if (earlier) earlier.shadowed = true;
        last.set(key, entry);
        if (this.i - this.paused >= PAUSE_EVERY) await this.pause(); // not awaited otherwise: a turn of the microtask queue per entry adds up
      } while (this.more());
    const section: LaidOutSection = { name, start, end: this.i, entries, shadowed: false };
    this.sections.push(section);
    return section;
  }

  /** An entry object; its owner field (the last one, as JSON.parse keeps) when that is a string, and the earlier ones it hides. */
  private entry(): Pick<LaidOutEntry, 'owner' | 'hiddenOwners'> {
    const owners: (string | undefined)[] = [];
    if (this.open())
      do {
        const key = this.memberKey();
        const isOwner = key.escaped ? this.keyText(key) === this.vocabulary.ownerField : this.isOwnerKey(key);
        const valueStart = this.i;
        this.value(3);
        if (isOwner) owners.push(this.b[valueStart] !== QUOTE ? undefined : this.escaped ? (JSON.parse(this.b.toString('utf8', valueStart, this.i)) as string) : this.b.toString('utf8', valueStart + 1, this.i - 1));
      } while (this.more());
    const hidden = owners.slice(0, -1).filter((owner): owner is string => owner !== undefined);
    return hidden.length > 0 ? { owner: owners.at(-1), hiddenOwners: hidden } : { owner: owners.at(-1) };
  }

  /** Whether an unescaped key is the owner field, compared as bytes (decoding every key of every entry cost more). */
  private isOwnerKey(key: Key): boolean {
    const quoted = this.ownerKey;
    if (key.end - key.start !== quoted.length) return false;
    for (let k = 0; k < quoted.length; k++) if (this.b[key.start + k] !== quoted[k]) return false;
    return true;
  }
}

/**
 * Where the entries of a serialized cache's sections sit, read without building the partition as
 * objects, so that a removal can cut entries out of the partition's own bytes and every other byte
 * stays as it was. Escaped keys are read decoded; of repeated keys the last one is the one parsers see,
 * and the others are noted as shadowed. Refused, with the reason: bytes that are not strict UTF-8, a
 * byte order mark, anything that is not one JSON object (trailing bytes included), a member that must
 * be an object and is not, nesting deeper than 64. Lets the event loop run once per mebibyte.
 */
export async function layoutOf(bytes: Buffer, vocabulary: LayoutVocabulary): Promise<PartitionLayout | { refused: string }> {
  if (!isUtf8(bytes)) return { refused: 'the partition is not valid UTF-8' };
  // Not part of a JSON text (RFC 8259), and JSON.parse refuses it: msal-node cannot read such a partition.
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return { refused: 'the partition begins with a byte order mark' };
  const scanner = new Scanner(bytes, vocabulary);
  try {
    await scanner.read();
  } catch (err) {
    if (err instanceof Refusal) return { refused: err.reason };
    throw err;
  }
  return { sections: scanner.sections };
}
