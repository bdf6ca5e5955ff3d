import type { OutageLog } from '../outage-log.js';
import type { FastifyError, FastifyInstance } from 'fastify';
import { LogoutReceiverError, InvalidLogoutToken, StoreUnavailable } from '../core/errors.js';
import type { ServiceMetrics } from './metrics.js';

const STATUS: Record<LogoutReceiverError['code'], number> = { invalid_request: 400, not_found: 404, conflict: 409, temporarily_unavailable: 503 };

const ERROR_NAME: Record<number, string> = {
  400: 'invalid_request',
  401: 'invalid_token',
  403: 'insufficient_scope',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'request_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
};

/** One error handler and one not-found handler; 5xx messages never leave the process. */
export function registerErrorHandling(app: FastifyInstance, metrics: ServiceMetrics, outages?: OutageLog): void {
  app.setErrorHandler((caught: FastifyError | LogoutReceiverError, request, reply) => {
    const isBackchannel = request.routeOptions.url === '/logout/backchannel';
    const err = caught;
    if (err instanceof StoreUnavailable) {
      metrics.storeErrors.inc({ where: 'request' });
      outages?.failed('store', err.message);
      // The back-channel spec answers a logout that failed with 400; nothing was promised. The detail stays in the log.
      return reply.code(isBackchannel ? 400 : 503).send({ error: err.code, error_description: 'a store is unreachable; try again' });
    }
    if (err instanceof LogoutReceiverError) {
      if (err instanceof InvalidLogoutToken) {
        metrics.rejected.inc({ channel: 'backchannel', rule: err.rule });
        request.log.info({ rule: err.rule, ...err.facts }, 'logout token refused');
      }
      return reply.code(STATUS[err.code]).send({ error: err.code, error_description: err.message });
    }
    const status = (err as FastifyError).statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: { type: err.name, code: (err as FastifyError).code, message: err.message } }, 'request failed');
      return reply.code(500).send({ error: 'server_error', error_description: 'the request could not be completed' });
    }
    // The back-channel logout spec answers every bad request with 400 (too large and too many stay 413 and 429).
    const code = isBackchannel && status !== 413 && status !== 429 ? 400 : status;
    if (isBackchannel) metrics.rejected.inc({ channel: 'backchannel', rule: 'request' });
    const description = err.message;
    return reply.code(code).send({ error: ERROR_NAME[code] ?? 'invalid_request', error_description: description });
  });

  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'not_found', error_description: `no route ${request.method} ${request.url.split('?')[0]}` }));
}
