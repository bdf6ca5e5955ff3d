import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { EntraApiConfig } from '../config/config.js';
import { API_SCOPES, type ApiScope } from '../config/schema.js';
import { ApiKeys, bearerKey, type ApiCaller } from './api-keys.js';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Who calls the API: a static API key (SHA-256 in the config), or a calling service with an Entra ID
 * access token (client credentials or managed identity) carrying app roles.
 */
export class ApiAuthenticator {
  private readonly keys?: JWTVerifyGetKey;
  private readonly issuers: string[];

  constructor(
    readonly apiKeys: ApiKeys,
    private readonly entra: EntraApiConfig | undefined,
    private readonly clockSkewSeconds: number,
    fetchImpl: typeof fetch = fetch,
  ) {
    this.issuers = (entra?.tenants ?? []).flatMap((t) => [`https://login.microsoftonline.com/${t}/v2.0`, `https://sts.windows.net/${t}/`]);
    if (entra) this.keys = createRemoteJWKSet(new URL(entra.jwksUri), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000, [customFetch]: fetchImpl });
  }

  /** The caller behind an Authorization header, or undefined (never says why: 401 either way). */
  async authenticate(authorization: string | undefined): Promise<ApiCaller | undefined> {
    const presented = bearerKey(authorization);
    if (presented === undefined) return undefined;
    if (this.entra && JWT_SHAPE.test(presented)) return this.fromEntraToken(presented, this.entra);
    return this.apiKeys.identify(presented);
  }

  private async fromEntraToken(token: string, entra: EntraApiConfig): Promise<ApiCaller | undefined> {
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, this.keys!, {
        algorithms: ['RS256'],
        audience: entra.audiences,
        issuer: this.issuers,
        clockTolerance: this.clockSkewSeconds,
        requiredClaims: ['exp', 'iat', 'tid'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JOSEError || err instanceof TypeError) return undefined;
      throw err;
    }
    const { tid, roles, scp, azp, appid } = claims as { tid?: unknown; roles?: unknown; scp?: unknown; azp?: unknown; appid?: unknown };
    if (typeof tid !== 'string' || !entra.tenants.includes(tid.toLowerCase())) return undefined;
    // Delegated (user) tokens carry scp: this API is for services acting as themselves.
    if (scp !== undefined) return undefined;
    const client = typeof azp === 'string' ? azp : typeof appid === 'string' ? appid : undefined;
    if (!client) return undefined;
    const allowed = entra.clients ? entra.clients.find((c) => c.id === client) : { id: client, apps: '*' as const };
    if (!allowed) return undefined;
    const granted = Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [];
    const scopes = API_SCOPES.filter((scope: ApiScope) => entra.roles[scope] !== undefined && granted.includes(entra.roles[scope]!));
    return { name: `entra:${client}`, scopes, apps: allowed.apps };
  }
}
