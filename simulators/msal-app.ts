import { randomUUID } from 'node:crypto';
import { ConfidentialClientApplication, DistributedCachePlugin, type AccountInfo, type AuthenticationResult, type ICacheClient, type IPartitionManager, type INetworkModule, type NetworkResponse } from '@azure/msal-node';
import type { Redis } from 'ioredis';
import { partitionKey } from '../src/core/token-cache-sweeper.js';
import type { CompareAndSetStore, TokenCacheStore } from '../src/core/token-cache.js';

const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

export interface EntraUser {
  /** Object id in the home tenant, and the home tenant: MSAL's homeAccountId is `oid.homeTenant`. */
  oid: string;
  homeTenant: string;
  /** The tenant the app signs the user into (a guest's resource tenant differs from homeTenant). */
  tenant?: string;
  name: string;
  sid: string;
}

/**
 * Entra ID's endpoints as msal-node's `networkClient` sees them: instance discovery (with Entra's real
 * alias list, which makes msal-node cache under `login.windows.net`), OpenID metadata and the token
 * endpoint. The only fake in the app path: there is no Entra on this machine.
 */
export class FakeEntra implements INetworkModule {
  private readonly codes = new Map<string, { user: EntraUser; clientId: string }>();
  tokenRequests = 0;

  issueCode(user: EntraUser, clientId: string): string {
    const code = `code-${randomUUID()}`;
    this.codes.set(code, { user, clientId });
    return code;
  }

  async sendGetRequestAsync<T>(url: string): Promise<NetworkResponse<T>> {
    const u = new URL(url);
    if (u.pathname.endsWith('/discovery/instance')) {
      return this.json({
        tenant_discovery_endpoint: 'https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration',
        'api-version': '1.1',
        metadata: [
          {
            preferred_network: 'login.microsoftonline.com',
            preferred_cache: 'login.windows.net',
            aliases: ['login.microsoftonline.com', 'login.windows.net', 'login.microsoft.com', 'sts.windows.net'],
          },
        ],
      });
    }
    if (u.pathname.endsWith('/.well-known/openid-configuration')) {
      const tenant = u.pathname.split('/')[1];
      const base = `https://${u.host}/${tenant}`;
      return this.json({
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        issuer: `https://login.microsoftonline.com/${tenant}/v2.0`,
        jwks_uri: `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`,
      });
    }
    return { status: 404, headers: {}, body: {} as T };
  }

  async sendPostRequestAsync<T>(url: string, options?: { body?: string }): Promise<NetworkResponse<T>> {
    const form = new URLSearchParams(options?.body ?? '');
    this.tokenRequests++;
    if (form.get('grant_type') === 'authorization_code') {
      const grant = this.codes.get(form.get('code') ?? '');
      if (!grant) return this.json({ error: 'invalid_grant', error_description: 'unknown code' }, 400);
      this.codes.delete(form.get('code')!);
      return this.json(this.tokenResponse(grant.user, grant.clientId, form.get('scope') ?? ''));
    }
    // A refresh after a logout would mean the token was still there: refuse, as Entra would after sign-out.
    return this.json({ error: 'invalid_grant', error_description: 'AADSTS50173: the session was revoked' }, 400);
  }

