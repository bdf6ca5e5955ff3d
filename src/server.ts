import { setTimeout } from 'node:timers/promises';
import closeWithGrace from 'close-with-grace';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import type { Redis, Cluster } from 'ioredis';
import { createBackends } from './backends.js';
import type { Config } from './config/config.js';
import type { RetryPolicy } from './core/logout-service.js';
import type { LogoutReport } from './core/model.js';
import type { ServiceStores } from './core/service-stores.js';
import type { OpenedTokenCache } from './token-caches/kind.js';
import type { WebSessionStore } from './core/web-session.js';
import { buildHttpApp, type HttpOptions } from './http/app.js';
import { logAttempt, loggerOptions } from './http/logging.js';
import { OutageLog } from './outage-log.js';
import { createServices } from './services.js';

export interface AppDependencies {
  config: Config;
  stores: ServiceStores;
  /** The same store for the logouts' attempts, on a connection of its own (see `createBackends`); `stores` without. */
  attemptStores?: ServiceStores;
  /** Each registered app's token-cache store, by clientId. */
  tokenCaches: Map<string, OpenedTokenCache>;
  /** Each app's web-session stores, by clientId (apps with a `webSession`). */
  webSessions?: Map<string, WebSessionStore[]>;
  /** A pino logger, pino options, or false for none (tests). */
  logger?: HttpOptions['logger'];
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
  /** Where outages are logged once each (`serve` shares it with the connections); one on the app's logger without. */
  outages?: OutageLog;
}

/** The whole service over opened stores: services, then the Fastify app that closes them with itself. */
export async function buildApp(input: AppDependencies): Promise<FastifyInstance> {
  // The services are told of attempts and outages before the app's logger exists: they log through it once it does.
  let log: FastifyBaseLogger | undefined;
  const outages = input.outages ?? new OutageLog({ warn: (fields, message) => log?.warn(fields, message), info: (fields, message) => log?.info(fields, message) });
  const services = createServices({
    ...input,
    outages,
    onError: input.onError ?? ((err: unknown, context: string) => outages.failed(context, String((err as Error)?.message ?? err).slice(0, 200))),
    onLogoutAttempt: input.onLogoutAttempt ?? ((report) => logAttempt(log, report)),
  });
  const app = await buildHttpApp(services, {
    logger: input.logger ?? false,
    ...(input.rateLimitRedis ? { sharedRateLimits: { redis: input.rateLimitRedis, keyPrefix: input.rateLimitPrefix ?? 'lr:' } } : {}),
  });
  log = app.log;
  return app;
}

/** Runs the service: opens the backends, builds the app, listens, and stops gracefully on a signal. */
export async function serve(config: Config): Promise<void> {
  const logger = pino(loggerOptions(config.logLevel, config.logClientAddresses));
  // An unreachable store is logged once as the outage begins and once as it ends, and never stops the service.
  const outages = new OutageLog(logger);
  let app: FastifyInstance | undefined;
  const earlyErrors = new Map<string, number>(); // counted before the app (and its metrics) exists
  const backends = createBackends(
    config,
    (reason, where) => {
      if (app) app.serviceMetrics.storeErrors.inc({ where });
      else earlyErrors.set(where, (earlyErrors.get(where) ?? 0) + 1);
      outages.failed(where, reason);
    },
    (where) => outages.recovered(where),
  );
  const { stores, attemptStores, tokenCaches, webSessions, shared } = backends;
  // Give Redis a moment to connect before taking requests; a Redis that is down does not stop the start.
  await backends.connected(3_000);
  warnAboutConfig(config, logger);

  app = await buildApp({ config, stores, attemptStores, tokenCaches, webSessions, logger, outages, ...(shared ? { rateLimitRedis: shared.redis, rateLimitPrefix: shared.keyPrefix } : {}) });
  const service = app;
  for (const [where, count] of earlyErrors) service.serviceMetrics.storeErrors.inc({ where }, count);
  stopOnSignals(service, config, logger);

  const about = { role: config.role, store: config.store.kind, apps: config.apps.length, issuers: config.issuers.length };
  // A worker with a management port has nothing for the main one.
  if (config.role !== 'worker' || !service.management) {
    const address = await service.listen({ host: config.server.host, port: config.server.port });
    logger.info({ address, ...about }, `logout-receiver listening on ${address}`);
  } else {
    await service.ready();
    logger.info(about, 'logout-receiver worker: no main listener');
  }
  if (service.management) {
    const management = await service.management.listen({ host: config.server.host, port: config.server.managementPort! });
    logger.info({ address: management }, `probes and metrics listening on ${management}`);
  }
}

/** What an operator should know at start: settings that are fine for a try but not for production. */
function warnAboutConfig(config: Config, logger: Logger): void {
  if (config.store.kind === 'memory') logger.warn('store: in-process memory. Sessions, logged-out markers and logout reports are lost on restart, and it serves one instance only: use Redis in production');
  for (const key of config.apiKeys.filter((k) => !k.appsNamed)) logger.warn({ key: key.name }, 'API key names no apps: it is bound to every app (give it apps: [...] to bind it, or apps: ["*"] to say so)');
  if (config.development) logger.warn(`no configuration file (--config FILE or LOGOUT_RECEIVER_CONFIG): running the built-in development configuration on loopback only, with the development API key from the README`);
}

/** SIGTERM and SIGINT: withdraw readiness, keep serving for the delay (SIGTERM only), then close. */
function stopOnSignals(service: FastifyInstance, config: Config, logger: Logger): void {
  // A worker takes no traffic a load balancer could still send: it stops at once.
  const shutdownDelaySeconds = config.role === 'worker' ? 0 : config.server.shutdownDelaySeconds;
  closeWithGrace({ delay: (shutdownDelaySeconds + 10) * 1000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err: { message: err.message } }, 'stopping after an error');
    else {
      service.beginShutdown();
      // SIGTERM is the orchestrator's: keep serving while endpoints learn from /readyz; Ctrl-C (SIGINT) is a person's.
      if (signal === 'SIGTERM' && shutdownDelaySeconds > 0) {
        logger.info({ signal, shutdownDelaySeconds }, 'stopping: /readyz answers 503; still serving until the delay ends');
        await setTimeout(shutdownDelaySeconds * 1000);
      }
      logger.info({ signal }, 'stopping: no longer accepting; finishing in-flight requests');
    }
    await service.close();
  });
}
