import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

/**
 * Paths never written to a log. The serializers below already leave headers and bodies out of every
 * line; these catch a field of those names logged by mistake. Explicit paths only: wildcard paths make
 * every line dearer and no line has such a nested field (bench/README.md, finding 10).
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'logout_token',
  'body.logout_token',
  'query.logout_token',
  'body',
  'req.body',
  'apiKey',
  'caller.apiKey',
];

/** One line per request: method, path without its query (which carries `sid`s), status, time, and the client's address unless told not to. */
export function loggerOptions(level: string, clientAddresses = true): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: FastifyRequest) => ({
        method: req.method,
        path: (req.url ?? '').split('?')[0],
        route: req.routeOptions?.url,
        ...(clientAddresses ? { remoteAddress: req.ip } : {}),
      }),
      res: (reply: FastifyReply) => ({ statusCode: reply.statusCode }),
    },
  };
}
