import type { AppConfig, IssuerConfig } from '../core/registrations.js';
import type { Role } from '../core/roles.js';
import type { resolveLimits, resolveRetention, resolveRetry } from './resolve/timings.js';
import type { ApiScope } from './schema.js';

export type { AppConfig, IssuerConfig };

/** The clientIds of the apps a caller is bound to, or '*' for every app. */
export type AppBinding = '*' | string[];

export interface ApiKeyConfig {
  name: string;
  sha256: string;
  scopes: ApiScope[];
  apps: AppBinding;
  /** False when the key named no apps (it is then bound to every app, and the start warns). */
  appsNamed: boolean;
}

/** Entra ID access tokens accepted on the API: app-only tokens (client credentials, managed identity). */
export interface EntraApiConfig {
  tenants: string[];
  audiences: string[];
  jwksUri: string;
  /** The app role a token must carry for each scope. */
  roles: Partial<Record<ApiScope, string>>;
  /** When set, only these calling apps (azp / appid). */
  clients?: { id: string; apps: AppBinding }[];
}

export interface ServerConfig {
  host: string;
  port: number;
  /** Where /healthz, /readyz and /metrics listen alone (unset: on `port`). */
  managementPort?: number;
  /** How long SIGTERM keeps serving after /readyz turns 503. */
  shutdownDelaySeconds: number;
  /** The addresses or CIDRs of the proxies whose X-Forwarded-For is believed (none: the peer is the client). */
  trustProxy: string[];
}

/** The configuration as the service uses it: checked, defaults filled in. */
export interface Config {
  server: ServerConfig;
  logLevel: string;
  /** `all` takes logouts in and carries them out; a `receiver` only takes them in, a `worker` only carries them out (a shared store). */
  role: Role;
  /** Whether request lines carry the client's address (the one the trusted proxy saw). */
  logClientAddresses: boolean;
  /** The store's kind (stores/kinds.ts) and that kind's settings, defaults filled in. */
  store: { kind: string } & Record<string, unknown>;
  clockSkewSeconds: number;
  // These three are what their resolvers return: a new setting is its schema entry and its default.
  retention: ReturnType<typeof resolveRetention>;
  /** How queued logouts are retried (see LogoutService). */
  retry: ReturnType<typeof resolveRetry>;
  /** Abuse limits: requests per minute per client IP (public routes) and per API caller, and HTTP timeouts. */
  limits: ReturnType<typeof resolveLimits>;
  issuers: IssuerConfig[];
  apps: AppConfig[];
  apiKeys: ApiKeyConfig[];
  apiEntra?: EntraApiConfig;
  /** True when no file was given: the built-in try-it-out configuration. */
  development: boolean;
}
