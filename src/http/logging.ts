import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

/** Paths never written to a log, wherever they turn up. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'logout_token',
  '*.logout_token',
  'body',
  'req.body',
  'apiKey',
  '*.apiKey',
];

/** One line per request: method, path without its query (which carries `sid`s), status, time. */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: FastifyRequest) => ({
        method: req.method,
        path: (req.url ?? '').split('?')[0],
        route: req.routeOptions?.url,
        remoteAddress: req.ip,
      }),
      res: (reply: FastifyReply) => ({ statusCode: reply.statusCode }),
    },
  };
}
