import { isIP } from 'node:net';

// What the service was configured with, as the core sees it: the issuers it trusts and the apps it sweeps.

export interface IssuerConfig {
  name: string;
  /** The issuer as configured: literal, or a template with `{tenantid}`. */
  issuer: string;
  isTemplate: boolean;
  tenants: string[];
  jwksUri?: string;
  discoveryUrl?: string;
  algorithms: string[];
  frontchannelOrigins: string[];
  requireTyp: boolean;
  /** How old (by `iat`) a logout token may be; it bounds how long its replay record lives too. */
  maxTokenAgeSeconds: number;
}

/** Where an app keeps its token cache: the kind (one of the token-cache kinds), the key template, and that kind's own settings. */
export interface TokenCacheSettings {
  kind: string;
  /** The partition key template (`{homeAccountId}` and the other placeholders). */
  key: string;
  [setting: string]: unknown;
}

/** One place an app keeps its web sessions: the kind (one of the web-session kinds) and that kind's settings. */
export interface WebSessionSettings {
  kind: string;
  /** The record's key template (`{sessionKey}` and the other placeholders), for kinds that take one. */
  key?: string;
  [setting: string]: unknown;
}

export interface AppConfig {
  clientId: string;
  name: string;
  issuers: string[];
  tokenCache: TokenCacheSettings;
  /** Where the app keeps its own web sessions (`webSession`, one or a list), each kind's settings with its `key` template. */
  webSessions?: WebSessionSettings[];
  /** A registration must carry the sign-in's valid ID token, and takes iss, sub, sid and the account from it. */
  requireIdToken?: boolean;
}

export const TENANT_PLACEHOLDER = /\{tenantid\}/i;

/** 127.0.0.0/8, ::1 and localhost: where plain http is allowed (tests, local demos). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
