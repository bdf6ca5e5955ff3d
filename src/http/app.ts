import { createHash } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import formbody from '@fastify/formbody';
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import type { Redis, Cluster } from 'ioredis';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CACHE_FORMATS } from '../cache-formats/formats.js';
import type { Config } from '../config/load.js';
import { IssuerRegistry } from '../core/issuers.js';
import { LogoutService, type RetryPolicy } from '../core/logout-service.js';
import { TokenCacheSweeper } from '../core/token-cache-sweeper.js';
import type { LogoutReport } from '../core/model.js';
import type { ServiceStores } from '../core/service-stores.js';
import type { TokenCacheStore } from '../core/token-cache.js';
import { ApiAuthenticator } from './api-auth.js';
import { ApiKeys, bearerKey } from './api-keys.js';
import { registerErrorHandling } from './errors.js';
import { loggerOptions } from './logging.js';
import { ServiceMetrics } from './metrics.js';
import { registerSecurityHeaders } from './security-headers.js';
import { apiRoutes } from './routes/api.js';
import { backchannelRoutes } from './routes/backchannel.js';
import { frontchannelRoutes } from './routes/frontchannel.js';
import { egressFetch } from '../egress.js';
import { OutageLog } from '../outage-log.js';
import { VERSION } from '../version.js';
import { openapiRoute, probeRoutes, storeStates } from './routes/operations.js';

declare module 'fastify' {
  interface FastifyInstance {
    registeredRoutes: { method: string; url: string }[];
    /** The instance's metrics, for what happens outside a request (store connections). */
    serviceMetrics: ServiceMetrics;
    /** The logout core, for waiting on logouts answered before they were carried out (`settled()`). */
    logouts: LogoutService;
    /** The listener for /healthz, /readyz and /metrics when `server.managementPort` is set (else they are on this one). */
    management: FastifyInstance | null;
    /** SIGTERM's first step: /readyz answers 503 `stopping` while requests are still served. */
    beginShutdown(): void;
  }
  interface FastifyRequest {
    /** The logout a request admitted, for its log line. */
    logoutId: string | null;
  }
}

export interface AppDependencies {
  config: Config;
  stores: ServiceStores;
  /** The same store for the logouts' attempts, on a connection of its own (see `createBackends`); `stores` without. */
  attemptStores?: ServiceStores;
  /** Each registered app's token-cache store, by clientId. */
  tokenCaches: Map<string, TokenCacheStore>;
  /** A pino logger, pino options, or false for none (tests). */
  logger?: FastifyServerOptions['loggerInstance'] | boolean;
  now?: () => number;
  /** How queued logouts are retried (tests shorten the delays). */
  retry?: Partial<RetryPolicy>;
  /** Told after every attempt at a logout (the app's logger once built). */
  onLogoutAttempt?: (report: LogoutReport) => void;
  /** Told of errors swallowed in the background (the app's logger once built). */
  onError?: (err: unknown, context: string) => void;
  /** Where rate-limit counters live so every instance shares them (the store's Redis); in memory without. */
  rateLimitRedis?: Redis | Cluster;
  rateLimitPrefix?: string;
  /** How often the worker looks for due logouts; 0 runs no worker. */
  workerIntervalMs?: number;
  /** The fetch for the issuers' keys and discovery; by default through the environment's proxy (egress.ts). */
  fetch?: typeof fetch;
  /** Where outages are logged once each (main.ts shares it with the connections); one on the app's logger without. */
  outages?: OutageLog;
}

/** What the routes need: built once per app instance. */
export interface Services {
  config: Config;
  stores: ServiceStores;
  tokenCaches: Map<string, TokenCacheStore>;
  issuers: IssuerRegistry;
  logouts: LogoutService;
  apiKeys: ApiKeys;
  apiAuth: ApiAuthenticator;
  metrics: ServiceMetrics;
  now: () => number;
  /** Route options that rate-limit: per client IP on the public routes, per API caller on /v1. */
  rateLimits: { public: RouteRateLimit; api: RouteRateLimit };
  outages: OutageLog;
  /** `stopping` from SIGTERM on: readiness is withdrawn before the listener closes. */
  lifecycle: { stopping: boolean };
}

type RouteRateLimit = { config: { rateLimit: RateLimitOptions } };

