import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { distance } from 'fastest-levenshtein';
import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';
import type { KindSettings } from '../core/kind-settings.js';
import { STORE_KINDS } from '../stores/kinds.js';
import { DEFAULT_TOKEN_CACHE_KIND, TOKEN_CACHE_KINDS } from '../token-caches/kinds.js';
import { isLoopbackHost, TENANT_PLACEHOLDER, type AppConfig, type IssuerConfig } from '../core/registrations.js';
import { ConfigSchema, SIGNING_ALGORITHMS, type ApiScope, type ConfigFile } from './schema.js';

export { isLoopbackHost, TENANT_PLACEHOLDER, type AppConfig, type IssuerConfig };

/** The clientIds of the apps a caller is bound to, or '*' for every app. */
export type AppBinding = '*' | string[];

export interface ApiKeyConfig {
  name: string;
  sha256: string;
  scopes: ApiScope[];
  apps: AppBinding;
  /** False when the key named no apps (it is then bound to every app, and the start warns). */
  appsNamed: boolean;
}

/** Entra ID access tokens accepted on the API: app-only tokens (client credentials, managed identity). */
export interface EntraApiConfig {
  tenants: string[];
  audiences: string[];
  jwksUri: string;
  /** The app role a token must carry for each scope. */
  roles: Partial<Record<ApiScope, string>>;
  /** When set, only these calling apps (azp / appid). */
  clients?: { id: string; apps: AppBinding }[];
}

export interface Config {
  /** `trustProxy`: the addresses or CIDRs of the proxies whose X-Forwarded-For is believed (none: the peer is the client). */
  /** `managementPort`: where /healthz, /readyz and /metrics listen alone (unset: on `port`). `shutdownDelaySeconds`: how long SIGTERM keeps serving after /readyz turns 503. */
  server: { host: string; port: number; managementPort?: number; shutdownDelaySeconds: number; trustProxy: string[] };
  logLevel: string;
  /** `all` takes logouts in and carries them out; a `receiver` only takes them in, a `worker` only carries them out (a shared store). */
  role: 'all' | 'receiver' | 'worker';
  /** Whether request lines carry the client's address (the one the trusted proxy saw). */
  logClientAddresses: boolean;
  /** The store's kind (stores/kinds.ts) and that kind's settings, defaults filled in. */
  store: { kind: string } & Record<string, unknown>;
  clockSkewSeconds: number;
  retention: { sessionSeconds: number; loggedOutMarkerSeconds: number; unmatchedMarkerSeconds: number; logoutReportSeconds: number; secondPassSeconds: number };
  /** How queued logouts are retried (see LogoutService). */
  retry: { baseDelayMs: number; maxDelayMs: number; maxAttempts: number; leaseMs: number };
  /** Abuse limits: requests per minute per client IP (public routes) and per API caller, and HTTP timeouts. */
  limits: { publicRequestsPerMinute: number; apiRequestsPerMinute: number; failedAuthenticationsPerMinute: number; headersTimeoutSeconds: number; requestTimeoutSeconds: number };
  issuers: IssuerConfig[];
  apps: AppConfig[];
  apiKeys: ApiKeyConfig[];
  apiEntra?: EntraApiConfig;
  /** True when no file was given: the built-in try-it-out configuration. */
  development: boolean;
}

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

export const CACHE_KEY_PLACEHOLDERS = ['homeAccountId', 'clientId', 'tenantId', 'oid', 'cacheKey'] as const;
export const DEFAULT_CACHE_KEY = '{homeAccountId}';

/** The key of the built-in development configuration; served on loopback only. */
export const DEVELOPMENT_API_KEY = 'dev-only-key';
const DEVELOPMENT_API_KEY_SHA256 = 'b252a5182b56e1d178b5d2d64eee6e43342ace141fdb3916ea6841fa172e1496';

/** `https`, or plain `http` to this machine only. */
function checkFetchUrl(key: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(key, 'is not a URL');
  }
  if (url.protocol === 'https:') return url.href;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url.href;
  throw new ConfigError(key, 'must be https (plain http only for loopback hosts)');
}

