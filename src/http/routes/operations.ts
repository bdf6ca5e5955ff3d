import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';

/** The openapi.yaml at the repository root (three folders up from src/http/routes and dist/http/routes). */
export const OPENAPI_PATH = new URL('../../../openapi.yaml', import.meta.url);

/** Alive, ready (the service's own store reachable) and the Prometheus text. */
const probes: FastifyPluginAsync = async (app) => {
  const { services } = app;
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready is about the service's own store only: an app's token cache down delays that app's removals
  // (journaled and retried) and must not take every instance out of the load balancer.
  app.get('/readyz', async (_request, reply) => {
    const states = await services.storeStates();
    if (app.lifecycle.stopping) return reply.code(503).send({ status: 'stopping', ...states });
    if (states.store === 'down') return reply.code(503).send({ status: 'unavailable', ...states });
    return { status: 'ready', ...states };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', services.metrics.registry.contentType);
    return services.metrics.registry.metrics();
  });
};

/** `/healthz`, `/readyz` and `/metrics`: on the main port, or on `server.managementPort` alone. */
export const probeRoutes = fp(probes, { name: 'probe-routes', dependencies: ['services'], encapsulate: true });

export const openapiRoute: FastifyPluginAsync = async (app) => {
  const openapi = await readFile(OPENAPI_PATH, 'utf8');
  app.get('/openapi.yaml', async (_request, reply) => reply.header('content-type', 'application/yaml; charset=utf-8').send(openapi));
};