export function createServices(deps: AppDependencies & { outages: OutageLog }): Services {
  const { config, stores, tokenCaches, outages } = deps;
  const now = deps.now ?? Date.now;
  const metrics = new ServiceMetrics({ version: VERSION, apps: config.apps.map((a) => a.name), issuers: config.issuers.map((i) => i.name) });
  const sweeper = new TokenCacheSweeper(
    config.apps.map((app) => {
      const store = tokenCaches.get(app.clientId);
      if (!store) throw new Error(`no token-cache store for app ${app.name}`);
      return { app, store };
    }),
    { formats: CACHE_FORMATS },
  );
  const logouts = new LogoutService({
    stores,
    ...(deps.attemptStores ? { attemptStores: deps.attemptStores } : {}),
    sweeper,
    role: config.role,
    markerTtlMs: config.retention.loggedOutMarkerSeconds * 1000,
    unmatchedMarkerTtlMs: config.retention.unmatchedMarkerSeconds * 1000,
    secondPassMs: config.retention.secondPassSeconds * 1000,
    clockSkewSeconds: config.clockSkewSeconds,
    now,
    retry: { ...config.retry, ...deps.retry },
    onAttempt: (report, seconds, done) => {
      metrics.logoutAttempt(report, seconds, done);
      deps.onLogoutAttempt?.(report);
    },
    onError: (err, context) => {
      metrics.storeErrors.inc({ where: context });
      deps.onError?.(err, context);
    },
    onWorkerRound: () => {
      for (const where of ['worker', 'journal', 'store']) outages.recovered(where);
    },
  });
  metrics.measureBacklog(() => stores.journal.backlog(), () => stores.journal.oldestPending(), now);
  if (stores.evictions) metrics.measureEvictions(() => stores.evictions!());
  const apiKeys = new ApiKeys(config.apiKeys);
  const egress = deps.fetch ?? egressFetch();
  const perMinute = (max: number, keyGenerator?: RateLimitOptions['keyGenerator']): RouteRateLimit => ({
    config: { rateLimit: { max, timeWindow: 60_000, ...(keyGenerator ? { keyGenerator } : {}) } },
  });
  const services: Services = {
    outages,
    lifecycle: { stopping: false },
    rateLimits: {
      public: perMinute(config.limits.publicRequestsPerMinute),
      // A valid key is limited as its caller (wherever it calls from); anything else by client IP.
      api: perMinute(config.limits.apiRequestsPerMinute, (request) => {
        const key = bearerKey(request.headers.authorization);
        const caller = key === undefined ? undefined : apiKeys.identify(key);
        return caller ? `caller:${caller.name}` : `ip:${request.ip}`;
      }),
    },
    config,
    stores,
    tokenCaches,
    issuers: new IssuerRegistry(config.issuers, {
      fetch: egress,
      onFetch: (issuer, outcome, cause) => {
        metrics.jwksFetches.inc({ issuer, outcome });
        if (outcome === 'ok') outages.recovered(`keys of ${issuer}`);
        else outages.failed(`keys of ${issuer}`, cause ?? 'unknown');
      },
    }),
    logouts,
    apiKeys,
    apiAuth: new ApiAuthenticator(apiKeys, config.apiEntra, config.clockSkewSeconds, egress),
    metrics,
    now,
  };
  metrics.measureStores(() => storeStates(services));
  return services;
}

/** A value too personal for a log line (a partition key holds the user's object id or an app's session key), as a short hash an operator can match. */
export function hashForLog(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}

/** One line per logout attempt; a warning for every partition skipped or failed, with why. */
function logAttempt(log: FastifyInstance['log'] | undefined, report: LogoutReport): void {
  if (!log) return;
  const { id, state, channel, attempts, sessionsEnded, lastError } = report;
  const line = { logoutId: id, state, channel, attempts, sessionsEnded, removed: report.removals.filter((r) => r.outcome === 'removed').length };
  if (state === 'completed') log.info(line, 'logout carried out');
  else log.warn({ ...line, lastError }, state === 'pending' ? 'logout pending: will retry' : 'logout failed: gave up');
  for (const r of report.removals)
    if (r.outcome === 'skipped' || r.outcome === 'failed') log.warn({ logoutId: id, app: r.app, partition: r.partitionKey === undefined ? undefined : hashForLog(r.partitionKey), outcome: r.outcome, detail: r.detail }, 'token-cache partition not swept');
}