/** The names proxy-addr (Fastify's trustProxy) knows for address ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** A list of the proxies' addresses or CIDRs; `true` and hop counts are refused, saying why. */
function checkTrustProxy(value: unknown): string[] {
  const key = 'server.trustProxy';
  if (value === undefined || value === false) return [];
  if (value === true)
    throw new ConfigError(key, 'true is refused: every address in X-Forwarded-For would then be the client\'s to write; list the proxies\' addresses or CIDRs');
  if (typeof value === 'number')
    throw new ConfigError(key, 'a hop count is refused: it cannot check that the peer is your proxy (and Fastify 5 ignores one); list the proxies\' addresses or CIDRs');
  if (!Array.isArray(value)) throw new ConfigError(key, 'must be a list of the proxies\' addresses or CIDRs');
  return value.map((entry, i) => {
    const [address, bits, extra] = typeof entry === 'string' ? entry.split('/') : [];
    const family = address === undefined ? 0 : isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    const validBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits);
    if (typeof entry === 'string' && PROXY_RANGE_NAMES.includes(entry)) return entry;
    if (typeof entry !== 'string' || family === 0 || !validBits || extra !== undefined)
      throw new ConfigError(`${key}[${i}]`, `is not an IP address, a CIDR or one of ${PROXY_RANGE_NAMES.join(', ')}`);
    return entry;
  });
}

function checkOrigin(key: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(key, 'is not an origin like https://login.microsoftonline.com');
  }
  if (url.origin === 'null' || url.href !== `${url.origin}/` || (url.protocol !== 'https:' && !isLoopbackHost(url.hostname)))
    throw new ConfigError(key, 'must be an https origin (scheme://host[:port], no path)');
  return url.origin;
}

function pointerToKey(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((key, part) => (/^\d+$/.test(part) ? `${key}[${part}]` : key ? `${key}.${part}` : part), '');
}

/** Schema errors name the deepest offending key first. */
/** The sub-schema a schema error's `schemaPath` (a JSON pointer into the schema) points at. */
function schemaAt(schema: TSchema, pointer: string): Record<string, unknown> | undefined {
  let at: unknown = schema;
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) at = (at as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return typeof at === 'object' && at !== null ? (at as Record<string, unknown>) : undefined;
}

