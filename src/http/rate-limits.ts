import type { FastifyInstance } from 'fastify';
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import type { Config } from '../config/config.js';
import { bearerKey, type ApiKeys } from './api-keys.js';

export type RouteRateLimit = { config: { rateLimit: RateLimitOptions } };
export interface RouteRateLimits {
  public: RouteRateLimit;
  api: RouteRateLimit;
}

/** Where every instance shares its counters (the store's Redis, as @fastify/rate-limit takes it); in memory without. */
export interface SharedRateLimits {
  /** An ioredis client (the plugin types it loosely). */
  redis: object;
  keyPrefix: string;
}

/** Per client IP on the public routes; per API caller on /v1. */
export function routeRateLimits(limits: Config['limits'], apiKeys: ApiKeys): RouteRateLimits {
  const perMinute = (max: number, keyGenerator?: RateLimitOptions['keyGenerator']): RouteRateLimit => ({
    config: { rateLimit: { max, timeWindow: 60_000, ...(keyGenerator ? { keyGenerator } : {}) } },
  });
  return {
    public: perMinute(limits.publicRequestsPerMinute),
    // A valid key is limited as its caller (wherever it calls from); anything else by client IP.
    api: perMinute(limits.apiRequestsPerMinute, (request) => {
      const key = bearerKey(request.headers.authorization);
      const caller = key === undefined ? undefined : apiKeys.identify(key);
      return caller ? `caller:${caller.name}` : `ip:${request.ip}`;
    }),
  };
}

/** The rate-limit plugin, off by default: the routes opt in with the options above. */
export async function registerRateLimit(app: FastifyInstance, shared?: SharedRateLimits): Promise<void> {
  await app.register(rateLimit, {
    global: false,
    ...(shared ? { redis: shared.redis, nameSpace: `${shared.keyPrefix}ratelimit:`, skipOnError: true } : {}),
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'too_many_requests',
      message: `rate limit exceeded: retry in ${Math.ceil(context.ttl / 1000)} s`,
    }),
  });
}
