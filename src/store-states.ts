import type { Config } from './config/config.js';
import { safeMessage } from './core/errors.js';
import type { OutageLog } from './outage-log.js';
import type { StoreState, StoreStates } from './http/plugins/services.js';

/** A probe that has not answered by then counts as down: a hung store must not hang the probe. */
const PING_TIMEOUT_MS = 2_000;

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

interface Pingable {
  ping(): Promise<void>;
}

/** Each store's state: the service's own, each app's token cache (a store shared by apps is asked once) and web sessions. */
export async function storeStates(backends: { config: Config; stores: Pingable; tokenCaches: ReadonlyMap<string, Pingable>; webSessions: ReadonlyMap<string, readonly Pingable[]> }, outages: OutageLog): Promise<StoreStates> {
  const caches = [...new Set(backends.tokenCaches.values())];
  const sessionStores = [...backends.webSessions.entries()];
  const [storeFailure, ...cacheFailures] = await Promise.all([probe(() => backends.stores.ping()), ...caches.map((cache) => probe(() => cache.ping()))]);
  // An app's web sessions are down when one of its stores is.
  const sessionFailures = await Promise.all(sessionStores.map(async ([, stores]) => (await Promise.all(stores.map((store) => probe(() => store.ping())))).find((failure) => failure !== undefined)));
  // Each outage is logged once as it begins and once as it ends, not per probe.
  const state = (where: string, failure: string | undefined): StoreState => {
    if (failure === undefined) outages.recovered(where);
    else outages.failed(where, failure);
    return failure === undefined ? 'up' : 'down';
  };
  const tokenCaches: Record<string, StoreState> = {};
  for (const app of backends.config.apps) tokenCaches[app.name] = state(`token cache of ${app.name}`, cacheFailures[caches.indexOf(backends.tokenCaches.get(app.clientId)!)]);
  const webSessions: Record<string, StoreState> = {};
  for (const [i, [clientId]] of sessionStores.entries()) {
    const app = backends.config.apps.find((a) => a.clientId === clientId)!;
    webSessions[app.name] = state(`web session of ${app.name}`, sessionFailures[i]);
  }
  return { store: state('store', storeFailure), tokenCaches, ...(sessionStores.length ? { webSessions } : {}) };
}
