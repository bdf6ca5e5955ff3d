import { ConfigError } from './errors.js';

export type Env = Record<string, string | undefined>;

/** The settings the environment overrides, by the variable that sets each. */
const ENV_SETTINGS: Record<string, string> = { LOGOUT_RECEIVER_ROLE: 'role', PORT: 'server.port', MANAGEMENT_PORT: 'server.managementPort', HOST: 'server.host', LOG_LEVEL: 'logLevel', REDIS_URL: 'store.url' };

/** The file's settings with the environment's overrides (`PORT`, `HOST`, `LOG_LEVEL`, `REDIS_URL`, …). */
export function applyEnv(raw: Record<string, unknown>, env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const server = { ...((out.server as Record<string, unknown> | undefined) ?? {}) };
  for (const [variable, setting] of [
    ['PORT', 'port'],
    ['MANAGEMENT_PORT', 'managementPort'],
  ] as const) {
    const value = env[variable];
    if (value === undefined) continue;
    if (!/^\d{1,5}$/.test(value)) throw new ConfigError(variable, 'must be a port number');
    server[setting] = Number(value);
  }
  if (env.HOST !== undefined) server.host = env.HOST;
  if (env.PORT !== undefined || env.MANAGEMENT_PORT !== undefined || env.HOST !== undefined) out.server = server;
  if (env.LOG_LEVEL !== undefined) out.logLevel = env.LOG_LEVEL;
  if (env.LOGOUT_RECEIVER_ROLE !== undefined) out.role = env.LOGOUT_RECEIVER_ROLE;
  if (env.REDIS_URL !== undefined) {
    const store = (out.store as Record<string, unknown> | undefined) ?? {};
    if (store.sentinel !== undefined || store.cluster !== undefined)
      throw new ConfigError('REDIS_URL', `would replace the configured ${store.sentinel !== undefined ? 'Sentinel' : 'Cluster'} store with a single node: unset it, or remove store.${store.sentinel !== undefined ? 'sentinel' : 'cluster'}`);
    out.store = { kind: 'redis', url: env.REDIS_URL, ...(typeof store.keyPrefix === 'string' ? { keyPrefix: store.keyPrefix } : {}) };
  }
  return out;
}

/** A mistake in a value the environment gave is the variable's, not the file's. */
export function blameVariable(err: unknown, env: Env): unknown {
  const variable = err instanceof ConfigError ? Object.keys(ENV_SETTINGS).find((v) => env[v] !== undefined && ENV_SETTINGS[v] === err.key) : undefined;
  return variable ? new ConfigError(variable, (err as ConfigError).message.slice((err as ConfigError).key.length + 2)) : err;
}
