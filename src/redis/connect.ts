import { Redis, Cluster, type RedisOptions } from 'ioredis';
import { Type } from 'typebox';
import { safeText, StoreUnavailable } from '../core/errors.js';

/** Where a Redis is: one node by URL, a Sentinel-watched primary, or a Cluster. */
export interface RedisLocation {
  url?: string;
  sentinel?: { name: string; nodes: string[] };
  cluster?: { nodes: string[] };
}

const NonEmpty = Type.String({ minLength: 1, maxLength: 2048 });
const Nodes = Type.Array(NonEmpty, { minItems: 1 });

/** The settings that say where a Redis is (the service's store and the Redis token-cache kinds take them alike). */
export const REDIS_LOCATION_SETTINGS = {
  url: Type.Optional(NonEmpty),
  sentinel: Type.Optional(Type.Object({ name: NonEmpty, nodes: Nodes }, { additionalProperties: false })),
  cluster: Type.Optional(Type.Object({ nodes: Nodes }, { additionalProperties: false })),
};

/** Exactly one of url, sentinel or cluster, and a redis URL: the setting at fault and why, if not. */
export function checkRedisLocation(settings: RedisLocation): { setting: string; reason: string } | undefined {
  const given = [settings.url, settings.sentinel, settings.cluster].filter((v) => v !== undefined).length;
  if (given !== 1) return { setting: '', reason: 'a Redis location needs exactly one of url, sentinel or cluster' };
  if (settings.url === undefined) return undefined;
  let protocol: string | undefined;
  try {
    protocol = new URL(settings.url).protocol;
  } catch {
    // reported below
  }
  return protocol === 'redis:' || protocol === 'rediss:' ? undefined : { setting: 'url', reason: 'is not a redis:// or rediss:// URL' };
}

/** The location part of a kind's settings. */
export function redisLocationOf(settings: RedisLocation): RedisLocation {
  const { url, sentinel, cluster } = settings;
  return { ...(url !== undefined ? { url } : {}), ...(sentinel ? { sentinel } : {}), ...(cluster ? { cluster } : {}) };
}

/**
 * Commands fail fast while Redis is away (the journal retries logouts), and the client keeps
 * reconnecting in the background: an outage never crashes or stops the service. No offline queue:
 * a command we were told failed must not run later, when Redis is back (a replay record written
 * then would refuse the provider's retry of the same token).
 */
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
  lazyConnect: false,
};

const hostPort = (node: string): { host: string; port: number } => {
  const url = new URL(node.includes('://') ? node : `redis://${node}`);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) };
};

export function connectRedis(location: RedisLocation, onError: (err: Error) => void, onReady: () => void = () => {}): Redis | Cluster {
  let client: Redis | Cluster;
  if (location.cluster) {
    client = new Cluster(location.cluster.nodes.map(hostPort), { redisOptions: FAIL_FAST, enableOfflineQueue: false, clusterRetryStrategy: FAIL_FAST.retryStrategy as never });
  } else if (location.sentinel) {
    // Follow the master at once when the sentinels announce a switch (+switch-master), not when the old one
    // is demoted seconds later; on every (re)connect ioredis checks that the node is a master (INFO role).
    client = new Redis({ ...FAIL_FAST, sentinels: location.sentinel.nodes.map(hostPort), name: location.sentinel.name, role: 'master', failoverDetector: true });
  } else {
    client = new Redis(location.url ?? 'redis://127.0.0.1:6379', FAIL_FAST);
  }
  // Without a listener ioredis reports every failed reconnect as an unhandled error.
  client.on('error', onError);
  client.on('ready', onReady);
  return client;
}

/** Error text safe for reports and logs: no URL credentials. */
export function redisErrorMessage(err: unknown): string {
  // A transaction Redis refused (EXECABORT) says why only in the errors of its commands (READONLY, …).
  const cause = (err as { previousErrors?: unknown[] } | undefined)?.previousErrors?.find((e): e is Error => e instanceof Error);
  const text = err instanceof Error ? err.message + (cause ? ` (${cause.message})` : '') : String(err);
  return safeText(text);
}

/** Errors that mean a store is away (ioredis while disconnected), not that the request is wrong. */
export function isStoreOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError' || err.name === 'ClusterAllFailedError') return true;
  // A client away, or a Redis that cannot take writes now: a replica, a failover, a Cluster reconfiguring.
  return (
    /Connection is closed|ECONNREFUSED|Command timed out|Stream isn't writeable|ClusterAllFailedError|Cluster isn't ready|Too many Cluster redirections|Failed to refresh slots cache|^(CLUSTERDOWN|READONLY|LOADING|MASTERDOWN|TRYAGAIN|NOREPLICAS|MOVED|ASK)\b|^EXECABORT.*(READONLY|NOREPLICAS|CLUSTERDOWN|LOADING|MASTERDOWN)/.test(
      err.message,
    ) || (err as { previousErrors?: unknown[] }).previousErrors?.some(isStoreOutage) === true
  );
}

const asUnavailable = (err: unknown): never => {
  if (isStoreOutage(err)) throw new StoreUnavailable(`the store is unreachable: ${redisErrorMessage(err)}`);
  throw err;
};

/**
 * The same object, with every method's Redis outage errors turned into StoreUnavailable at this edge, so
 * that nothing above the adapters reads ioredis messages.
 */
export function outagesAsUnavailable<T extends object>(target: T): T {
  // Each method is wrapped once, not on every call (these are on every request's path).
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property);
      if (typeof value !== 'function') return value;
      let method = wrapped.get(property);
      if (!method)
        wrapped.set(
          property,
          (method = (...args: unknown[]) => {
            try {
              const result: unknown = value.apply(object, args);
              return result instanceof Promise ? result.catch(asUnavailable) : result;
            } catch (err) {
              return asUnavailable(err);
            }
          }),
        );
      return method;
    },
  });
}

/** Resolves when the client is connected, or after `timeoutMs` (a Redis that is down must not stop the start). */
export async function connected(client: Redis | Cluster, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ready: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    client.on('ready', onReady);
  });
}