/** The known setting nearest to a mistyped one, when it is near enough to be what was meant. */
function nearest(name: string, known: string[]): string | undefined {
  const scored = known.map((k) => ({ k, d: distance(name.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d);
  const best = scored[0];
  return best && best.d <= Math.max(2, Math.floor(best.k.length / 3)) ? best.k : undefined;
}

export const UNKNOWN_SETTING = 'is not a known setting';

/** Schema errors name the deepest offending key first; an unknown key gets the nearest known one, a choice its allowed values. */
function schemaError(schema: TSchema, raw: unknown): ConfigError | undefined {
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

/** A kind's settings checked against that kind's own schema and rules, with its defaults: errors name `at.setting`. */
function resolveKind(
  kinds: readonly KindSettings[],
  name: unknown,
  settings: Record<string, unknown>,
  at: string,
  what: string,
): Record<string, unknown> {
  const kind = kinds.find((k) => k.kind === name);
  if (!kind) {
    const guess = typeof name === 'string' ? nearest(name, kinds.map((k) => k.kind)) : undefined;
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

function unique<T>(items: T[], keyOf: (item: T) => string, key: (i: number) => string, what: string): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = keyOf(item);
    if (seen.has(k)) throw new ConfigError(key(i), `duplicate ${what} "${k}"`);
    seen.add(k);
  });
}

/** Checks what the schema cannot and fills in defaults. */
export function resolveConfig(raw: unknown, development = false): Config {
  const error = schemaError(ConfigSchema, raw);
  if (error) throw error;
  const file = raw as ConfigFile;

  unique(file.issuers, (i) => i.name, (i) => `issuers[${i}].name`, 'issuer name');
  unique(file.issuers, (i) => i.issuer, (i) => `issuers[${i}].issuer`, 'issuer');
  const issuers: IssuerConfig[] = file.issuers.map((i, n) => {
    const at = `issuers[${n}]`;
    const isTemplate = TENANT_PLACEHOLDER.test(i.issuer);
    const example = i.issuer.replace(TENANT_PLACEHOLDER, 'tenant');
    if (/[{}]/.test(example)) throw new ConfigError(`${at}.issuer`, 'the only placeholder is {tenantid}');
    try {
      new URL(example);
    } catch {
      throw new ConfigError(`${at}.issuer`, 'is not a URL');
    }
    if (isTemplate && !i.tenants?.length)
      throw new ConfigError(`${at}.tenants`, 'a {tenantid} issuer template needs its list of allowed tenants');
    if (!isTemplate && i.tenants) throw new ConfigError(`${at}.tenants`, 'only applies to a {tenantid} issuer template');
    if (i.jwksUri && TENANT_PLACEHOLDER.test(i.jwksUri))
      throw new ConfigError(`${at}.jwksUri`, 'must not contain a placeholder');
    const jwksUri = i.jwksUri ? checkFetchUrl(`${at}.jwksUri`, i.jwksUri) : undefined;
    let discoveryUrl: string | undefined;
    if (!jwksUri) {
      const discovery = i.discoveryUrl ?? `${i.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      checkFetchUrl(i.discoveryUrl ? `${at}.discoveryUrl` : `${at}.issuer`, discovery.replace(TENANT_PLACEHOLDER, 'tenant'));
      discoveryUrl = discovery;
    }
    return {
      name: i.name,
      issuer: i.issuer,
      isTemplate,
      tenants: i.tenants ?? [],
      ...(jwksUri ? { jwksUri } : {}),
      ...(discoveryUrl ? { discoveryUrl } : {}),
      algorithms: i.algorithms ?? [...SIGNING_ALGORITHMS],
      frontchannelOrigins: (i.frontchannelOrigins ?? []).map((o, k) => checkOrigin(`${at}.frontchannelOrigins[${k}]`, o)),
      requireTyp: i.requireTyp ?? false,
      maxTokenAgeSeconds: i.maxTokenAgeSeconds ?? 3600,
    };
  });

  const issuerNames = new Set(issuers.map((i) => i.name));
  unique(file.apps, (a) => a.clientId, (i) => `apps[${i}].clientId`, 'clientId');
  unique(file.apps, (a) => a.name, (i) => `apps[${i}].name`, 'app name');
  const apps: AppConfig[] = file.apps.map((a, n) => {
    a.issuers.forEach((name, k) => {
      if (!issuerNames.has(name)) throw new ConfigError(`apps[${n}].issuers[${k}]`, `no issuer is named "${name}"`);
    });
    const { kind: kindName = DEFAULT_TOKEN_CACHE_KIND, key = DEFAULT_CACHE_KEY, ...settings } = a.tokenCache;
    const at = `apps[${n}].tokenCache`;
    if (typeof key !== 'string' || key.length === 0) throw new ConfigError(`${at}.key`, 'must be a non-empty string');
    for (const [, placeholder] of key.matchAll(/\{([^}]*)\}/g))
      if (!(CACHE_KEY_PLACEHOLDERS as readonly string[]).includes(placeholder ?? ''))
        throw new ConfigError(`${at}.key`, `unknown placeholder {${placeholder}}; known: ${CACHE_KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`);
    const tokenCache = { kind: kindName, key, ...resolveKind(TOKEN_CACHE_KINDS, kindName, settings, at, 'token cache') };
    return { clientId: a.clientId, name: a.name, issuers: a.issuers, tokenCache, requireIdToken: a.requireIdToken ?? false };
  });

  /** App names (or "*") as the clientIds they name. */
  const bindingOf = (names: string[], key: string): AppBinding => {
    if (names.includes('*')) return '*';
    return names.map((name, j) => {
      const app = apps.find((a) => a.name === name);
      if (!app) throw new ConfigError(`${key}[${j}]`, `no app is named "${name}"`);
      return app.clientId;
    });
  };

  let apiEntra: EntraApiConfig | undefined;
  const entra = file.api?.entra;
  if (entra) {
    if (Object.keys(entra.roles).length === 0) throw new ConfigError('api.entra.roles', 'name the app role of at least one scope');
    apiEntra = {
      tenants: entra.tenants.map((t) => t.toLowerCase()),
      audiences: [entra.audience].flat(),
      jwksUri: checkFetchUrl('api.entra.jwksUri', entra.jwksUri ?? 'https://login.microsoftonline.com/common/discovery/v2.0/keys'),
      roles: entra.roles,
      ...(entra.clients
        ? {
            clients: entra.clients.map((c, i) =>
              typeof c === 'string' ? { id: c, apps: '*' as const } : { id: c.id, apps: bindingOf(c.apps, `api.entra.clients[${i}].apps`) },
            ),
          }
        : {}),
    };
  }
  const apiKeys: ApiKeyConfig[] = (file.api?.keys ?? []).map((k, i) => ({
    name: k.name,
    sha256: k.sha256.toLowerCase(),
    scopes: k.scopes,
    apps: k.apps === undefined ? '*' : bindingOf(k.apps, `api.keys[${i}].apps`),
    appsNamed: k.apps !== undefined,
  }));
  unique(apiKeys, (k) => k.name, (i) => `api.keys[${i}].name`, 'key name');
  unique(apiKeys, (k) => k.sha256, (i) => `api.keys[${i}].sha256`, 'key hash');

  const port = file.server?.port ?? 8080;
  if (file.server?.managementPort !== undefined && file.server.managementPort !== 0 && file.server.managementPort === port)
    throw new ConfigError('server.managementPort', `is server.port (${port}); give the probes a port of their own, or leave it out to serve them on the main port`);

  const { kind: storeKind = 'memory', ...storeSettings } = file.store ?? {};
  const role = file.role ?? 'all';
  if (role !== 'all' && storeKind === 'memory')
    throw new ConfigError('role', `a ${role} needs a store the receivers and workers share (store.kind: redis); on the memory store one process of role all does both`);
  const store: Config['store'] = { kind: storeKind, ...resolveKind(STORE_KINDS, storeKind, storeSettings, 'store', 'store') };

  return {
    server: {
      host: file.server?.host ?? (development ? '127.0.0.1' : '0.0.0.0'),
      port,
      ...(file.server?.managementPort !== undefined ? { managementPort: file.server.managementPort } : {}),
      shutdownDelaySeconds: file.server?.shutdownDelaySeconds ?? (development ? 0 : 5),
      trustProxy: checkTrustProxy(file.server?.trustProxy),
    },
    logLevel: file.logLevel ?? 'info',
    logClientAddresses: file.logClientAddresses ?? true,
    role,
    store,
    clockSkewSeconds: file.clockSkewSeconds ?? 120,
    retention: {
      sessionSeconds: file.retention?.sessionSeconds ?? 30 * 24 * 3600,
      loggedOutMarkerSeconds: file.retention?.loggedOutMarkerSeconds ?? 7 * 24 * 3600,
      unmatchedMarkerSeconds: file.retention?.unmatchedMarkerSeconds ?? 600,
      logoutReportSeconds: file.retention?.logoutReportSeconds ?? 7 * 24 * 3600,
      secondPassSeconds: file.retention?.secondPassSeconds ?? 60,
    },
    retry: {
      baseDelayMs: (file.retry?.baseDelaySeconds ?? 1) * 1000,
      maxDelayMs: (file.retry?.maxDelaySeconds ?? 60) * 1000,
      maxAttempts: file.retry?.maxAttempts ?? 100,
      leaseMs: (file.retry?.leaseSeconds ?? 30) * 1000,
    },
    limits: {
      publicRequestsPerMinute: file.limits?.publicRequestsPerMinute ?? 600,
      apiRequestsPerMinute: file.limits?.apiRequestsPerMinute ?? 6000,
      failedAuthenticationsPerMinute: file.limits?.failedAuthenticationsPerMinute ?? 20,
      headersTimeoutSeconds: file.limits?.headersTimeoutSeconds ?? 10,
      requestTimeoutSeconds: file.limits?.requestTimeoutSeconds ?? 30,
    },
    issuers,
    apps,
    apiKeys,
    ...(apiEntra ? { apiEntra } : {}),
    development,
  };
}

/** The configuration `npm start` uses when no file is given: memory only, loopback only. */
export function developmentConfigFile(): ConfigFile {
  return {
    store: { kind: 'memory' },
    issuers: [
      {
        name: 'demo',
        issuer: 'http://localhost:8080/demo-issuer',
        jwksUri: 'http://127.0.0.1:8080/demo-issuer/jwks',
        frontchannelOrigins: ['http://localhost:8080'],
      },
    ],
    apps: [
      {
        clientId: '00000000-0000-4000-8000-000000000001',
        name: 'demo-web',
        issuers: ['demo'],
        tokenCache: { kind: 'memory' },
      },
    ],
    api: { keys: [{ name: 'development', sha256: DEVELOPMENT_API_KEY_SHA256, scopes: ['sessions:write', 'logouts:write', 'read'], apps: ['*'] }] },
  };
}

type Env = Record<string, string | undefined>;

/** The settings the environment overrides, by the variable that sets each. */
const ENV_SETTINGS: Record<string, string> = { LOGOUT_RECEIVER_ROLE: 'role', PORT: 'server.port', MANAGEMENT_PORT: 'server.managementPort', HOST: 'server.host', LOG_LEVEL: 'logLevel', REDIS_URL: 'store.url' };

function applyEnv(raw: Record<string, unknown>, env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const server = { ...((out.server as Record<string, unknown> | undefined) ?? {}) };
  for (const [variable, setting] of [['PORT', 'port'], ['MANAGEMENT_PORT', 'managementPort']] as const) {
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

const VARIABLE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * `${NAME}` in any string of the file is the environment variable NAME or, when NAME_FILE is set instead,
 * the content of that file less one trailing newline (a Docker or Kubernetes secret): so the file itself
 * need not be a secret. `$$` is a literal `$`. A variable that is not set stops the start, naming the key.
 */
async function expandVariables(value: unknown, key: string, env: Env): Promise<unknown> {
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
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await expandVariables(v, key ? `${key}.${k}` : k, env)])));
  return value;
}

function parseFile(path: string, text: string): unknown {
  try {
    return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigError(path, `cannot be parsed: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Reads `--config FILE` or LOGOUT_RECEIVER_CONFIG; without either, the development configuration. */
export async function loadConfig(argv: string[], env: Env = process.env): Promise<Config> {
  const flag = argv.indexOf('--config');
  const fromFlag = flag >= 0 ? argv[flag + 1] : argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
  if (flag >= 0 && !fromFlag) throw new ConfigError('--config', 'needs a file path');
  const path = fromFlag ?? env.LOGOUT_RECEIVER_CONFIG;
  let raw: unknown;
  if (path) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new ConfigError(path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    raw = parseFile(path, text);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new ConfigError(path, 'must hold a mapping of settings');
    raw = await expandVariables(raw, '', env);
  } else {
    raw = developmentConfigFile();
  }
  let config: Config;
  try {
    config = resolveConfig(applyEnv(raw as Record<string, unknown>, env), !path);
  } catch (err) {
    // A mistake in a value the environment gave is the variable's, not the file's.
    const variable = err instanceof ConfigError ? Object.keys(ENV_SETTINGS).find((v) => env[v] !== undefined && ENV_SETTINGS[v] === err.key) : undefined;
    if (variable) throw new ConfigError(variable, (err as ConfigError).message.slice((err as ConfigError).key.length + 2));
    throw err;
  }
  if (config.development && !isLoopbackHost(config.server.host))
    throw new ConfigError('HOST', 'without a configuration file the service (and its built-in development key) listens on loopback only; give --config to listen elsewhere');
  return config;
}
