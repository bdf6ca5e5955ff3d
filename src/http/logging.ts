import { createHash } from 'node:crypto';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { LogoutReport } from '../core/model.js';
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
  // A web session's key is as secret as its cookie.
  'webSessionKey',
  'sessionKey',
  'target.sessionKey',
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

/** A value too personal for a log line (a partition key holds the user's object id or an app's session key), as a short hash an operator can match. */
export function hashForLog(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}

/** One line per logout attempt; a warning for every partition skipped or failed, with why. */
export function logAttempt(log: FastifyBaseLogger | undefined, report: LogoutReport): void {
  if (!log) return;
  const { id, state, channel, attempts, sessionsEnded, lastError } = report;
  const line = { logoutId: id, state, channel, attempts, sessionsEnded, removed: report.removals.filter((r) => r.outcome === 'removed').length };
  if (state === 'completed') log.info(line, 'logout carried out');
  else log.warn({ ...line, lastError }, state === 'pending' ? 'logout pending: will retry' : 'logout failed: gave up');
  for (const r of report.removals)
    if (r.outcome === 'skipped' || r.outcome === 'failed') log.warn({ logoutId: id, app: r.app, partition: r.partitionKey === undefined ? undefined : hashForLog(r.partitionKey), outcome: r.outcome, detail: r.detail }, 'token-cache partition not swept');
  // Never the web session's key or target: the app, its kind, the outcome and why.
  for (const e of [...(report.webSessions ?? []), ...(report.secondPass?.webSessions ?? [])]) if (e.outcome === 'skipped' || e.outcome === 'failed') log.warn({ logoutId: id, app: e.app, kind: e.kind, outcome: e.outcome, detail: e.detail }, 'web session not ended');
}
