import { CACHE_FORMATS } from './cache-formats/formats.js';
import type { Config } from './config/config.js';
import { IssuerRegistry } from './core/issuers.js';
import { LogoutService, type RetryPolicy } from './core/logout-service.js';
import type { LogoutReport } from './core/model.js';
import type { ServiceStores } from './core/service-stores.js';
import type { OpenedTokenCache } from './token-caches/kind.js';
import { TokenCacheSweeper } from './core/token-cache-sweeper.js';
import { egressFetch } from './egress.js';
import { ApiAuthenticator } from './http/api-auth.js';
import { ApiKeys } from './http/api-keys.js';
import { ServiceMetrics } from './http/metrics.js';
import type { Services } from './http/plugins/services.js';
import type { OutageLog } from './outage-log.js';
import { storeStates } from './store-states.js';
import type { WebSessionStore } from './core/web-session.js';
import { WebSessionEnder } from './core/web-session-ender.js';
import { identityOf } from './web-sessions/key-template.js';
import { WEB_SESSION_KINDS } from './web-sessions/kinds.js';
import { VERSION } from './version.js';

export type { Services };

/** What the core objects are built from: the configuration, the opened backends, and who is told what. */
export interface ServicesInput {
  config: Config;
  stores: ServiceStores;
  /** The same store for the logouts' attempts, on a connection of its own (see `createBackends`); `stores` without. */
  attemptStores?: ServiceStores;
  /** Each registered app's token-cache store, by clientId. */
  tokenCaches: ReadonlyMap<string, OpenedTokenCache>;
  /** Each app's web-session stores (its `webSession` list, in order), by clientId. */
  webSessions?: ReadonlyMap<string, readonly WebSessionStore[]>;
  outages: OutageLog;
  now?: () => number;
  /** How queued logouts are retried (tests shorten the delays). */
  retry?: Partial<RetryPolicy>;
  /** Told after every attempt at a logout. */
  onLogoutAttempt?: (report: LogoutReport) => void;
  /** Told of errors swallowed in the background. */
  onError?: (err: unknown, context: string) => void;
  /** How often the worker looks for due logouts; 0 runs no worker. */
  workerIntervalMs?: number;
  /** The fetch for the issuers' keys and discovery; by default through the environment's proxy (egress.ts). */
  fetch?: typeof fetch;
}

/** The logout core, the API's authentication and the metrics, over the given stores; `close()` closes those. */
export function createServices(input: ServicesInput): Services {
  const { config, stores, tokenCaches, outages } = input;
  const now = input.now ?? Date.now;
  const metrics = new ServiceMetrics({
    version: VERSION,
    apps: config.apps.map((a) => a.name),
    webSessionApps: config.apps.filter((a) => a.webSessions).map((a) => a.name),
    issuers: config.issuers.map((i) => i.name),
  });
  const sweeper = new TokenCacheSweeper(
    config.apps.map((app) => {
      const store = tokenCaches.get(app.clientId);
      if (!store) throw new Error(`no token-cache store for app ${app.name}`);
      return { app, store };
    }),
    { formats: CACHE_FORMATS },
  );
  const webSessions = webSessionEnder(config, input.webSessions ?? new Map());
  const logouts = new LogoutService({
    stores,
    ...(webSessions ? { webSessions } : {}),
    ...(input.attemptStores ? { attemptStores: input.attemptStores } : {}),
    sweeper,
    role: config.role,
    markerTtlMs: config.retention.loggedOutMarkerSeconds * 1000,
    unmatchedMarkerTtlMs: config.retention.unmatchedMarkerSeconds * 1000,
    secondPassMs: config.retention.secondPassSeconds * 1000,
    clockSkewSeconds: config.clockSkewSeconds,
    now,
    retry: { ...config.retry, ...input.retry },
    onAttempt: (report, seconds, done) => {
      metrics.logoutAttempt(report, seconds, done);
      input.onLogoutAttempt?.(report);
    },
    onError: (err, context) => {
      metrics.storeErrors.inc({ where: context });
      input.onError?.(err, context);
    },
    onWorkerRound: () => {
      for (const where of ['worker', 'journal', 'store']) outages.recovered(where);
    },
  });
  metrics.measureBacklog(
    () => stores.journal.backlog(),
    () => stores.journal.oldestPending(),
    now,
  );
  if (stores.evictions) metrics.measureEvictions(() => stores.evictions!());
  const states = () => storeStates({ config, stores, tokenCaches, webSessions: input.webSessions ?? new Map() }, outages);
  metrics.measureStores(states);
  const apiKeys = new ApiKeys(config.apiKeys);
  const egress = input.fetch ?? egressFetch();
  // A worker is where every receiver's logout waits to start; elsewhere the queue holds retries only. A
  // look that finds nothing due is one script.
  const workerIntervalMs = input.workerIntervalMs ?? (config.role === 'worker' ? 100 : 1_000);
  return {
    config,
    sessions: stores.sessions,
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
    outages,
    now,
    storeStates: states,
    start() {
      // A receiver leaves every attempt, first ones and retries, to the workers.
      if (workerIntervalMs > 0 && config.role !== 'receiver') logouts.startWorker(workerIntervalMs);
    },
    async close() {
      await logouts.stopWorker();
      await stores.close();
      for (const cache of new Set(tokenCaches.values())) await cache.close();
      for (const store of [...(input.webSessions?.values() ?? [])].flat()) await store.close();
    },
  };
}

/** The apps' web-session stores as the logout core ends them; none when no app has a `webSession`. */
function webSessionEnder(config: Config, stores: ReadonlyMap<string, readonly WebSessionStore[]>): WebSessionEnder | undefined {
  const apps = config.apps.filter((app) => app.webSessions);
  if (apps.length === 0) return undefined;
  return new WebSessionEnder(
    apps.map((app) => ({
      app,
      targets: app.webSessions!.map((settings, i) => {
        const store = stores.get(app.clientId)?.[i];
        if (!store) throw new Error(`no web-session store for app ${app.name}`);
        const kind = WEB_SESSION_KINDS.find((k) => k.kind === settings.kind)!;
        return { kind: settings.kind, store, identity: identityOf(kind, settings.key) };
      }),
    })),
  );
}