  private tokenResponse(user: EntraUser, clientId: string, scope: string) {
    const tenant = user.tenant ?? user.homeTenant;
    const now = Math.floor(Date.now() / 1000);
    const idToken = `${b64url({ alg: 'RS256', typ: 'JWT', kid: 'k' })}.${b64url({
      aud: clientId,
      iss: `https://login.microsoftonline.com/${tenant}/v2.0`,
      iat: now,
      nbf: now,
      exp: now + 3600,
      name: user.name,
      oid: user.oid,
      preferred_username: `${user.name.toLowerCase()}@example.test`,
      sub: `pairwise-${user.oid.slice(0, 8)}-${clientId.slice(0, 8)}`,
      tid: tenant,
      sid: user.sid,
      ver: '2.0',
    })}.c2lnbmF0dXJl`;
    return {
      token_type: 'Bearer',
      scope:
        scope
          .split(' ')
          .filter((s) => !['openid', 'profile', 'offline_access'].includes(s))
          .join(' ') || 'https://graph.microsoft.com/User.Read',
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: `at-${randomUUID()}`,
      refresh_token: `rt-${randomUUID()}`,
      id_token: idToken,
      client_info: b64url({ uid: user.oid, utid: user.homeTenant }),
    };
  }

  private json<T>(body: unknown, status = 200): NetworkResponse<T> {
    return { status, headers: { 'content-type': 'application/json' }, body: body as T };
  }
}

/** An app's ICacheClient over the in-memory store the service sweeps in the memory-store tests. */
export class StoreCacheClient implements ICacheClient {
  constructor(private readonly store: { get(key: string): Promise<string | null>; set(key: string, value: string): Promise<void> }) {}
  async get(key: string): Promise<string> {
    return (await this.store.get(key)) ?? '';
  }
  async set(key: string, value: string): Promise<string> {
    await this.store.set(key, value);
    return 'OK';
  }
}

/** The app's partition manager, keyed with the same template the service is configured with. */
class TemplatePartitionManager implements IPartitionManager {
  constructor(
    private readonly template: string,
    private readonly clientId: string,
    private readonly homeAccountId: string,
    private readonly cacheKey?: string,
  ) {}
  async getKey(): Promise<string> {
    return partitionKey(this.template, this.clientId, this.homeAccountId, this.cacheKey) as string;
  }
  async extractKey(account: { homeAccountId: string }): Promise<string> {
    return partitionKey(this.template, this.clientId, account.homeAccountId, this.cacheKey) as string;
  }
}

/**
 * A web app as Microsoft's msal-node sample writes it: a new ConfidentialClientApplication per
 * request, with a DistributedCachePlugin over the shared store.
 */
export class MsalWebApp {
  readonly cacheClient: ICacheClient;

  /** `cache`: the app's ICacheClient, or an in-memory store to wrap in one. */
  constructor(
    readonly clientId: string,
    readonly template: string,
    cache: ICacheClient | (TokenCacheStore & CompareAndSetStore & { set(key: string, value: string): Promise<void> }),
    readonly entra: FakeEntra,
    readonly authority = 'https://login.microsoftonline.com/organizations',
  ) {
    this.cacheClient = 'compareAndSet' in cache ? new StoreCacheClient(cache) : cache;
  }

  /** The client of one request, for the account (partition) the request is about. */
  client(homeAccountId: string, cacheKey?: string): ConfidentialClientApplication {
    return new ConfidentialClientApplication({
      auth: { clientId: this.clientId, clientSecret: 'test-secret', authority: this.authority },
      cache: { cachePlugin: new DistributedCachePlugin(this.cacheClient, new TemplatePartitionManager(this.template, this.clientId, homeAccountId, cacheKey)) },
      system: { networkClient: this.entra },
    });
  }

  /** Signs a user in with the authorization code flow; msal-node writes the cache entries itself. */
  async signIn(user: EntraUser, cacheKey?: string): Promise<AccountInfo> {
    const result = await this.signInResult(user, cacheKey);
    if (!result.account) throw new Error('msal-node returned no account');
    return result.account;
  }

  /** The whole AuthenticationResult of a sign-in, as the app's redirect handler gets it. */
  async signInResult(user: EntraUser, cacheKey?: string): Promise<AuthenticationResult> {
    const homeAccountId = `${user.oid}.${user.homeTenant}`;
    return this.client(homeAccountId, cacheKey).acquireTokenByCode({
      code: this.entra.issueCode(user, this.clientId),
      scopes: ['https://graph.microsoft.com/User.Read'],
      redirectUri: 'https://app.example.test/redirect',
    });
  }

  /** What the app's next request sees in its cache for this account's partition. */
  async accounts(homeAccountId: string, cacheKey?: string): Promise<AccountInfo[]> {
    return this.client(homeAccountId, cacheKey).getTokenCache().getAllAccounts();
  }

  /** The app's next token call: the cached access token, or an error once the account is gone. */
  async acquireSilent(account: AccountInfo, cacheKey?: string) {
    return this.client(account.homeAccountId, cacheKey).acquireTokenSilent({ account, scopes: ['https://graph.microsoft.com/User.Read'] });
  }
}

/** What Microsoft's msal-node sample does: the app's own Redis client, each write with a TTL. */
export class RedisCacheClient implements ICacheClient {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds = 24 * 3600,
  ) {}
  async get(key: string): Promise<string> {
    return (await this.redis.get(key)) ?? '';
  }
  async set(key: string, value: string): Promise<string> {
    return (await this.redis.set(key, value, 'EX', this.ttlSeconds)) ?? '';
  }
}

/** The conflict a careful app sees when another writer changed its partition between its read and its write. */
export class CacheWriteConflict extends Error {}

/**
 * A careful app's ICacheClient: WATCH on read, MULTI/EXEC on write, so its own read-modify-write never
 * overwrites a concurrent change (it retries instead). Needs a connection of its own.
 */
export class WatchingRedisCacheClient implements ICacheClient {
  constructor(private readonly redis: Redis) {}
  async get(key: string): Promise<string> {
    await this.redis.watch(key);
    return (await this.redis.get(key)) ?? '';
  }
  async set(key: string, value: string): Promise<string> {
    const result = await this.redis.multi().set(key, value, 'KEEPTTL').exec();
    if (result === null) throw new CacheWriteConflict('the partition changed since it was read');
    return 'OK';
  }
}
