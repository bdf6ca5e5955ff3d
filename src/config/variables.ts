import { readFile } from 'node:fs/promises';
import { ConfigError } from './errors.js';
import type { Env } from './environment.js';

const VARIABLE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * `${NAME}` in any string of the file is the environment variable NAME or, when NAME_FILE is set instead,
 * the content of that file less one trailing newline (a Docker or Kubernetes secret): so the file itself
 * need not be a secret. `$$` is a literal `$`. A variable that is not set stops the start, naming the key.
 */
export async function expandVariables(value: unknown, key: string, env: Env): Promise<unknown> {
  if (typeof value === 'string') {
    const names = [...value.matchAll(VARIABLE)].map((m) => m[1]).filter((n): n is string => n !== undefined);
    const values = new Map<string, string>();
    for (const name of names) {
      if (env[name] !== undefined) values.set(name, env[name]!);
      else if (env[`${name}_FILE`] !== undefined) {
        try {
          values.set(name, (await readFile(env[`${name}_FILE`]!, 'utf8')).replace(/\r?\n$/, ''));
        } catch (err) {
          throw new ConfigError(key || '(root)', `\${${name}}: ${name}_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        }
      } else throw new ConfigError(key || '(root)', `\${${name}}: neither ${name} nor ${name}_FILE is set`);
    }
    return value.replace(VARIABLE, (match, name?: string) => (name === undefined ? '$' : values.get(name)!));
  }
  if (Array.isArray(value)) return Promise.all(value.map((item, i) => expandVariables(item, `${key}[${i}]`, env)));
  if (value !== null && typeof value === 'object') return Object.fromEntries(await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await expandVariables(v, key ? `${key}.${k}` : k, env)])));
  return value;
}
