import { placeholdersOf, webSessionValueError } from './key-template.js';
import { WEB_SESSION_KINDS } from './kinds.js';

/**
 * Why a registration for an app with these web-session settings is refused, or undefined: a
 * `webSessionKey` or `principal` that is not a plain value, or no `webSessionKey` where the app's records
 * are named by it.
 */
export function registrationError(settings: readonly { kind: string; key?: string }[], given: { webSessionKey?: string | undefined; principal?: string | undefined }): string | undefined {
  for (const name of ['webSessionKey', 'principal'] as const) {
    const value = given[name];
    const problem = value === undefined ? undefined : webSessionValueError(value);
    if (problem) return `${name} ${problem}`;
  }
  const needed = settings.some((s) => (s.key !== undefined ? placeholdersOf(s.key).includes('sessionKey') : WEB_SESSION_KINDS.find((k) => k.kind === s.kind)?.needsSessionKey === true));
  if (needed && given.webSessionKey === undefined) return "this app's web sessions are named by the app's session id: give it as webSessionKey";
  return undefined;
}
