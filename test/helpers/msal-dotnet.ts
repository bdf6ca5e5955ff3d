/**
 * Token-cache blobs shaped as MSAL.NET writes them (Microsoft.Identity.Web on ASP.NET Core, and ASP.NET
 * apps): no .NET runs here, so these are fixtures built from MSAL.NET's documented cache schema.
 */

export const DOTNET_CLIENT_ID = '0f7a1c3e-5b2d-4e8f-9a6b-1c2d3e4f5a6b';

export interface DotnetUser {
  /** The object id as client_info carries it; MSAL.NET keeps its letter case in Account keys. */
  uid: string;
  utid: string;
  name: string;
}

const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

/** MSAL.NET's homeAccountId for the user: `uid.utid` as client_info gives it (case kept). */
export const dotnetHomeAccountId = (user: DotnetUser): string => `${user.uid}.${user.utid}`;

/** One partition holding these users, as MSAL.NET serializes it (JSON with its dialect's traits, each marked). */
export function dotnetCache(users: DotnetUser[], clientId = DOTNET_CLIENT_ID): string {
  const env = 'login.windows.net'; // Entra's preferred_cache alias, as MSAL.NET writes it
  const now = Math.floor(Date.now() / 1000);
  const cache: Record<string, Record<string, unknown>> = { Account: {}, IdToken: {}, AccessToken: {}, RefreshToken: {}, AppMetadata: {} };
  for (const user of users) {
    const home = dotnetHomeAccountId(user);
    const realm = user.utid;
    // MSAL.NET writes client_info on every entry.
    const clientInfo = b64url({ uid: user.uid, utid: user.utid });
    const common = { home_account_id: home, environment: env, client_info: clientInfo };
    // Account keys are not lower-cased by MSAL.NET.
    cache.Account![`${home}-${env}-${realm}`] = { ...common, realm, local_account_id: user.uid, username: `${user.name}@example.test`, authority_type: 'MSSTS', name: user.name };
    const credential = (type: string, target = '') => `${home}-${env}-${type}-${clientId}-${realm}-${target}`.toLowerCase();
    cache.IdToken![credential('idtoken')] = { ...common, credential_type: 'IdToken', client_id: clientId, realm, secret: `header.${b64url({ oid: user.uid, tid: realm })}.sig` };
    const times = { cached_at: String(now), expires_on: String(now + 3600), extended_expires_on: String(now + 7200), ext_expires_on: String(now + 7200) }; // ext_expires_on beside extended_expires_on
    cache.AccessToken![credential('accesstoken', 'https://graph.microsoft.com/user.read')] = {
      ...common,
      ...times,
      credential_type: 'AccessToken',
      client_id: clientId,
      realm,
      target: 'https://graph.microsoft.com/User.Read',
      secret: `at-${user.uid}`,
      token_type: 'Bearer',
    };
    // An extended access token (MSAL.NET's ATExt: a token bound to extra key components, e.g. PoP), which msal-node drops on rewrite.
    cache.AccessToken![`${credential('atext', 'api://orders/read')}-pop`] = {
      ...common,
      ...times,
      credential_type: 'ATExt',
      client_id: clientId,
      realm,
      target: 'api://orders/read',
      secret: `pop-${user.uid}`,
      token_type: 'pop',
      ext: { req_cnf: 'kid-1' },
    };
    cache.RefreshToken![credential('refreshtoken')] = { ...common, credential_type: 'RefreshToken', client_id: clientId, secret: `rt-${user.uid}` };
  }
  cache.AppMetadata![`appmetadata-${env}-${clientId}`] = { environment: env, client_id: clientId };
  return JSON.stringify(cache);
}
