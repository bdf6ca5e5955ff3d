import type { KindSettings } from '../../core/kind-settings.js';
import { ConfigError, nearest, schemaError, UNKNOWN_SETTING } from '../errors.js';

/** A kind's settings checked against that kind's own schema and rules, with its defaults: errors name `at.setting`. */
export function resolveKind(kinds: readonly KindSettings[], name: unknown, settings: Record<string, unknown>, at: string, what: string): Record<string, unknown> {
  const kind = kinds.find((k) => k.kind === name);
  if (!kind) {
    const guess =
      typeof name === 'string'
        ? nearest(
            name,
            kinds.map((k) => k.kind),
          )
        : undefined;
    throw new ConfigError(`${at}.kind`, `must be one of ${kinds.map((k) => k.kind).join(', ')}${guess ? ` (did you mean ${guess}?)` : ''}`);
  }
  const error = schemaError(kind.settings, settings);
  if (error) {
    const reason = error.message.slice(error.key.length + 2);
    throw new ConfigError(error.key === '(root)' ? at : `${at}.${error.key}`, reason.startsWith(UNKNOWN_SETTING) ? `is not a setting of a ${kind.kind} ${what}${reason.slice(UNKNOWN_SETTING.length)}` : reason);
  }
  const problem = kind.check?.(settings);
  if (problem) throw new ConfigError(problem.setting ? `${at}.${problem.setting}` : at, problem.reason);
  return kind.defaults ? kind.defaults(settings) : settings;
}
