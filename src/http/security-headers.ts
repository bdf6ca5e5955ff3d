import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';

/**
 * The security headers of every response: helmet's defaults without HSTS (which belongs to the TLS
 * terminator), taken from helmet once at start. Helmet builds and sets them on every response when run
 * per request, which cost about a fifth of the CPU time of a back-channel request; they never vary.
 * Routes override them as they need (the front-channel page sets its own CSP and drops X-Frame-Options).
 * test/http/security-headers.test.ts holds helmet 8's output and checks every kind of response against it.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze(
  (() => {
    // A response that is never sent: helmet sets its headers on it, synchronously.
    const response = new ServerResponse(new IncomingMessage(new Socket()));
    let ran = false;
    helmet({ strictTransportSecurity: false })(response.req, response, () => (ran = true));
    if (!ran) throw new Error('helmet did not set its headers synchronously');
    return Object.fromEntries(Object.entries(response.getHeaders()).map(([name, value]) => [name, String(value)]));
  })(),
);

/** Sets SECURITY_HEADERS on every response (404s and errors included), before any route can fail. */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    done();
  });
}
