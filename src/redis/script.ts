import type { ChainableCommander, Cluster, Redis } from 'ioredis';

/** What a script's key or argument is sent as. */
export type ScriptValue = string | number | Buffer;

/** A name, or a name ending in `?` for one that may be left out (only at the end of its list). */
type Required<N extends string> = N extends `${string}?` ? never : N;
type Optional<N extends string> = N extends `${infer Base}?` ? Base : never;
type Named<N extends string, V> = { [P in Required<N>]: V } & { [P in Optional<N>]?: V };
/** The names given, or nothing to give when the script names none. */
type Given<Field extends string, N extends string, V> = [N] extends [never] ? { [F in Field]?: Named<N, V> } : { [F in Field]: Named<N, V> };

/** One call of a script: its named keys and arguments, then those of a script over any number of entries. */
export type ScriptCall<K extends string, A extends string> = Given<'keys', K, string> &
  Given<'args', A, ScriptValue> & {
    /** Keys after the named ones, in the order the Lua reads them. */
    moreKeys?: readonly string[];
    /** Arguments after the named ones, in the order the Lua reads them. */
    moreArgs?: readonly ScriptValue[];
  };

/** A script defined on one connection: run it there, or queue it on a pipeline or transaction of that connection. */
export interface ScriptCaller<K extends string, A extends string, R> {
  run(call: ScriptCall<K, A>): Promise<R>;
  /** Queues the call; its reply, among the batch's, is read with `reply`. */
  queue(batch: ChainableCommander, call: ScriptCall<K, A>): void;
  reply(raw: unknown): R;
}

export interface RedisScript<K extends string, A extends string, R> {
  /** Defines the script on the connection (once; pipelines opened from it after that can queue it). */
  on(client: Redis | Cluster): ScriptCaller<K, A, R>;
}

export interface ScriptDefinition<K extends string, A extends string, R> {
  /** The command's name on the connection. */
  name: string;
  /** KEYS in order; the Lua reads each by its name. */
  keys: readonly K[];
  /** ARGV in order; the Lua reads each by its name. */
  args: readonly A[];
  /** The script's body, after the locals that name its keys and arguments. */
  lua: string;
  /** The reply, checked and typed. */
  reply: (raw: unknown) => R;
  /** Bulk strings in the reply come as Buffers (bytes that may not be UTF-8), not as strings. */
  buffers?: boolean;
}

const bare = (name: string): string => name.replace(/\?$/, '');

/** Locals named after the keys and arguments, so that the Lua reads `report`, not `KEYS[2]`. */
function prelude(names: readonly string[], table: 'KEYS' | 'ARGV'): string {
  if (names.length === 0) return '';
  return `local ${names.map(bare).join(', ')} = ${names.map((_, i) => `${table}[${i + 1}]`).join(', ')}\n`;
}

/** The values in order: the named ones (an optional one left out ends them), then the rest. */
function positional<V>(names: readonly string[], given: Partial<Record<string, V>> | undefined, more: readonly V[] | undefined, what: string): V[] {
  const values: V[] = [];
  for (const name of names) {
    const value = given?.[bare(name)];
    if (value === undefined) {
      if (!name.endsWith('?')) throw new TypeError(`the script's ${what} ${name} is missing`);
      break;
    }
    values.push(value);
  }
  if (more?.length && values.length < names.length) throw new TypeError(`the script's ${what} after an omitted one are misplaced`);
  return more ? [...values, ...more] : values;
}

/** An ioredis command defined by `defineCommand` (EVALSHA, falling back to EVAL; a pipeline loads it first). */
function invoke(target: object, name: string, args: ScriptValue[]): unknown {
  const command: unknown = Reflect.get(target, name);
  if (typeof command !== 'function') throw new Error(`the script ${name} was not defined on the connection before this pipeline was opened`);
  return Reflect.apply(command, target, args) as unknown;
}

/**
 * Defines a Lua script once, with named keys and arguments, and gives a typed caller for a connection
 * and its pipelines: no positional arrays at call sites, no casts to reach the defined command.
 */
export function defineScript<const K extends string = never, const A extends string = never, R = unknown>(definition: ScriptDefinition<K, A, R>): RedisScript<K, A, R> {
  const optional = (names: readonly string[]): boolean => names.some((n, i) => !n.endsWith('?') && names.slice(0, i).some((m) => m.endsWith('?')));
  if (optional(definition.keys) || optional(definition.args)) throw new TypeError(`${definition.name}: optional names go last`);
  const lua = prelude(definition.keys, 'KEYS') + prelude(definition.args, 'ARGV') + definition.lua;
  const argsOf = (call: ScriptCall<K, A>): ScriptValue[] => {
    // Indexed by name at run time; the call's type says which names it has.
    const named = call as { keys?: Partial<Record<string, string>>; args?: Partial<Record<string, ScriptValue>> };
    const keys = positional(definition.keys, named.keys, call.moreKeys, 'keys');
    return [keys.length, ...keys, ...positional(definition.args, named.args, call.moreArgs, 'arguments')];
  };
  // ioredis defines `<name>Buffer` beside every command, which answers bulk strings as Buffers.
  const command = definition.buffers ? `${definition.name}Buffer` : definition.name;
  return {
    on(client) {
      if (typeof Reflect.get(client, definition.name) !== 'function') client.defineCommand(definition.name, { lua });
      return {
        run: async (call) => definition.reply(await invoke(client, command, argsOf(call))),
        queue: (batch, call) => void invoke(batch, command, argsOf(call)),
        reply: definition.reply,
      };
    },
  };
}

/** Replies, checked. */
export const replies = {
  number(raw: unknown): number {
    if (typeof raw !== 'number') throw new TypeError(`a script replied ${typeof raw}, not a number`);
    return raw;
  },
  strings(raw: unknown): string[] {
    if (!Array.isArray(raw) || !raw.every((item): item is string => typeof item === 'string')) throw new TypeError('a script replied other than a list of strings');
    return raw;
  },
};
