import { TENANT_PLACEHOLDER, type IssuerConfig } from '../../core/registrations.js';
import { ConfigError } from '../errors.js';
import { SIGNING_ALGORITHMS, type ConfigFile } from '../schema.js';
import { checkFetchUrl, checkOrigin, unique } from './checks.js';

type IssuerFile = ConfigFile['issuers'][number];

/** `issuers`: unique names and issuers, each checked. */
export function resolveIssuers(file: IssuerFile[]): IssuerConfig[] {
  unique(
    file,
    (i) => i.name,
    (i) => `issuers[${i}].name`,
    'issuer name',
  );
  unique(
    file,
    (i) => i.issuer,
    (i) => `issuers[${i}].issuer`,
    'issuer',
  );
  return file.map((i, n) => resolveIssuer(i, `issuers[${n}]`));
}

/** A literal issuer or a `{tenantid}` template with its tenants; its keys from `jwksUri`, else from discovery. */
function resolveIssuer(i: IssuerFile, at: string): IssuerConfig {
  const isTemplate = TENANT_PLACEHOLDER.test(i.issuer);
  const example = i.issuer.replace(TENANT_PLACEHOLDER, 'tenant');
  if (/[{}]/.test(example)) throw new ConfigError(`${at}.issuer`, 'the only placeholder is {tenantid}');
  try {
    new URL(example);
  } catch {
    throw new ConfigError(`${at}.issuer`, 'is not a URL');
  }
  if (isTemplate && !i.tenants?.length) throw new ConfigError(`${at}.tenants`, 'a {tenantid} issuer template needs its list of allowed tenants');
  if (!isTemplate && i.tenants) throw new ConfigError(`${at}.tenants`, 'only applies to a {tenantid} issuer template');
  if (i.jwksUri && TENANT_PLACEHOLDER.test(i.jwksUri)) throw new ConfigError(`${at}.jwksUri`, 'must not contain a placeholder');
  const jwksUri = i.jwksUri ? checkFetchUrl(`${at}.jwksUri`, i.jwksUri) : undefined;
  let discoveryUrl: string | undefined;
  if (!jwksUri) {
    const discovery = i.discoveryUrl ?? `${i.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    checkFetchUrl(i.discoveryUrl ? `${at}.discoveryUrl` : `${at}.issuer`, discovery.replace(TENANT_PLACEHOLDER, 'tenant'));
    discoveryUrl = discovery;
  }
  return {
    name: i.name,
    issuer: i.issuer,
    isTemplate,
    tenants: i.tenants ?? [],
    ...(jwksUri ? { jwksUri } : {}),
    ...(discoveryUrl ? { discoveryUrl } : {}),
    algorithms: i.algorithms ?? [...SIGNING_ALGORITHMS],
    frontchannelOrigins: (i.frontchannelOrigins ?? []).map((o, k) => checkOrigin(`${at}.frontchannelOrigins[${k}]`, o)),
    requireTyp: i.requireTyp ?? false,
    maxTokenAgeSeconds: i.maxTokenAgeSeconds ?? 3600,
  };
}
