import type { WebSessionKind, WebSessionSettings } from './kind.js';
import { WEB_SESSION_KINDS } from './kinds.js';

/** One app's web-session target as configured: its kind and settings (defaults and `key` filled in). */
export interface AppWebSession {
  app: string;
  kind: string;
  settings: WebSessionSettings;
}

/** A template as tokens: a literal character, or a placeholder (one or more characters of any kind). */
type Token = string | null;
const tokensOf = (pattern: string): Token[] => pattern.split(/(\{[^{}]*\})/).flatMap((part) => (/^\{[^{}]*\}$/.test(part) ? [null] : [...part]));

/**
 * Whether some values of the placeholders make the two patterns the same key. Each placeholder stands for
 * any non-empty text (sid and sub are the provider's to choose); a walk over both patterns at once.
 */
export function patternsOverlap(a: string, b: string): boolean {
  const x = tokensOf(a);
  const y = tokensOf(b);
  // A placeholder is one character then any more: state `open` says a placeholder is still taking characters.
  const seen = new Set<string>();
  const walk = (i: number, j: number, openA: boolean, openB: boolean): boolean => {
    const state = `${i},${j},${+openA},${+openB}`;
    if (seen.has(state)) return false;
    seen.add(state);
    if (i === x.length && j === y.length) return true;
    // Close an open placeholder (it has its one character already).
    if (openA && walk(i, j, false, openB)) return true;
    if (openB && walk(i, j, openA, false)) return true;
    // Both produce one character: an open placeholder takes it, else the next token does (a placeholder opens).
    const nextA = openA ? ('any' as const) : i < x.length ? x[i] : undefined;
    const nextB = openB ? ('any' as const) : j < y.length ? y[j] : undefined;
    if (nextA === undefined || nextB === undefined) return false;
    const literalA = typeof nextA === 'string' && nextA !== 'any' ? nextA : undefined;
    const literalB = typeof nextB === 'string' && nextB !== 'any' ? nextB : undefined;
    if (literalA !== undefined && literalB !== undefined && literalA !== literalB) return false;
    return walk(openA ? i : i + 1, openB ? j : j + 1, openA || nextA === null, openB || nextB === null);
  };
  return walk(0, 0, false, false);
}

/**
 * The first pair of different apps whose web-session records could be the same key on the same store
 * (then one app's registered key could end the other's sessions), or undefined.
 */
export function conflictingWebSessions(targets: readonly AppWebSession[], kinds: readonly WebSessionKind[] = WEB_SESSION_KINDS): [AppWebSession, AppWebSession] | undefined {
  const spaces = targets.map((target) => {
    const kind = kinds.find((k) => k.kind === target.kind);
    if (!kind) throw new Error(`unknown web-session kind ${target.kind}`);
    return { target, ...kind.keySpace(target.settings) };
  });
  for (const [n, one] of spaces.entries()) for (const other of spaces.slice(n + 1)) if (one.target.app !== other.target.app && one.store === other.store && one.patterns.some((p) => other.patterns.some((q) => patternsOverlap(p, q)))) return [one.target, other.target];
  return undefined;
}
