import { distance } from 'fastest-levenshtein';
import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';

/** A configuration problem, naming the offending key. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`${key}: ${reason}`);
    this.name = 'ConfigError';
  }
}

export const UNKNOWN_SETTING = 'is not a known setting';

function pointerToKey(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((key, part) => (/^\d+$/.test(part) ? `${key}[${part}]` : key ? `${key}.${part}` : part), '');
}

/** The sub-schema a schema error's `schemaPath` (a JSON pointer into the schema) points at. */
function schemaAt(schema: TSchema, pointer: string): Record<string, unknown> | undefined {
  let at: unknown = schema;
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) at = (at as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return typeof at === 'object' && at !== null ? (at as Record<string, unknown>) : undefined;
}

/** The known setting nearest to a mistyped one, when it is near enough to be what was meant. */
export function nearest(name: string, known: string[]): string | undefined {
  const scored = known.map((k) => ({ k, d: distance(name.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d);
  const best = scored[0];
  return best && best.d <= Math.max(2, Math.floor(best.k.length / 3)) ? best.k : undefined;
}

/** Schema errors name the deepest offending key first; an unknown key gets the nearest known one, a choice its allowed values. */
export function schemaError(schema: TSchema, raw: unknown): ConfigError | undefined {
  const errors = [...Value.Errors(schema, raw)];
  if (errors.length === 0) return undefined;
  const unknown = errors.find((e) => e.keyword === 'additionalProperties');
  if (unknown) {
    const name = String(((unknown.params as { additionalProperties?: string[] }).additionalProperties ?? [])[0]);
    const parent = pointerToKey(unknown.instancePath);
    const known = Object.keys((schemaAt(schema, unknown.schemaPath)?.properties as Record<string, unknown> | undefined) ?? {});
    const guess = nearest(name, known);
    return new ConfigError(parent ? `${parent}.${name}` : name, `${UNKNOWN_SETTING}${guess ? ` (did you mean ${guess}?)` : ''}`);
  }
  const missing = errors.find((e) => e.keyword === 'required');
  if (missing) {
    const names = (missing.params as { requiredProperties?: string[] }).requiredProperties ?? [];
    const parent = pointerToKey(missing.instancePath);
    return new ConfigError(parent ? `${parent}.${names[0]}` : String(names[0]), 'is required');
  }
  const deepest = errors.reduce((a, b) => (b.instancePath.length > a.instancePath.length ? b : a));
  const allowed = (deepest.params as { allowedValues?: unknown[] }).allowedValues;
  const reason = deepest.keyword === 'enum' && allowed ? `must be one of ${allowed.join(', ')}` : deepest.message;
  return new ConfigError(pointerToKey(deepest.instancePath) || '(root)', reason);
}
