import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import { isLoopbackHost, TENANT_PLACEHOLDER, type IssuerConfig } from './registrations.js';

/** A configured issuer matched to one concrete `iss` value (a template resolved to its tenant). */
export interface ResolvedIssuer {
  config: IssuerConfig;
  iss: string;
  tenant?: string;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface IssuerRegistryOptions {
  /** Told of every request for keys or discovery (metrics). */
  onFetch?: (issuer: string, outcome: 'ok' | 'error') => void;
  /** How long a failed discovery is remembered before it is tried again. */
  discoveryRetryMs?: number;
  fetchTimeoutMs?: number;
}

/** The configured issuers: matches `iss` values and holds each issuer's signing keys (JWKS). */
export class IssuerRegistry {
  private readonly templates: { config: IssuerConfig; pattern: RegExp }[] = [];
  private readonly literals = new Map<string, IssuerConfig>();
  private readonly keySets = new Map<string, Promise<JWTVerifyGetKey>>();

  constructor(
    readonly issuers: IssuerConfig[],
    private readonly options: IssuerRegistryOptions = {},
  ) {
    for (const config of issuers) {
      if (config.isTemplate) {
        const [before, after] = config.issuer.split(TENANT_PLACEHOLDER).map(escapeRegExp);
        this.templates.push({ config, pattern: new RegExp(`^${before}([^/?#]+)${after}$`) });
      } else {
        this.literals.set(config.issuer, config);
      }
    }
  }

  /** The issuer that `iss` belongs to, if configured (for a template only with an allowed tenant). */
  resolve(iss: string): ResolvedIssuer | undefined {
    const literal = this.literals.get(iss);
    if (literal) return { config: literal, iss };
    for (const { config, pattern } of this.templates) {
      const tenant = pattern.exec(iss)?.[1];
      // As configured, exactly (ASCII): no case folding, under which other spellings (U+212A for k) would pass.
      if (tenant && config.tenants.includes(tenant)) return { config, iss, tenant };
    }
    return undefined;
  }

  byName(name: string): IssuerConfig | undefined {
    return this.issuers.find((i) => i.name === name);
  }

  /** Every `iss` value an issuer can have: itself, or its template once per allowed tenant. */
  issValues(config: IssuerConfig): string[] {
    return config.isTemplate ? config.tenants.map((t) => config.issuer.replace(TENANT_PLACEHOLDER, t)) : [config.issuer];
  }

  /** The key getter for jose's `jwtVerify`: jose's remote JWK set (cached; one cooled-down refetch per unknown `kid`). */
  keys(resolved: ResolvedIssuer): Promise<JWTVerifyGetKey> {
    let keys = this.keySets.get(resolved.iss);
    if (!keys) {
      keys = this.createKeySet(resolved);
      this.keySets.set(resolved.iss, keys);
      // A failed discovery is retried later, not on every request.
      keys.catch(() => {
        setTimeout(() => this.keySets.delete(resolved.iss), this.options.discoveryRetryMs ?? 10_000).unref();
      });
    }
    return keys;
  }

  private async createKeySet(resolved: ResolvedIssuer): Promise<JWTVerifyGetKey> {
    const { config } = resolved;
    const timeoutDuration = this.options.fetchTimeoutMs ?? 5_000;
    const jwksUri = config.jwksUri ?? (await this.discoverJwksUri(resolved, timeoutDuration));
    return createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
      [customFetch]: (url, init) => this.counted(config.name, () => fetch(url, init)),
    });
  }

  private async counted(issuer: string, request: () => Promise<Response>): Promise<Response> {
    try {
      const response = await request();
      this.options.onFetch?.(issuer, response.ok ? 'ok' : 'error');
      return response;
    } catch (err) {
      this.options.onFetch?.(issuer, 'error');
      throw err;
    }
  }

  private async discoverJwksUri(resolved: ResolvedIssuer, timeoutMs: number): Promise<string> {
    const url = (resolved.config.discoveryUrl ?? '').replace(TENANT_PLACEHOLDER, resolved.tenant ?? '');
    const response = await this.counted(resolved.config.name, () => fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' }));
    if (!response.ok) throw new Error(`discovery answered ${response.status}`);
    const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (document.issuer !== resolved.iss) throw new Error('discovery document names another issuer');
    if (typeof document.jwks_uri !== 'string') throw new Error('discovery document has no jwks_uri');
    const jwksUri = new URL(document.jwks_uri);
    if (jwksUri.protocol !== 'https:' && !(jwksUri.protocol === 'http:' && isLoopbackHost(jwksUri.hostname)))
      throw new Error('discovered jwks_uri is not https');
    return jwksUri.href;
  }
}
