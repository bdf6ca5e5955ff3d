import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import formbody from '@fastify/formbody';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { registerErrorHandling } from './errors.js';
import { loggerOptions } from './logging.js';
import { servicesPlugin, type Services } from './plugins/services.js';
import { registerRateLimit, type SharedRateLimits } from './rate-limits.js';
import { registerSecurityHeaders } from './security-headers.js';
import { apiRoutes } from './routes/api.js';
import { backchannelRoutes } from './routes/backchannel.js';
import { frontchannelRoutes } from './routes/frontchannel.js';
import { openapiRoute, probeRoutes } from './routes/operations.js';

declare module 'fastify' {
  interface FastifyInstance {
    registeredRoutes: { method: string; url: string }[];
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

export interface HttpOptions {
  /** A pino logger, pino options, or false for none (tests). */
  logger?: FastifyServerOptions['loggerInstance'] | boolean;
  /** Where rate-limit counters live so every instance shares them; in memory without. */
  sharedRateLimits?: SharedRateLimits;
}

/** The service's HTTP side as a Fastify instance over built services; `server.ts` starts it, tests `inject()` into it. */
export async function buildHttpApp(services: Services, options: HttpOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const logger = options.logger ?? false;
  const logging = typeof logger === 'object' ? { loggerInstance: logger } : { logger: logger ? loggerOptions(config.logLevel, config.logClientAddresses) : false };
  const app = Fastify({
    ...logging,
    // One line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // Only the listed proxies' X-Forwarded-For is believed (proxy-addr checks the peer against them).
    trustProxy: config.server.trustProxy.length > 0 ? config.server.trustProxy : false,
    bodyLimit: 256 * 1024,
    // A client that trickles its headers or body is cut off (slowloris).
    http: {
      headersTimeout: config.limits.headersTimeoutSeconds * 1000,
      requestTimeout: config.limits.requestTimeoutSeconds * 1000,
      connectionsCheckingInterval: Math.min(1000, config.limits.headersTimeoutSeconds * 500),
    },
    requestTimeout: config.limits.requestTimeoutSeconds * 1000,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerErrorHandling(app, services.metrics, services.outages);
  const lifecycle = { stopping: false };
  await app.register(servicesPlugin, { services, lifecycle });
  // The routes as registered, for checking them against openapi.yaml.
  const routes: { method: string; url: string }[] = [];
  app.decorate('registeredRoutes', routes);
  app.decorate('beginShutdown', () => {
    lifecycle.stopping = true;
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
  await registerRateLimit(app, options.sharedRateLimits);
  app.addHook('onReady', async () => services.start());
  // Registered before the management listener's: onClose hooks run last-registered first.
  app.addHook('onClose', () => services.close());

  let management: FastifyInstance | null = null;
  if (config.server.managementPort === undefined) await app.register(probeRoutes);
  else {
    management = Fastify({ ...(typeof logger === 'object' ? { loggerInstance: app.log } : logging), return503OnClosing: true });
    registerErrorHandling(management, services.metrics);
    registerSecurityHeaders(management);
    await management.register(servicesPlugin, { services, lifecycle });
    await management.register(probeRoutes);
  }
  app.decorate('management', management);
  // A worker takes nothing in: it serves the management endpoints only.
  if (config.role !== 'worker') {
    await app.register(openapiRoute);
    await app.register(backchannelRoutes);
    await app.register(frontchannelRoutes);
    await app.register(apiRoutes, { prefix: '/v1' });
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
  app.addHook('onClose', async () => {
    await management?.close();
  });
  return app;
}
