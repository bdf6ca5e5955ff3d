import type { AppConfig, IssuerConfig } from '../../core/registrations.js';
import { DEFAULT_TOKEN_CACHE_KIND, TOKEN_CACHE_KINDS } from '../../token-caches/kinds.js';
import { ConfigError } from '../errors.js';
import type { ConfigFile } from '../schema.js';
import { unique } from './checks.js';
import { resolveKind } from './kind.js';

export const CACHE_KEY_PLACEHOLDERS = ['homeAccountId', 'clientId', 'tenantId', 'oid', 'cacheKey'] as const;
export const DEFAULT_CACHE_KEY = '{homeAccountId}';

type AppFile = ConfigFile['apps'][number];

/** `apps`: unique clientIds and names, each of configured issuers, its token cache checked by its kind. */
export function resolveApps(file: AppFile[], issuers: IssuerConfig[]): AppConfig[] {
  const issuerNames = new Set(issuers.map((i) => i.name));
  unique(file, (a) => a.clientId, (i) => `apps[${i}].clientId`, 'clientId');
  unique(file, (a) => a.name, (i) => `apps[${i}].name`, 'app name');
  return file.map((a, n) => {
    a.issuers.forEach((name, k) => {
      if (!issuerNames.has(name)) throw new ConfigError(`apps[${n}].issuers[${k}]`, `no issuer is named "${name}"`);
    });
    return { clientId: a.clientId, name: a.name, issuers: a.issuers, tokenCache: resolveTokenCache(a.tokenCache, `apps[${n}].tokenCache`), requireIdToken: a.requireIdToken ?? false };
  });
}

/** The kind (`redis` when not given), the key template (known placeholders only) and that kind's settings. */
function resolveTokenCache(file: AppFile['tokenCache'], at: string): AppConfig['tokenCache'] {
  const { kind = DEFAULT_TOKEN_CACHE_KIND, key = DEFAULT_CACHE_KEY, ...settings } = file;
  if (typeof key !== 'string' || key.length === 0) throw new ConfigError(`${at}.key`, 'must be a non-empty string');
  for (const [, placeholder] of key.matchAll(/\{([^}]*)\}/g))
    if (!(CACHE_KEY_PLACEHOLDERS as readonly string[]).includes(placeholder ?? ''))
      throw new ConfigError(`${at}.key`, `unknown placeholder {${placeholder}}; known: ${CACHE_KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`);
  return { kind, key, ...resolveKind(TOKEN_CACHE_KINDS, kind, settings, at, 'token cache') };
}
