import type { WebSessionIdentity } from '../core/web-session-ender.js';
import type { WebSessionEnding, WebSessionKind, WebSessionTarget } from './kind.js';

/** The placeholders a web-session key template may name, and the target's value each stands for. */
export const WEB_SESSION_PLACEHOLDERS = ['sessionKey', 'sid', 'sub', 'homeAccountId', 'clientId'] as const;
export type WebSessionPlaceholder = (typeof WEB_SESSION_PLACEHOLDERS)[number];

const PLACEHOLDER = /\{([^{}]*)\}/g;
export const MAX_WEB_SESSION_VALUE = 512;

/**
 * Why a key template is refused, or undefined: an unknown placeholder, a stray brace, or (`literalPrefix`)
 * no text of its own before the first placeholder, which would let a registered key name any record.
 */
export function keyTemplateError(template: string, options: { literalPrefix: boolean }): string | undefined {
  if (template.length === 0) return 'must be a non-empty template';
  for (const [, name] of template.matchAll(PLACEHOLDER)) if (!(WEB_SESSION_PLACEHOLDERS as readonly string[]).includes(name ?? '')) return `unknown placeholder {${name}}; known: ${WEB_SESSION_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`;
  if (/[{}]/.test(template.replace(PLACEHOLDER, ''))) return 'has a brace that is not part of a {placeholder}';
  if (options.literalPrefix && template.search(PLACEHOLDER) === 0) return 'must begin with a literal prefix before any placeholder (e.g. "sess:{sessionKey}")';
  if (template.search(PLACEHOLDER) === -1) return 'names no placeholder, so every session would be the same record';
  return undefined;
}

/** The placeholders a template names (an app whose template names `sessionKey` needs it registered). */
export function placeholdersOf(template: string): WebSessionPlaceholder[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] as WebSessionPlaceholder);
}

/** The template filled from the target, or the placeholder that has no value for it. */
export function fillKeyTemplate(template: string, target: WebSessionTarget): { key: string } | { missing: WebSessionPlaceholder } {
  let missing: WebSessionPlaceholder | undefined;
  const key = template.replace(PLACEHOLDER, (_, name: WebSessionPlaceholder) => {
    const value = target[name];
    if (value === undefined || value === '') missing ??= name;
    return value ?? '';
  });
  return missing ? { missing } : { key };
}

/**
 * Why a registered `webSessionKey` or `principal` is refused, or undefined: printable ASCII without spaces
 * or glob characters (`*?[]`), 1 to 512 characters, so that it names one record and no pattern.
 */
export function webSessionValueError(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty string';
  if (value.length > MAX_WEB_SESSION_VALUE) return `must be at most ${MAX_WEB_SESSION_VALUE} characters`;
  if (!/^[\x21-\x7e]+$/.test(value)) return 'must be printable ASCII without spaces';
  if (/[*?[\]]/.test(value)) return 'must not contain glob characters (* ? [ ])';
  return undefined;
}

/** A `key` template filled from the target, or the `skipped` ending that says which value the registration lacked. */
export function keyFor(template: string, target: WebSessionTarget): { key: string } | WebSessionEnding {
  const filled = fillKeyTemplate(template, target);
  return 'key' in filled ? filled : { outcome: 'skipped', detail: `no {${filled.missing}} for this session` };
}

/**
 * A kind's `key` setting checked and defaulted: the template to open the kind with, or why it is refused
 * (`setting` is `key`, for the configuration to name it).
 */
export function resolveKeyTemplate(kind: Pick<WebSessionKind, 'kind' | 'key'>, key: unknown): { key?: string } | { setting: 'key'; reason: string } {
  if (kind.key === 'none') return key === undefined ? {} : { setting: 'key', reason: `is not a setting of a ${kind.kind} web session (the library fixes its keys)` };
  const template = key ?? kind.key.default;
  if (template === undefined) return { setting: 'key', reason: `is required for a ${kind.kind} web session` };
  if (typeof template !== 'string' || template.length > 1024) return { setting: 'key', reason: 'must be a template of at most 1024 characters' };
  const reason = keyTemplateError(template, { literalPrefix: kind.key.literalPrefix });
  return reason ? { setting: 'key', reason } : { key: template };
}

/** What names the records of a kind at that template: the app's session key, else the user (`sub`, the account), else the old `sid`. */
export function identityOf(kind: Pick<WebSessionKind, 'identity'>, template: string | undefined): (target: WebSessionTarget) => WebSessionIdentity {
  if (kind.identity) return (target) => kind.identity!(target);
  const names = template === undefined ? [] : placeholdersOf(template);
  const identity: WebSessionIdentity = names.includes('sessionKey') ? 'sessionKey' : names.includes('sub') || names.includes('homeAccountId') || !names.includes('sid') ? 'user' : 'sid';
  return () => identity;
}
