import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import { safeText } from './errors.js';
import { isLoopbackHost, TENANT_PLACEHOLDER, type IssuerConfig } from './registrations.js';

/** A configured issuer matched to one concrete `iss` value (a template resolved to its tenant). */
export interface ResolvedIssuer {
  config: IssuerConfig;
  iss: string;
  tenant?: string;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface IssuerRegistryOptions {
  /** Told of every request for keys or discovery (metrics); a failure with its cause (logs, never a response). */
  onFetch?: (issuer: string, outcome: 'ok' | 'error', cause?: string) => void;
  /** The fetch for keys and discovery (egress.ts: through the environment's proxy); the global one without. */
  fetch?: typeof fetch;
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
      [customFetch]: (url, init) => this.counted(config.name, () => this.fetch(url, init)),
    });
  }

  private get fetch(): typeof fetch {
    return this.options.fetch ?? fetch;
  }

  private async counted(issuer: string, request: () => Promise<Response>): Promise<Response> {
    try {
      const response = await request();
      if (response.ok) this.options.onFetch?.(issuer, 'ok');
      else this.options.onFetch?.(issuer, 'error', `${new URL(response.url || 'x:').host || 'the provider'} answered ${response.status}`);
      return response;
    } catch (err) {
      this.options.onFetch?.(issuer, 'error', causeOf(err));
      throw err;
    }
  }

  private async discoverJwksUri(resolved: ResolvedIssuer, timeoutMs: number): Promise<string> {
    const url = (resolved.config.discoveryUrl ?? '').replace(TENANT_PLACEHOLDER, resolved.tenant ?? '');
    const response = await this.counted(resolved.config.name, () => this.fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' }));
    const refuse = (why: string): never => {
      this.options.onFetch?.(resolved.config.name, 'error', why);
      throw new Error(why);
    };
    if (!response.ok) throw new Error(`discovery answered ${response.status}`);
    const document = (await response.json().catch(() => refuse('the discovery document is not JSON'))) as { issuer?: unknown; jwks_uri?: unknown };
    if (document.issuer !== resolved.iss) refuse('the discovery document names another issuer');
    if (typeof document.jwks_uri !== 'string') refuse('the discovery document has no jwks_uri');
    const jwksUri = new URL(document.jwks_uri as string);
    if (jwksUri.protocol !== 'https:' && !(jwksUri.protocol === 'http:' && isLoopbackHost(jwksUri.hostname))) refuse('the discovered jwks_uri is not https');
    return jwksUri.href;
  }
}

/** Why a request failed, from the innermost cause (fetch's own "fetch failed" says nothing), without URL credentials. */
function causeOf(err: unknown): string {
  if ((err as Error)?.name === 'TimeoutError') return 'no answer in time';
  let innermost = err as { cause?: unknown; code?: unknown; message?: unknown } | undefined;
  while (innermost?.cause && typeof innermost.cause === 'object') innermost = innermost.cause as typeof innermost;
  const code = typeof innermost?.code === 'string' ? `${innermost.code}: ` : '';
  return safeText(`${code}${String(innermost?.message ?? err)}`);
}
