import fp from 'fastify-plugin';
import type { Config } from '../../config/config.js';
import type { IssuerRegistry } from '../../core/issuers.js';
import type { LogoutService } from '../../core/logout-service.js';
import type { SessionStore } from '../../core/service-stores.js';
import type { OutageLog } from '../../outage-log.js';
import type { ApiAuthenticator } from '../api-auth.js';
import type { ApiKeys } from '../api-keys.js';
import type { ServiceMetrics } from '../metrics.js';
import { routeRateLimits, type RouteRateLimits } from '../rate-limits.js';

export type StoreState = 'up' | 'down';

/** Each store's state: the service's own, and each app's token cache by app name. */
export interface StoreStates {
  store: StoreState;
  tokenCaches: Record<string, StoreState>;
  /** Apps with a `webSession`: whether each one's stores answer. */
  webSessions?: Record<string, StoreState>;
}

/** What the routes use of the service, built outside the HTTP layer (`src/services.ts`). */
export interface Services {
  config: Config;
  sessions: SessionStore;
  issuers: IssuerRegistry;
  logouts: LogoutService;
  apiKeys: ApiKeys;
  apiAuth: ApiAuthenticator;
  metrics: ServiceMetrics;
  outages: OutageLog;
  now: () => number;
  /** Probes the service's store and every app's token cache (each outage logged once). */
  storeStates(): Promise<StoreStates>;
  /** Starts what runs in the background (the logout worker, where the role has one). */
  start(): void;
  /** Stops it and closes every store. */
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
    /** Route options that rate-limit: per client IP on the public routes, per API caller on /v1. */
    rateLimits: RouteRateLimits;
    /** `stopping` from SIGTERM on: readiness is withdrawn before the listener closes. */
    lifecycle: { stopping: boolean };
    /** The logout core, for waiting on logouts answered before they were carried out (`settled()`). */
    logouts: LogoutService;
    /** The instance's metrics, for what happens outside a request (store connections). */
    serviceMetrics: ServiceMetrics;
  }
}

/** The services on the instance, for the route plugins that declare `dependencies: ['services']`. */
export const servicesPlugin = fp<{ services: Services; lifecycle?: { stopping: boolean } }>(
  async (app, { services, lifecycle }) => {
    app.decorate('services', services);
    app.decorate('rateLimits', routeRateLimits(services.config.limits, services.apiKeys));
    // The management listener shares the main one's, so both answer `stopping` at once.
    app.decorate('lifecycle', lifecycle ?? { stopping: false });
    app.decorate('logouts', services.logouts);
    app.decorate('serviceMetrics', services.metrics);
  },
  { name: 'services', fastify: '5.x' },
);
