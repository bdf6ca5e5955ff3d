import fp from 'fastify-plugin';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { InvalidRequest } from '../../core/errors.js';
import { verifyLogoutToken } from '../../core/verify-logout-token.js';

const FORM = /^application\/x-www-form-urlencoded\s*(;|$)/i;

/** OpenID Connect Back-Channel Logout 1.0: the provider POSTs a signed logout_token. */
const backchannelRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { services } = app;
  // Set before anything can fail, so error answers carry it too.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.header('cache-control', 'no-store');
    done();
  });

  app.post('/logout/backchannel', { bodyLimit: 64 * 1024, ...app.rateLimits.public }, async (request, reply) => {
    if (!FORM.test(request.headers['content-type'] ?? '')) throw new InvalidRequest('the body must be application/x-www-form-urlencoded');
    // No body schema: every refusal here is the spec's 400 with its own text, and extra parameters are ignored.
    const { body } = request;
    const token = typeof body === 'object' && body !== null && 'logout_token' in body ? body.logout_token : undefined;
    if (Array.isArray(token)) throw new InvalidRequest('the body must carry exactly one logout_token');
    if (typeof token !== 'string' || token.length === 0) throw new InvalidRequest('the body has no logout_token');

    const verified = await verifyLogoutToken(token, {
      issuers: services.issuers,
      apps: services.config.apps,
      clockSkewSeconds: services.config.clockSkewSeconds,
      now: services.now,
    });
    // The answer's log line names the logout, so that an operator can follow it (GET /v1/logouts/{id}).
    request.logoutId = (await services.logouts.logoutWithToken(verified)).id;
    return reply.code(200).send();
  });
};

export const backchannelRoutes = fp(backchannelRoutesPlugin, { name: 'backchannel-routes', dependencies: ['services'], encapsulate: true });
