import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../app.js';

/** The openapi.yaml at the repository root (three folders up from src/http/routes and dist/http/routes). */
export const OPENAPI_PATH = new URL('../../../openapi.yaml', import.meta.url);

export const operationsRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const openapi = await readFile(OPENAPI_PATH, 'utf8');

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    try {
      await services.stores.ping();
      for (const cache of new Set(services.tokenCaches.values())) await cache.ping();
      return { status: 'ready' };
    } catch (err) {
      request.log.warn({ reason: (err as Error).message }, 'not ready: a store is unreachable');
      return reply.code(503).send({ error: 'unavailable', error_description: 'a store is unreachable' });
    }
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', services.metrics.registry.contentType);
    return services.metrics.registry.metrics();
  });

  app.get('/openapi.yaml', async (_request, reply) => reply.header('content-type', 'application/yaml; charset=utf-8').send(openapi));
};
