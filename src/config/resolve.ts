import type { Config } from './config.js';
import { schemaError } from './errors.js';
import { resolveApi } from './resolve/api.js';
import { resolveApps } from './resolve/apps.js';
import { resolveIssuers } from './resolve/issuers.js';
import { resolveServer } from './resolve/server.js';
import { resolveStore } from './resolve/store.js';
import { resolveLimits, resolveRetention, resolveRetry } from './resolve/timings.js';
import { ConfigSchema, type ConfigFile } from './schema.js';

/** Checks what the schema cannot and fills in defaults, section by section (each resolver names the key at fault). */
export function resolveConfig(raw: unknown, development = false): Config {
  const error = schemaError(ConfigSchema, raw);
  if (error) throw error;
  const file = raw as ConfigFile;
  const issuers = resolveIssuers(file.issuers);
  const apps = resolveApps(file.apps, issuers);
  const api = resolveApi(file.api, apps);
  const role = file.role ?? 'all';
  const store = resolveStore(file.store, role);
  return {
    server: resolveServer(file.server, development),
    logLevel: file.logLevel ?? 'info',
    logClientAddresses: file.logClientAddresses ?? true,
    role,
    store,
    clockSkewSeconds: file.clockSkewSeconds ?? 120,
    retention: resolveRetention(file.retention),
    retry: resolveRetry(file.retry),
    limits: resolveLimits(file.limits),
    issuers,
    apps,
    ...api,
    development,
  };
}
