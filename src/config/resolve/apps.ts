import type { AppConfig, IssuerConfig, WebSessionSettings } from '../../core/registrations.js';
import { conflictingWebSessions } from '../../web-sessions/key-overlap.js';
import { resolveKeyTemplate } from '../../web-sessions/key-template.js';
import { WEB_SESSION_KINDS } from '../../web-sessions/kinds.js';
import { DEFAULT_TOKEN_CACHE_KIND, TOKEN_CACHE_KINDS } from '../../token-caches/kinds.js';
import { ConfigError } from '../errors.js';
import type { ConfigFile, KindSettingsFile } from '../schema.js';
import { unique } from './checks.js';
import { resolveKind } from './kind.js';

export const CACHE_KEY_PLACEHOLDERS = ['homeAccountId', 'clientId', 'tenantId', 'oid', 'cacheKey'] as const;
export const DEFAULT_CACHE_KEY = '{homeAccountId}';

type AppFile = ConfigFile['apps'][number];

/** `apps`: unique clientIds and names, each of configured issuers, its token cache and web sessions checked by their kinds. */
export function resolveApps(file: AppFile[], issuers: IssuerConfig[]): AppConfig[] {
  const issuerNames = new Set(issuers.map((i) => i.name));
  unique(
    file,
    (a) => a.clientId,
    (i) => `apps[${i}].clientId`,
    'clientId',
  );
  unique(
    file,
    (a) => a.name,
    (i) => `apps[${i}].name`,
    'app name',
  );
  const apps = file.map((a, n): AppConfig => {
    a.issuers.forEach((name, k) => {
      if (!issuerNames.has(name)) throw new ConfigError(`apps[${n}].issuers[${k}]`, `no issuer is named "${name}"`);
    });
    const webSessions = resolveWebSessions(a.webSession, `apps[${n}].webSession`);
    return {
      clientId: a.clientId,
      name: a.name,
      issuers: a.issuers,
      tokenCache: resolveTokenCache(a.tokenCache, `apps[${n}].tokenCache`),
      ...(webSessions ? { webSessions } : {}),
      requireIdToken: a.requireIdToken ?? false,
    };
  });
  checkWebSessionsApart(apps);
  return apps;
}

/** `webSession`, one or a list: each kind's settings and its key template, checked by the kind. */
function resolveWebSessions(file: AppFile['webSession'], at: string): WebSessionSettings[] | undefined {
  if (file === undefined) return undefined;
  const isSettings = (value: unknown): value is KindSettingsFile => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isSettings(file) && !(Array.isArray(file) && file.length > 0)) throw new ConfigError(at, 'must be a web session ({kind, …}) or a non-empty list of them');
  return (Array.isArray(file) ? file : [file]).map((one, i) => {
    const where = Array.isArray(file) ? `${at}[${i}]` : at;
    if (!isSettings(one)) throw new ConfigError(where, 'must be a web session ({kind, …})');
    const { kind, key, ...settings } = one;
    const resolved = resolveKind(WEB_SESSION_KINDS, kind, settings, where, 'web session');
    const template = resolveKeyTemplate(
      WEB_SESSION_KINDS.find((k) => k.kind === kind)!,
      key,
    );
    if ('reason' in template) throw new ConfigError(`${where}.${template.setting}`, template.reason);
    return { kind: kind as string, ...resolved, ...template };
  });
}

/** Two apps whose web-session templates could name the same record on the same store: one app's key could end the other's sessions. */
function checkWebSessionsApart(apps: AppConfig[]): void {
  const targets = apps.flatMap((app) => (app.webSessions ?? []).map((settings) => ({ app: app.name, kind: settings.kind, settings })));
  const clash = conflictingWebSessions(targets);
  if (clash) {
    const n = apps.findIndex((a) => a.name === clash[1].app);
    throw new ConfigError(`apps[${n}].webSession`, `${clash[1].app} and ${clash[0].app} could name the same ${clash[0].kind} record on the same store; give each app a key prefix of its own`);
  }
}

/** The kind (`redis` when not given), the key template (known placeholders only) and that kind's settings. */
function resolveTokenCache(file: AppFile['tokenCache'], at: string): AppConfig['tokenCache'] {
  const { kind = DEFAULT_TOKEN_CACHE_KIND, key = DEFAULT_CACHE_KEY, ...settings } = file;
  if (typeof key !== 'string' || key.length === 0) throw new ConfigError(`${at}.key`, 'must be a non-empty string');
  for (const [, placeholder] of key.matchAll(/\{([^}]*)\}/g))
    if (!(CACHE_KEY_PLACEHOLDERS as readonly string[]).includes(placeholder ?? '')) throw new ConfigError(`${at}.key`, `unknown placeholder {${placeholder}}; known: ${CACHE_KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`);
  return { kind, key, ...resolveKind(TOKEN_CACHE_KINDS, kind, settings, at, 'token cache') };
}