/** The whole service as a Fastify instance; `server.ts` only starts it, tests `inject()` into it. */
export async function buildApp(input: AppDependencies): Promise<FastifyInstance> {
  let log: FastifyInstance['log'] | undefined;
  const outages = input.outages ?? new OutageLog({ warn: (fields, message) => log?.warn(fields, message), info: (fields, message) => log?.info(fields, message) });
  const deps = {
    ...input,
    outages,
    onError: input.onError ?? ((err: unknown, context: string) => outages.failed(context, String((err as Error)?.message ?? err).slice(0, 200))),
    onLogoutAttempt: input.onLogoutAttempt ?? ((report) => logAttempt(log, report)),
  };
  const services = createServices(deps);
  const logger = deps.logger ?? false;
  const logging = typeof logger === 'object' ? { loggerInstance: logger } : { logger: logger ? loggerOptions(deps.config.logLevel, deps.config.logClientAddresses) : false };
  const app = Fastify({
    ...logging,
    // One line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // Only the listed proxies' X-Forwarded-For is believed (proxy-addr checks the peer against them).
    trustProxy: deps.config.server.trustProxy.length > 0 ? deps.config.server.trustProxy : false,
    bodyLimit: 256 * 1024,
    // A client that trickles its headers or body is cut off (slowloris).
    http: {
      headersTimeout: deps.config.limits.headersTimeoutSeconds * 1000,
      requestTimeout: deps.config.limits.requestTimeoutSeconds * 1000,
      connectionsCheckingInterval: Math.min(1000, deps.config.limits.headersTimeoutSeconds * 500),
    },
    requestTimeout: deps.config.limits.requestTimeoutSeconds * 1000,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  log = app.log;
  registerErrorHandling(app, services.metrics, services.outages);
  // The routes as registered, for checking them against openapi.yaml.
  const routes: { method: string; url: string }[] = [];
  app.decorate('registeredRoutes', routes);
  app.decorate('serviceMetrics', services.metrics);
  app.decorate('logouts', services.logouts);
  app.decorate('beginShutdown', () => {
    services.lifecycle.stopping = true;
  });
  app.decorateRequest('logoutId', null);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  // The per-request hooks take a callback rather than being async: no promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    services.metrics.httpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    const line = { req: request, res: reply, responseTime: Math.round(reply.elapsedTime * 10) / 10 };
    request.log.info(request.logoutId === null ? line : { ...line, logoutId: request.logoutId }, 'request completed');
    done();
  });
  registerSecurityHeaders(app);
  await app.register(formbody);
  await app.register(rateLimit, {
    global: false,
    ...(deps.rateLimitRedis ? { redis: deps.rateLimitRedis, nameSpace: `${deps.rateLimitPrefix ?? 'lr:'}ratelimit:`, skipOnError: true } : {}),
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'too_many_requests',
      message: `rate limit exceeded: retry in ${Math.ceil(context.ttl / 1000)} s`,
    }),
  });

  let management: FastifyInstance | null = null;
  if (deps.config.server.managementPort === undefined) await app.register(probeRoutes, { services });
  else {
    management = Fastify({ ...(typeof logger === 'object' ? { loggerInstance: app.log } : logging), return503OnClosing: true });
    registerErrorHandling(management, services.metrics);
    registerSecurityHeaders(management);
    await management.register(probeRoutes, { services });
  }
  app.decorate('management', management);
  const { role } = deps.config;
  // A worker takes nothing in: it serves the management endpoints only.
  if (role !== 'worker') {
    await app.register(openapiRoute);
    await app.register(backchannelRoutes, { services });
    await app.register(frontchannelRoutes, { services });
    await app.register(apiRoutes, { services, prefix: '/v1' });
  }

  // While shutting down, answers to requests still in flight close their connection, so the server
  // can finish closing instead of waiting for idle keep-alive connections to time out.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  // A worker is where every receiver's logout waits to start; elsewhere the queue holds retries only. A
  // look that finds nothing due is one script.
  const interval = deps.workerIntervalMs ?? (role === 'worker' ? 100 : 1_000);
  app.addHook('onReady', async () => {
    // A receiver leaves every attempt, first ones and retries, to the workers.
    if (interval > 0 && role !== 'receiver') services.logouts.startWorker(interval);
  });
  app.addHook('onClose', async () => {
    await management?.close();
    await services.logouts.stopWorker();
    await deps.stores.close();
    for (const cache of new Set(deps.tokenCaches.values())) await cache.close();
  });
  return app;
}
