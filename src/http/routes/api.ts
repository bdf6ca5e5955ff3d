import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiScope } from '../../config/schema.js';
import { InvalidRequest, NotFound } from '../../core/errors.js';
import { logoutTarget } from '../../core/logout-target.js';
import type { Session } from '../../core/model.js';
import { verifyIdToken } from '../../core/verify-id-token.js';
import { registrationError } from '../../web-sessions/registration.js';
import { bearerKey, isBoundTo, type ApiCaller } from '../api-keys.js';
import * as S from '../schemas/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who called the API, once authenticated. */
    apiCaller: ApiCaller | null;
  }
}

/** A session as the API shows it: whether it has a web-session key, never the key (as secret as a cookie) nor the principal. */
function shown({ webSessionKey, principal: _principal, ...session }: Session): Omit<Session, 'webSessionKey' | 'principal'> & { webSession?: true } {
  return webSessionKey === undefined ? session : { ...session, webSession: true };
}

/** The internal REST API: every call carries `Authorization: Bearer <api key>` with the route's scope. */
const apiRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { services } = app;
  // Failed authentications are counted per client address, before any key is hashed or token verified:
  // online guessing of keys (and RSA verifications of JWT-shaped bearers) is limited.
  const failedAuthentications = app.createRateLimit({
    max: services.config.limits.failedAuthenticationsPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => `authfail:${request.ip}`,
  });
  const needs = (scope: ApiScope) => async (request: FastifyRequest, reply: FastifyReply) => {
    const budget = await failedAuthentications(request, { increment: false });
    // `isAllowed` says only whether the address is on an allow list (none here); `remaining` is the budget.
    if (!budget.isAllowed && budget.remaining <= 0)
      return reply
        .code(429)
        .header('retry-after', String(budget.ttlInSeconds))
        .send({ error: 'too_many_requests', error_description: `too many failed authentications: retry in ${budget.ttlInSeconds} s` });
    const caller = await services.apiAuth.authenticate(request.headers.authorization);
    if (!caller) {
      await failedAuthentications(request);
      const presented = bearerKey(request.headers.authorization);
      const misHashed = presented === undefined ? undefined : services.apiKeys.hashedWithNewline(presented);
      if (misHashed) request.log.warn({ key: misHashed }, 'an API key was refused whose configured sha256 is of the key plus a newline (made with echo): hash it with printf %s or logout-receiver hash-key');
      reply.header('www-authenticate', 'Bearer realm="logout-receiver"');
      return reply.code(401).send({ error: 'invalid_token', error_description: 'a valid API key or access token is required' });
    }
    if (!caller.scopes.includes(scope)) {
      reply.header('www-authenticate', `Bearer realm="logout-receiver", error="insufficient_scope", scope="${scope}"`);
      return reply.code(403).send({ error: 'insufficient_scope', error_description: `this key lacks the scope ${scope}` });
    }
    request.apiCaller = caller;
    request.log.debug({ caller: caller.name }, 'api caller');
  };
  app.decorateRequest('apiCaller', null);
  const callerOf = (request: FastifyRequest): ApiCaller => request.apiCaller!;
  const notBound = (reply: FastifyReply) => reply.code(403).send({ error: 'insufficient_scope', error_description: 'this key is not bound to the app of the session' });
  /** Reports name the sessions and accounts of every app: they are for keys bound to every app. */
  const notBoundToEveryApp = (request: FastifyRequest, reply: FastifyReply) => callerOf(request).apps !== '*' && reply.code(403).send({ error: 'insufficient_scope', error_description: 'reading logout reports needs a key bound to every app' });

  /** An `issuer` as the `iss` of tokens (a template resolved) or as a configured name. */
  const issOf = (value: string): string => {
    const resolved = services.issuers.resolve(value);
    if (resolved) return resolved.iss;
    const named = services.issuers.byName(value);
    if (named && !named.isTemplate) return named.issuer;
    if (named) throw new InvalidRequest(`issuer ${named.name} is a multi-tenant template: give the iss value with the tenant`);
    throw new InvalidRequest('the issuer is not configured');
  };

  app.post('/sessions', { ...app.rateLimits.api, onRequest: needs('sessions:write'), schema: { body: S.SessionInput, response: { 201: S.Session, ...S.ErrorResponses } } }, async (request, reply) => {
    const { body } = request;
    const appConfig = services.config.apps.find((a) => a.clientId === body.clientId);
    if (!appConfig) throw new InvalidRequest('clientId is not a registered app');
    if (!isBoundTo(callerOf(request), appConfig.clientId)) return notBound(reply);
    const issuer = issOf(body.issuer);
    const issuerName = services.issuers.resolve(issuer)?.config.name;
    if (!issuerName || !appConfig.issuers.includes(issuerName)) throw new InvalidRequest('the app is not registered with this issuer');
    let { sid } = body;
    if (appConfig.requireIdToken) {
      // Who signed in comes from the token; the body must agree with it (other apps' registrations ignore an idToken).
      if (body.idToken === undefined) throw new InvalidRequest('this app requires the idToken of the sign-in');
      const proof = await verifyIdToken(body.idToken, { issuers: services.issuers, app: appConfig, clockSkewSeconds: services.config.clockSkewSeconds, now: services.now });
      if (proof.iss !== issuer) throw new InvalidRequest('issuer is not the iss of the idToken');
      if (proof.sub !== body.sub) throw new InvalidRequest('sub is not the sub of the idToken');
      if (sid !== undefined && proof.sid !== undefined && sid !== proof.sid) throw new InvalidRequest('sid is not the sid of the idToken');
      sid = proof.sid;
      if (body.homeAccountId.toLowerCase() !== proof.homeAccountId.toLowerCase()) throw new InvalidRequest("homeAccountId is not the account the idToken proves (its oid.tid; a guest's home account cannot be proven by an ID token)");
    }
    const refused = registrationError(appConfig.webSessions ?? [], body);
    if (refused) throw new InvalidRequest(refused);
    const now = services.now();
    const expiresAt = body.expiresAt === undefined ? now + services.config.retention.sessionSeconds * 1000 : Date.parse(body.expiresAt);
    if (!(expiresAt > now)) throw new InvalidRequest('expiresAt is in the past');
    const session = await services.logouts.register({
      clientId: body.clientId,
      issuer,
      ...(sid !== undefined ? { sid } : {}),
      sub: body.sub,
      homeAccountId: body.homeAccountId,
      ...(body.cacheKey !== undefined ? { cacheKey: body.cacheKey } : {}),
      ...(body.webSessionKey !== undefined ? { webSessionKey: body.webSessionKey } : {}),
      ...(body.principal !== undefined ? { principal: body.principal } : {}),
      expiresAt: new Date(expiresAt).toISOString(),
    });
    return reply.code(201).header('location', `/v1/sessions/${session.id}`).send(shown(session));
  });

  app.get('/sessions', { ...app.rateLimits.api, onRequest: needs('read'), schema: { querystring: S.SessionQuery, response: { 200: Type.Array(S.Session), ...S.ErrorResponses } } }, async (request) => {
    const target = logoutTarget(request.query, issOf, 'query by issuer and sid, by issuer and sub, or by homeAccountId');
    const { sessions } = services;
    const found: Session[] = target.kind === 'account' ? await sessions.byHomeAccountId(target.homeAccountId) : target.kind === 'sid' ? await sessions.bySid(target.issuer, target.sid) : await sessions.bySub(target.issuer, target.sub);
    // Only the sessions of the apps the key is bound to: their sids are all the front channel asks for.
    const caller = callerOf(request);
    return found.filter((s) => isBoundTo(caller, s.clientId)).map(shown);
  });

  app.delete('/sessions/:id', { ...app.rateLimits.api, onRequest: needs('sessions:write'), schema: { params: S.IdParam } }, async (request, reply) => {
    const { id } = request.params;
    // A session of an app the key is not bound to is answered as absent, so keys cannot probe ids.
    const session = await services.sessions.get(id);
    if (!session || !isBoundTo(callerOf(request), session.clientId) || !(await services.sessions.remove(id))) throw new NotFound('no session has this id');
    return reply.code(204).send();
  });

  app.post('/logouts', { ...app.rateLimits.api, onRequest: needs('logouts:write'), schema: { body: S.LogoutInput, response: { 200: S.LogoutReport, ...S.ErrorResponses } } }, async (request) => {
    const target = logoutTarget(request.body, issOf, 'give {issuer, sid}, {issuer, sub} or {homeAccountId}');
    return services.logouts.logout({ channel: 'api', target });
  });

  app.get('/logouts', { ...app.rateLimits.api, onRequest: needs('read'), schema: { querystring: S.LogoutQuery, response: { 200: Type.Array(S.LogoutReport), ...S.ErrorResponses } } }, async (request, reply) => {
    if (notBoundToEveryApp(request, reply)) return reply;
    // The query has no homeAccountId (its schema refuses one): reports are found by issuer and sid or sub.
    return services.logouts.reportsOf(logoutTarget(request.query, issOf, 'query by issuer and sid, or by issuer and sub'));
  });

  app.get('/logouts/:id', { ...app.rateLimits.api, onRequest: needs('read'), schema: { params: S.IdParam, response: { 200: S.LogoutReport, ...S.ErrorResponses } } }, async (request, reply) => {
    const { id } = request.params;
    if (notBoundToEveryApp(request, reply)) return reply;
    return services.logouts.report(id);
  });

  app.get('/apps', { ...app.rateLimits.api, onRequest: needs('read'), schema: { response: { 200: Type.Array(S.App) } } }, async () =>
    services.config.apps.map((a) => ({ clientId: a.clientId, name: a.name, issuers: a.issuers, tokenCache: { kind: a.tokenCache.kind, key: a.tokenCache.key } })),
  );
};

export const apiRoutes = fp(apiRoutesPlugin, { name: 'api-routes', dependencies: ['services'], encapsulate: true });
