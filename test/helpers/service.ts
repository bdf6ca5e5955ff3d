import { createHash } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { resolveConfig, type Config } from '../../src/config/load.js';
import type { ConfigFile } from '../../src/config/schema.js';
import { buildApp, type AppDependencies } from '../../src/server.js';
import { createBackends } from '../../src/backends.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import type { ServiceStores } from '../../src/core/service-stores.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { TestProvider } from './provider.js';

export const ISSUER = 'https://idp.example.test';
export const ENTRA_TEMPLATE = 'https://login.microsoftonline.com/{tenantid}/v2.0';
export const TENANT_A = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const TENANT_B = '11111111-2222-4333-8444-555555555555';
export const ORDERS = '6731de76-14a6-49ae-97bc-6eba6914391e';
export const BILLING = '0c0d9fd4-7b8e-4a8e-9f4f-3b6c54b0b7a1';
export const STRANGER = '99999999-9999-4999-8999-999999999999';

export const FULL_KEY = 'full-access-test-key';
export const READ_KEY = 'read-only-test-key';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

export interface TestService {
  app: FastifyInstance;
  config: Config;
  provider: TestProvider;
  stores: ServiceStores;
  caches: Map<string, MemoryTokenCacheStore>;
  auth: { authorization: string };
  close(): Promise<void>;
}

/** The configuration file the tests start from: one plain issuer, one Entra template, two apps. */
export function testConfigFile(jwksUri: string): ConfigFile {
  return {
    // Processes the tests stop with SIGTERM need not wait for load balancers (shutdown.test.ts sets its own).
    server: { shutdownDelaySeconds: 0 },
    clockSkewSeconds: 120,
    issuers: [
      { name: 'idp', issuer: ISSUER, jwksUri, algorithms: ['RS256', 'ES256'], frontchannelOrigins: ['https://idp.example.test'] },
      { name: 'entra', issuer: ENTRA_TEMPLATE, tenants: [TENANT_A, TENANT_B], jwksUri, algorithms: ['RS256'], frontchannelOrigins: ['https://login.microsoftonline.com'] },
    ],
    apps: [
      { clientId: ORDERS, name: 'orders-web', issuers: ['idp', 'entra'], tokenCache: { kind: 'memory', key: 'msal:{clientId}:{homeAccountId}' } },
      { clientId: BILLING, name: 'billing-web', issuers: ['idp', 'entra'], tokenCache: { kind: 'memory' } },
    ],
    api: {
      keys: [
        { name: 'full', sha256: sha256(FULL_KEY), scopes: ['sessions:write', 'logouts:write', 'read'] },
        { name: 'reader', sha256: sha256(READ_KEY), scopes: ['read'] },
      ],
    },
  };
}

/** The whole service on Redis (the store and every app's token cache), with a real JWKS server. */
export async function startRedisService(options: { storeUrl: string; cacheUrl?: string; prefix: string; edit?: (file: ConfigFile) => void; retry?: AppDependencies['retry']; workerIntervalMs?: number }): Promise<TestService> {
  const provider = await TestProvider.start();
  const file = testConfigFile(provider.jwksUri);
  file.store = { kind: 'redis', url: options.storeUrl, keyPrefix: options.prefix };
  file.apps[0]!.tokenCache = { url: options.cacheUrl ?? options.storeUrl, key: `${options.prefix}msal:{clientId}:{homeAccountId}` };
  file.apps[1]!.tokenCache = { url: options.cacheUrl ?? options.storeUrl, key: `${options.prefix}shared-cache` };
  options.edit?.(file);
  const config = resolveConfig(file);
  const backends = createBackends(config, () => {});
  await backends.connected(5_000);
  const { stores, attemptStores, tokenCaches, webSessions, shared } = backends;
  const app = await buildApp({
    config,
    stores,
    attemptStores,
    tokenCaches,
    webSessions,
    ...(shared ? { rateLimitRedis: shared.redis, rateLimitPrefix: shared.keyPrefix } : {}),
    logger: false,
    retry: options.retry ?? { baseDelayMs: 20, maxDelayMs: 100, leaseMs: 2_000 },
    workerIntervalMs: options.workerIntervalMs ?? 25,
  });
  await app.ready();
  return {
    app,
    config,
    provider,
    stores,
    caches: new Map(),
    auth: { authorization: `Bearer ${FULL_KEY}` },
    async close() {
      await app.close();
      await provider.close();
    },
  };
}

/** Waits for `check` to hold, asking every `everyMs` (for state in another process or store, which sends no event). */
export async function until<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The whole service on memory stores, with a real JWKS server; `edit` adjusts the config file first. */
export async function startService(edit: (file: ConfigFile) => void = () => {}): Promise<TestService> {
  const provider = await TestProvider.start();
  const file = testConfigFile(provider.jwksUri);
  edit(file);
  const config = resolveConfig(file);
  const stores = createMemoryStores({ reportRetentionMs: 3600_000, pruneIntervalMs: 0 });
  const caches = new Map(config.apps.map((a) => [a.clientId, new MemoryTokenCacheStore()]));
  const app = await buildApp({ config, stores, tokenCaches: caches, logger: false });
  return {
    app,
    config,
    provider,
    stores,
    caches,
    auth: { authorization: `Bearer ${FULL_KEY}` },
    async close() {
      await app.close();
      await provider.close();
    },
  };
}

/**
 * POSTs a logout token as the provider does, then waits until the logout it answered has had its first
 * attempt (the back-channel answers once the logout is journaled, and carries it out after).
 */
export async function postLogoutToken(app: FastifyInstance, token: string, extra = ''): Promise<LightMyRequestResponse> {
  const response = await app.inject({
    method: 'POST',
    url: '/logout/backchannel',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `logout_token=${encodeURIComponent(token)}${extra}`,
  });
  await app.logouts.settled();
  return response;
}
