import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import { safeMessage } from '../../core/errors.js';
import type { Services } from '../app.js';

/** The openapi.yaml at the repository root (three folders up from src/http/routes and dist/http/routes). */
export const OPENAPI_PATH = new URL('../../../openapi.yaml', import.meta.url);

/** A probe that has not answered by then counts as down: a hung store must not hang the probe. */
const PING_TIMEOUT_MS = 2_000;

type State = 'up' | 'down';

/** Why the store's write probe failed (a refusal, or no answer in time); undefined when it answered. */
async function probe(ping: () => Promise<void>): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer to the write probe within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
  });
  try {
    await Promise.race([ping(), timeout]);
    return undefined;
  } catch (err) {
    return safeMessage(err);
  } finally {
    clearTimeout(timer);
  }
}

/** Each store's state: the service's own, and each app's token cache (a store shared by apps is asked once). */
export async function storeStates(services: Services): Promise<{ store: State; tokenCaches: Record<string, State> }> {
  const caches = [...new Set(services.tokenCaches.values())];
  const [storeFailure, ...cacheFailures] = await Promise.all([probe(() => services.stores.ping()), ...caches.map((cache) => probe(() => cache.ping()))]);
  // Each outage is logged once as it begins and once as it ends, not per probe.
  const state = (where: string, failure: string | undefined): State => {
    if (failure === undefined) services.outages.recovered(where);
    else services.outages.failed(where, failure);
    return failure === undefined ? 'up' : 'down';
  };
  const tokenCaches: Record<string, State> = {};
  for (const app of services.config.apps) tokenCaches[app.name] = state(`token cache of ${app.name}`, cacheFailures[caches.indexOf(services.tokenCaches.get(app.clientId)!)]);
  return { store: state('store', storeFailure), tokenCaches };
}

/** `/healthz`, `/readyz` and `/metrics`: on the main port, or on `server.managementPort` alone. */
export const probeRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready is about the service's own store only: an app's token cache down delays that app's removals
  // (journaled and retried) and must not take every instance out of the load balancer.
  app.get('/readyz', async (_request, reply) => {
    const states = await storeStates(services);
    if (services.lifecycle.stopping) return reply.code(503).send({ status: 'stopping', ...states });
    if (states.store === 'down') return reply.code(503).send({ status: 'unavailable', ...states });
    return { status: 'ready', ...states };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', services.metrics.registry.contentType);
    return services.metrics.registry.metrics();
  });
};

export const openapiRoute: FastifyPluginAsync = async (app) => {
  const openapi = await readFile(OPENAPI_PATH, 'utf8');
  app.get('/openapi.yaml', async (_request, reply) => reply.header('content-type', 'application/yaml; charset=utf-8').send(openapi));
};
