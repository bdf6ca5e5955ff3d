import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { isLoopbackHost } from '../core/registrations.js';
import type { Config } from './config.js';
import { developmentConfigFile } from './development.js';
import { applyEnv, blameVariable, type Env } from './environment.js';
import { ConfigError } from './errors.js';
import { resolveConfig } from './resolve.js';
import { expandVariables } from './variables.js';

// What callers import of the configuration, from one place.
export type { ApiKeyConfig, AppBinding, AppConfig, Config, EntraApiConfig, IssuerConfig, ServerConfig } from './config.js';
export { ConfigError } from './errors.js';
export { resolveConfig } from './resolve.js';

function parseFile(path: string, text: string): unknown {
  try {
    return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigError(path, `cannot be parsed: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** The file at `path`, parsed, its `${VAR}`s expanded. */
async function readConfigFile(path: string, env: Env): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const raw = parseFile(path, text);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(path, 'must hold a mapping of settings');
  return expandVariables(raw, '', env);
}

/** Reads `--config FILE` or LOGOUT_RECEIVER_CONFIG; without either, the development configuration. */
export async function loadConfig(argv: string[], env: Env = process.env): Promise<Config> {
  const flag = argv.indexOf('--config');
  const fromFlag = flag >= 0 ? argv[flag + 1] : argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
  if (flag >= 0 && !fromFlag) throw new ConfigError('--config', 'needs a file path');
  const path = fromFlag ?? env.LOGOUT_RECEIVER_CONFIG;
  const raw = path ? await readConfigFile(path, env) : developmentConfigFile();
  let config: Config;
  try {
    config = resolveConfig(applyEnv(raw as Record<string, unknown>, env), !path);
  } catch (err) {
    throw blameVariable(err, env);
  }
  if (config.development && !isLoopbackHost(config.server.host)) throw new ConfigError('HOST', 'without a configuration file the service (and its built-in development key) listens on loopback only; give --config to listen elsewhere');
  return config;
}
