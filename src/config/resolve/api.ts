import type { AppConfig } from '../../core/registrations.js';
import type { ApiKeyConfig, AppBinding, EntraApiConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import type { ConfigFile } from '../schema.js';
import { checkFetchUrl, unique } from './checks.js';

/** `api`: the keys, and the Entra ID tokens accepted, each bound to the apps it names. */
export function resolveApi(file: ConfigFile['api'], apps: AppConfig[]): { apiKeys: ApiKeyConfig[]; apiEntra?: EntraApiConfig } {
  /** App names (or "*") as the clientIds they name. */
  const bindingOf = (names: string[], key: string): AppBinding => {
    if (names.includes('*')) return '*';
    return names.map((name, j) => {
      const app = apps.find((a) => a.name === name);
      if (!app) throw new ConfigError(`${key}[${j}]`, `no app is named "${name}"`);
      return app.clientId;
    });
  };
  const apiEntra = file?.entra ? resolveEntra(file.entra, bindingOf) : undefined;
  const apiKeys: ApiKeyConfig[] = (file?.keys ?? []).map((k, i) => ({
    name: k.name,
    sha256: k.sha256.toLowerCase(),
    scopes: k.scopes,
    apps: k.apps === undefined ? '*' : bindingOf(k.apps, `api.keys[${i}].apps`),
    appsNamed: k.apps !== undefined,
  }));
  unique(
    apiKeys,
    (k) => k.name,
    (i) => `api.keys[${i}].name`,
    'key name',
  );
  unique(
    apiKeys,
    (k) => k.sha256,
    (i) => `api.keys[${i}].sha256`,
    'key hash',
  );
  return { apiKeys, ...(apiEntra ? { apiEntra } : {}) };
}

type EntraFile = NonNullable<NonNullable<ConfigFile['api']>['entra']>;

function resolveEntra(entra: EntraFile, bindingOf: (names: string[], key: string) => AppBinding): EntraApiConfig {
  if (Object.keys(entra.roles).length === 0) throw new ConfigError('api.entra.roles', 'name the app role of at least one scope');
  return {
    tenants: entra.tenants.map((t) => t.toLowerCase()),
    audiences: [entra.audience].flat(),
    jwksUri: checkFetchUrl('api.entra.jwksUri', entra.jwksUri ?? 'https://login.microsoftonline.com/common/discovery/v2.0/keys'),
    roles: entra.roles,
    ...(entra.clients ? { clients: entra.clients.map((c, i) => (typeof c === 'string' ? { id: c, apps: '*' as const } : { id: c.id, apps: bindingOf(c.apps, `api.entra.clients[${i}].apps`) })) } : {}),
  };
}
