import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { IssuerConfig } from '../../config/config.js';
import { InvalidRequest } from '../../core/errors.js';
import { FrontchannelQuery, IssuerNameParam } from '../schemas/index.js';

const PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head><body><p>Signed out.</p></body></html>\n';

/** Only the issuer's own login pages may frame this page; nothing may be cached. */
function sendPage(reply: FastifyReply, issuer: IssuerConfig): FastifyReply {
  const ancestors = issuer.frontchannelOrigins.length ? issuer.frontchannelOrigins.join(' ') : "'none'";
  reply.removeHeader('x-frame-options');
  return reply.header('cache-control', 'no-cache, no-store').header('pragma', 'no-cache').header('content-security-policy', `default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors ${ancestors}`).type('text/html; charset=utf-8').send(PAGE);
}

const requireSid = (sid: string | undefined): string => {
  if (!sid) throw new InvalidRequest('the sid parameter is missing');
  return sid;
};

/** OpenID Connect Front-Channel Logout 1.0, loaded by the browser in a hidden iframe (no cookies needed). */
const frontchannelRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { services } = app;
  // Spec form: ?iss=<issuer>&sid=<sid>
  app.get('/logout/frontchannel', { schema: { querystring: FrontchannelQuery }, ...app.rateLimits.public }, async (request, reply) => {
    const { iss, sid } = request.query;
    if (!iss) throw new InvalidRequest('the iss parameter is missing');
    const issuer = services.issuers.resolve(iss);
    if (!issuer) throw new InvalidRequest('the issuer is not configured');
    const sessionId = requireSid(sid);
    // HEAD (a link checker, a prefetcher) gets the page's headers and logs no one out.
    if (request.method !== 'HEAD') await services.logouts.logoutSidAtAnyOf([issuer.iss], sessionId, 'frontchannel');
    return sendPage(reply, issuer.config);
  });

  // Entra ID form: the issuer comes from the path, the query has only ?sid=<sid>
  app.get('/logout/frontchannel/:issuerName', { schema: { querystring: FrontchannelQuery, params: IssuerNameParam }, ...app.rateLimits.public }, async (request, reply) => {
    const { issuerName } = request.params;
    const { iss, sid } = request.query;
    const config = services.issuers.byName(issuerName);
    if (!config) throw new InvalidRequest('no issuer is configured under this name');
    const sessionId = requireSid(sid);
    // A provider that does send iss must name this same issuer.
    if (iss !== undefined && services.issuers.resolve(iss)?.config !== config) throw new InvalidRequest('iss does not match the issuer of this URL');
    const candidates = iss !== undefined ? [iss] : services.issuers.issValues(config);
    if (request.method !== 'HEAD') await services.logouts.logoutSidAtAnyOf(candidates, sessionId, 'frontchannel');
    return sendPage(reply, config);
  });
};

export const frontchannelRoutes = fp(frontchannelRoutesPlugin, { name: 'frontchannel-routes', dependencies: ['services'], encapsulate: true });
