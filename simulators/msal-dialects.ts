/**
 * fast-check arbitraries for serialized MSAL token caches: the unified JSON schema every MSAL library
 * shares (top-level sections `Account`, `IdToken`, `AccessToken`, `RefreshToken`, `AppMetadata`, each
 * an object of key → entry), written the way each of four libraries writes it.
 *
 * Where each library's shapes come from (read, not guessed):
 * - msal-node 7.2.3 / msal-common 16.17.0, installed here: node_modules/@azure/msal-node/src/cache/
 *   CacheHelpers.ts (generateCredentialKey, generateAccountKey), src/cache/serializer/Serializer.ts,
 *   node_modules/@azure/msal-common/src/cache/utils/CacheHelpers.ts (create*Entity),
 *   src/cache/utils/AccountEntityUtils.ts (createAccountEntity), src/response/ResponseHandler.ts
 *   (generateCacheRecord); and a blob written by msal-node itself through acquireTokenByCode.
 * - MSAL.NET: AzureAD/microsoft-authentication-library-for-dotnet (at 39d2001), src/client/Microsoft.Identity.Client/
 *   Cache/Items/Msal{Account,IdToken,AccessToken,RefreshToken,AppMetadata}CacheItem.cs, MsalCacheKeys.cs,
 *   CacheSerializationContract.cs, StorageJsonKeys.cs, StorageJsonValues.cs (no .NET on this machine).
 * - MSAL Python 1.21 (Debian's python3-msal): /usr/lib/python3/dist-packages/msal/token_cache.py
 *   (key_makers, __add, serialize) and application.py; and a blob written by its TokenCache.add.
 * - msal4j: AzureAD/microsoft-authentication-library-for-java (at ff44d4a), msal4j-sdk/src/main/java/com/microsoft/
 *   aad/msal4j/{AccessToken,IdToken,RefreshToken,Account,AppMetadata}CacheEntity.java, TokenCache.java,
 *   TokenRequestExecutor.java, JsonHelper.java (no JVM on this machine).
 */
import fc from 'fast-check';
import { createHash } from 'node:crypto';

export type Dialect = 'msal-node' | 'msal-dotnet' | 'msal-python' | 'msal4j';
export const DIALECTS: Dialect[] = ['msal-node', 'msal-dotnet', 'msal-python', 'msal4j'];

/** Entra ID's public-cloud aliases, as its instance discovery lists them. */
export const ENTRA_ALIASES = ['login.microsoftonline.com', 'login.windows.net', 'login.microsoft.com', 'sts.windows.net'] as const;
/** The five sections every MSAL library reads and writes. */
export const KNOWN_SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken', 'AppMetadata'] as const;
export type KnownSection = (typeof KNOWN_SECTIONS)[number];

export interface EntryRef {
  section: string;
  key: string;
}

export interface GeneratedAccount {
  /** As the blob's Account entries write it (MSAL.NET keeps the letter case of client_info's uid). */
  homeAccountId: string;
  /** The Entra aliases the account has entries under, the first being the library's usual one. */
  environments: string[];
  /** client_info's uid and utid: homeAccountId is `${uid}.${utid}`. */
  uid: string;
  utid: string;
  /** On the account generated to contain another's homeAccountId as a substring: that other id. */
  contains?: string;
}

export type MalformedKind = 'null' | 'string' | 'number' | 'missing-fields';

/** What the arbitrary drew besides the accounts' own ordinary entries. */
export interface CacheToggles {
  /** One account's entries (an Account entry, an IdToken, an AccessToken, a RefreshToken) under a second alias too. */
  twoAliases?: { homeAccountId: string; environments: [string, string] };
  /** An account whose homeAccountId contains another's: `<hex><uid>.<utid>` (prefix) or `<uid>.<utid><hex>` (suffix). */
  containedId?: { outer: string; inner: string; form: 'prefix' | 'suffix' };
  /** An entry of a credential type none of these libraries knows, in a known section, belonging to an account. */
  unknownCredentialType?: EntryRef & { credentialType: string; homeAccountId: string };
  /** An unknown top-level section (an object of entries); `owned` are those of its keys that belong to an account. */
  unknownSection?: { name: string; keys: string[]; owned: string[] };
  /** An unknown top-level member that is not an object. */
  unknownMember?: { name: string; value: unknown };
  /** One malformed entry (belongs to no account). */
  malformed?: EntryRef & { kind: MalformedKind };
  /** msal-dotnet only: MSAL.NET's PoP, SSH-cert and extended (`ATExt`) access tokens in the blob. */
  dotnetSpecialAccessTokens: (EntryRef & { kind: 'pop' | 'ssh-cert' | 'ext' })[];
  /** The FOCI family id the tokens were issued with, if any. */
  familyId?: string;
  /** The blob's indentation: 0 = compact. */
  indent: 0 | 2 | 4;
}

export interface GeneratedCache {
  dialect: Dialect;
  blob: string;
  accounts: GeneratedAccount[];
  /**
   * Per lower-cased homeAccountId: every entry that belongs to the account by the rule "its
   * `home_account_id` is the account (any letter case), or its key starts with `<homeAccountId>-`
   * (any case), in any section but AppMetadata". Exactly these should go when the account is removed.
   */
  keysByAccount: Record<string, EntryRef[]>;
  clientId: string;
  toggles: CacheToggles;
  /** msal-node's TokenCache.deserialize throws a TypeError on this blob: a `null` entry in one of its five sections. */
  msalNodeDeserializeThrows: boolean;
}

// ---------------------------------------------------------------------------------------------
// The rule
// ---------------------------------------------------------------------------------------------

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The entries of a parsed blob that belong to `homeAccountId` by the rule of
 * {@link GeneratedCache.keysByAccount}, in blob order.
 */
export function entriesOf(parsed: unknown, homeAccountId: string): EntryRef[] {
  const id = homeAccountId.toLowerCase();
  const found: EntryRef[] = [];
  if (!isObject(parsed)) return found;
  for (const [section, entries] of Object.entries(parsed)) {
    if (section === 'AppMetadata' || !isObject(entries)) continue;
    for (const [key, entry] of Object.entries(entries)) {
      const owner = isObject(entry) && typeof entry.home_account_id === 'string' ? entry.home_account_id.toLowerCase() : undefined;
      if (owner === id || key.toLowerCase().startsWith(`${id}-`)) found.push({ section, key });
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Seeds: what is drawn, before any library's shapes are applied
// ---------------------------------------------------------------------------------------------

type AtKind = 'bearer' | 'pop' | 'ssh-cert' | 'ext';

interface AtSeed {
  scopes: string[];
  /** Issued for the account's other realm (another tenant) rather than its usual one. */
  otherRealm: boolean;
  kind: AtKind;
  expiresIn: number;
  extExpiresIn: number;
  refreshIn: number | null;
  /** MSAL Python's target is the response's scope as returned, OIDC scopes included. */
  withOidcScopes: boolean;
}

interface AccountSeed {
  uid: string;
  utid: string;
  /** A guest: signed into this tenant, with this object id there; otherwise tid = utid, oid = uid. */
  guest: { tid: string; oid: string } | null;
  otherTenant: string;
  upperUid: boolean;
  name: string;
  accessTokens: AtSeed[];
  nonce: number;
}

interface CacheSeed {
  clientId: string;
  upperClientId: boolean;
  familyId: boolean;
  /** msal-python / msal4j: the authority's tenant segment, which they write as realm. */
  authorityTenant: 'organizations' | 'common' | 'tenanted';
  /** null: the library's usual environment; otherwise this alias. */
  environment: string | null;
  now: number;
  accounts: AccountSeed[];
  secondAlias: { account: number; alias: number } | null;
  contained: { form: 'prefix' | 'suffix'; hex: string } | null;
  unknownCredentialType: { account: number; section: 'IdToken' | 'AccessToken' | 'RefreshToken' } | null;
  unknownSection: { name: string; entries: { owner: number | null; by: 'field' | 'key' | 'both'; flipCase: boolean }[] } | null;
  unknownMember: { name: string; value: unknown; position: number } | null;
  malformed: { section: number; kind: MalformedKind } | null;
  /** A uid no generated account has: the malformed entry's would-be owner. */
  stranger: string;
  prettyPrinted: boolean;
}

const SCOPES = [
  'https://graph.microsoft.com/User.Read',
  'https://graph.microsoft.com/Mail.Read',
  'https://graph.microsoft.com/Calendars.ReadWrite',
  'api://orders-api/Orders.Read',
  'https://storage.azure.com/user_impersonation',
  'https://management.azure.com/user_impersonation',
  'https://vault.azure.net/user_impersonation',
];
/** MSAL.NET's SSH-certificate scope: its own, so that an SSH-cert token's key never meets a Bearer one's. */
const SSH_SCOPE = 'https://pas.windows.net/CheckMyAccess/Linux/.default';
const OIDC_SCOPES = ['openid', 'profile', 'offline_access'];
const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Katherine Johnson', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth', 'Radia Perlman'];
const UNKNOWN_SECTION_NAMES = ['ExtendedTokenData', 'BrokerState', 'AccountSignals'];
const UNKNOWN_MEMBERS: [string, unknown][] = [
  ['Version', 3],
  ['SchemaVersion', '2.0'],
  ['Migrated', true],
  ['LastWriteTime', null],
  ['Writers', ['msal-node', 'msal-python']],
];
/**
 * Credential types of MSAL's other platforms (e.g. the ObjC/C++ libraries' V1IdToken,
 * PrimaryRefreshToken, LegacySingleResourceToken) that none of these four libraries reads.
 */
const UNKNOWN_CREDENTIAL_TYPES = { IdToken: 'V1IdToken', AccessToken: 'LegacySingleResourceToken', RefreshToken: 'PrimaryRefreshToken' } as const;
const MALFORMED_SECTIONS: string[] = [...KNOWN_SECTIONS];

/** `arb` in about one case of three (by default), else null; shrinks towards null. */
const sometimes = <T>(arb: fc.Arbitrary<T>, absent = 2, present = 1): fc.Arbitrary<T | null> => fc.oneof({ weight: absent, arbitrary: fc.constant(null) }, { weight: present, arbitrary: arb });

const hexChars = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 1, maxLength: 3 });
const someScopes = fc.uniqueArray(fc.constantFrom(...SCOPES), { minLength: 1, maxLength: 2 });

const atSeed = (dialect: Dialect): fc.Arbitrary<AtSeed> =>
  fc.record({
    scopes: someScopes,
    otherRealm: fc.boolean(),
    // MSAL.NET's PoP / SSH-cert / extended tokens; the other dialects here write Bearer tokens only.
    kind: dialect === 'msal-dotnet' ? fc.constantFrom<AtKind>('bearer', 'bearer', 'bearer', 'pop', 'ssh-cert', 'ext') : fc.constant<AtKind>('bearer'),
    // Some already expired: caches keep expired access tokens until they are replaced.
    expiresIn: fc.integer({ min: -7200, max: 5400 }),
    extExpiresIn: fc.integer({ min: 0, max: 7200 }),
    refreshIn: sometimes(fc.integer({ min: 60, max: 3600 }), 1, 1),
    withOidcScopes: fc.boolean(),
  });

const accountSeed = (dialect: Dialect, uid: string): fc.Arbitrary<AccountSeed> =>
  fc.record({
    uid: fc.constant(uid),
    utid: fc.uuid({ version: 4 }),
    guest: sometimes(fc.record({ tid: fc.uuid({ version: 4 }), oid: fc.uuid({ version: 4 }) })),
    otherTenant: fc.uuid({ version: 4 }),
    upperUid: fc.boolean(),
    name: fc.constantFrom(...NAMES),
    accessTokens: fc.array(atSeed(dialect), { minLength: 1, maxLength: 3 }),
    nonce: fc.nat(),
  });

const cacheSeed = (dialect: Dialect, minAccounts: number, maxAccounts: number): fc.Arbitrary<CacheSeed> =>
  fc
    // One uid more than accounts: the last is the stranger's, so that it never is an account's (shrinking drives GUIDs to one value).
    .uniqueArray(fc.uuid({ version: 4 }), { minLength: minAccounts + 1, maxLength: maxAccounts + 1, selector: (u) => u.toLowerCase() })
    .chain((uids) => fc.tuple(fc.constant(uids[uids.length - 1]!), ...uids.slice(0, -1).map((uid) => accountSeed(dialect, uid))))
    .chain(([stranger, ...accounts]) =>
      fc.record({
        clientId: fc.uuid({ version: 4 }),
        upperClientId: fc.boolean(),
        familyId: fc.boolean(),
        authorityTenant: fc.constantFrom<CacheSeed['authorityTenant']>('organizations', 'common', 'tenanted'),
        environment: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom<string>(...ENTRA_ALIASES) }),
        now: fc.integer({ min: 1_700_000_000, max: 1_900_000_000 }),
        accounts: fc.constant(accounts),
        secondAlias: sometimes(fc.record({ account: fc.nat({ max: accounts.length - 1 }), alias: fc.nat({ max: ENTRA_ALIASES.length - 2 }) })),
        contained: accounts.length >= 2 ? sometimes(fc.record({ form: fc.constantFrom<'prefix' | 'suffix'>('prefix', 'suffix'), hex: hexChars })) : fc.constant(null),
        unknownCredentialType: sometimes(fc.record({ account: fc.nat({ max: accounts.length - 1 }), section: fc.constantFrom<'IdToken' | 'AccessToken' | 'RefreshToken'>('IdToken', 'AccessToken', 'RefreshToken') })),
        unknownSection: sometimes(
          fc.record({
            name: fc.constantFrom(...UNKNOWN_SECTION_NAMES),
            entries: fc.array(
              fc.record({
                owner: sometimes(fc.nat({ max: accounts.length - 1 }), 1, 3),
                by: fc.constantFrom<'field' | 'key' | 'both'>('field', 'key', 'both'),
                flipCase: fc.boolean(),
              }),
              { minLength: 1, maxLength: 3 },
            ),
          }),
        ),
        unknownMember: sometimes(
          fc
            .record({
              member: fc.constantFrom(...UNKNOWN_MEMBERS),
              position: fc.nat({ max: 5 }),
            })
            .map(({ member, position }) => ({ name: member[0], value: member[1], position })),
        ),
        malformed: sometimes(
          fc.record({
            section: fc.nat({ max: MALFORMED_SECTIONS.length }), // the last index: the unknown section, when there is one
            kind: fc.constantFrom<MalformedKind>('null', 'string', 'number', 'missing-fields'),
          }),
        ),
        stranger: fc.constant(stranger),
        prettyPrinted: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      }),
    );

// ---------------------------------------------------------------------------------------------
// Library shapes
// ---------------------------------------------------------------------------------------------

const b64url = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const flipCase = (s: string): string => (s === s.toLowerCase() ? s.toUpperCase() : s.toLowerCase());

/** Everything one sign-in (one account under one environment) gives the writer. */
interface Grant {
  clientId: string;
  env: string;
  homeAccountId: string;
  uid: string;
  utid: string;
  /** The ID token's tid and oid. */
  tid: string;
  oid: string;
  name: string;
  username: string;
  clientInfo: string;
  idToken: string;
  /** msal-python / msal4j: the realm they write, the authority's tenant segment. */
  authorityRealm: string;
  /** The realm of an access token issued for another tenant. */
  otherRealm: string;
  familyId: string | undefined;
  now: number;
  nonce: string;
}

interface At {
  seed: AtSeed;
  realm: string;
  scopes: string[];
  index: number;
}

type Entry = [key: string, value: Record<string, unknown>];

interface Writer {
  /** The order the library writes the top-level sections in. */
  sections: readonly KnownSection[];
  /** The library's usual environment for Entra. */
  environment: string;
  /** The library's own indentation. */
  indent: 0 | 4;
  /** Whether it writes AppMetadata without a family id. */
  appMetadataAlways: boolean;
  /** Its realm is the ID token's tid (msal-node, MSAL.NET), not the authority's tenant segment (MSAL Python, msal4j). */
  realmIsTid: boolean;
  /** The realm of the account's usual access tokens. */
  atRealm(g: Grant, otherRealm: boolean): string;
  account(g: Grant): Entry;
  idToken(g: Grant): Entry;
  accessToken(g: Grant, at: At): Entry & { kind: AtKind };
  refreshToken(g: Grant, target: string): Entry;
  appMetadata(clientId: string, env: string, familyId: string | undefined): Entry;
}

const join = (...parts: string[]): string => parts.join('-');

const msalNode: Writer = {
  realmIsTid: true,
  // msal-node's Serializer.serializeAllCache writes Account, IdToken, AccessToken, RefreshToken, AppMetadata.
  sections: ['Account', 'IdToken', 'AccessToken', 'RefreshToken', 'AppMetadata'],
  // msal-node caches under instance discovery's preferred_cache, login.windows.net for Entra's aliases.
  environment: 'login.windows.net',
  // msal-node's TokenCache.serialize is a plain JSON.stringify.
  indent: 0,
  // msal-node's ResponseHandler writes AppMetadata only when the response has a foci (family id).
  appMetadataAlways: false,
  // msal-node's access-token realm is the ID token's tid (claimsTenantId || authority.tenant).
  atRealm: (g, other) => (other ? g.otherRealm : g.tid),
  account: (g) => [
    // msal-node's generateAccountKey: `${homeAccountId}-${environment}-${homeAccountId.split('.')[1]}`, lower-cased (the utid, not the realm field).
    join(g.homeAccountId, g.env, g.homeAccountId.split('.')[1] ?? g.utid).toLowerCase(),
    {
      home_account_id: g.homeAccountId,
      environment: g.env,
      // msal-node's createAccountEntity: realm = clientInfo.utid (the home tenant), not the ID token's tid.
      realm: g.utid,
      local_account_id: g.uid,
      username: g.username,
      authority_type: 'MSSTS',
      name: g.name,
      client_info: g.clientInfo,
      // msal-node 7's Serializer writes the tenant profiles as an array of JSON strings.
      tenantProfiles: [JSON.stringify({ tenantId: g.tid, localAccountId: g.oid, name: g.name, username: g.username, isHomeTenant: g.tid === g.utid })],
    },
  ],
  idToken: (g) => [
    // msal-node's generateCredentialKey: [homeAccountId, environment, credentialType, clientId, realm, target, scheme], lower-cased.
    join(g.homeAccountId, g.env, 'IdToken', g.clientId, g.tid, '', '').toLowerCase(),
    { home_account_id: g.homeAccountId, environment: g.env, credential_type: 'IdToken', client_id: g.clientId, secret: g.idToken, realm: g.tid },
  ],
  accessToken: (g, at) => {
    const target = at.scopes.join(' ');
    const expiresOn = g.now + at.seed.expiresIn;
    const entry: Entry = [
      // msal-node's generateCredentialKey: a Bearer token's scheme part is empty, hence the trailing '-'.
      join(g.homeAccountId, g.env, 'AccessToken', g.clientId, at.realm, target, '').toLowerCase(),
      {
        home_account_id: g.homeAccountId,
        environment: g.env,
        credential_type: 'AccessToken',
        client_id: g.clientId,
        secret: `at.${g.nonce}.${at.index}`,
        realm: at.realm,
        target,
        // msal-node's timestamps: epoch seconds as strings.
        cached_at: String(g.now),
        expires_on: String(expiresOn),
        // msal-node's ResponseHandler: extended_expires_on = expires_on + ext_expires_in.
        extended_expires_on: String(expiresOn + at.seed.extExpiresIn),
        ...(at.seed.refreshIn !== null ? { refresh_on: String(g.now + at.seed.refreshIn) } : {}),
        token_type: 'Bearer',
      },
    ];
    return Object.assign(entry, { kind: 'bearer' as const });
  },
  refreshToken: (g) => [
    // msal-node's generateCredentialKey for refresh tokens: the family id stands for the client id; realm, target and scheme are empty.
    join(g.homeAccountId, g.env, 'RefreshToken', g.familyId ?? g.clientId, '', '', '').toLowerCase(),
    {
      home_account_id: g.homeAccountId,
      environment: g.env,
      credential_type: 'RefreshToken',
      client_id: g.clientId,
      secret: `rt.${g.nonce}`,
      ...(g.familyId !== undefined ? { family_id: g.familyId } : {}),
    },
  ],
  appMetadata: (clientId, env, familyId) => [
    // msal-common's generateAppMetadataKey: appmetadata-<environment>-<client_id>, lower-cased.
    join('appmetadata', env, clientId).toLowerCase(),
    { client_id: clientId, environment: env, family_id: familyId },
  ],
};

/** MSAL.NET's CoreHelpers.ComputeAccessTokenExtCacheKey: SHA-256 of the sorted key+value pairs, base64url. */
const dotnetExtHash = (components: Record<string, string>): string =>
  createHash('sha256')
    .update(
      Object.keys(components)
        .sort()
        .map((k) => `${k}${components[k]}`)
        .join(''),
    )
    .digest('base64url');

const msalDotnet: Writer = {
  realmIsTid: true,
  // MSAL.NET's CacheSerializationContract.ToJsonString writes AccessToken, RefreshToken, IdToken, Account, AppMetadata, then unknown nodes.
  sections: ['AccessToken', 'RefreshToken', 'IdToken', 'Account', 'AppMetadata'],
  // MSAL.NET caches under instance discovery's PreferredCache, login.windows.net for Entra.
  environment: 'login.windows.net',
  // MSAL.NET's JsonObject.ToJsonString: compact.
  indent: 0,
  // MSAL.NET's SaveTokenResponseAsync always updates the AppMetadata entry (family_id only when there is one).
  appMetadataAlways: true,
  // MSAL.NET's realm is TokenResponseHelper.GetTenantId: the ID token's tid (or a tenanted authority's).
  atRealm: (g, other) => (other ? g.otherRealm : g.tid),
  account: (g) => [
    // MSAL.NET's MsalAccountCacheItem.InitCacheKey: `${HomeAccountId}-${Environment}-${TenantId}`, NOT lower-cased.
    `${g.homeAccountId}-${g.env}-${g.tid}`,
    {
      // MSAL.NET's MsalCacheItemBase writes client_info on every Account and credential entry.
      home_account_id: g.homeAccountId,
      environment: g.env,
      client_info: g.clientInfo,
      username: g.username,
      name: g.name,
      given_name: g.name.split(' ')[0],
      family_name: g.name.split(' ').slice(1).join(' '),
      local_account_id: g.oid,
      authority_type: 'MSSTS',
      realm: g.tid,
    },
  ],
  idToken: (g) => [
    // MSAL.NET's MsalCacheKeys.GetCredentialKey: [homeAccountId, environment, IdToken, clientId, tenantId, ""] lower-cased.
    join(g.homeAccountId, g.env, 'IdToken', g.clientId, g.tid, '').toLowerCase(),
    { home_account_id: g.homeAccountId, environment: g.env, client_info: g.clientInfo, client_id: g.clientId, secret: g.idToken, credential_type: 'IdToken', realm: g.tid },
  ],
  accessToken: (g, at) => {
    // MSAL.NET's MsalAccessTokenCacheItem orders the scopes alphabetically.
    const target = [...at.scopes].sort().join(' ');
    const kind = at.seed.kind;
    const expiresOn = g.now + at.seed.expiresIn;
    const extExpiresOn = String(g.now + at.seed.extExpiresIn);
    // MSAL.NET's extended access tokens (WithAdditionalCacheKeyComponents, e.g. an FMI path): credential_type ATExt, an `ext` object, its hash in the key; msal-node drops these when it rewrites a blob.
    const ext = kind === 'ext' ? { fmi_path: `SomeFmiPath/agent-${at.index}` } : undefined;
    // MSAL.NET's AuthSchemeHelper.StoreTokenTypeInCacheKey: PoP (not Bearer or SSH-cert) keys use the descriptor AccessToken_With_AuthScheme and end with the token type.
    const descriptor = kind === 'pop' ? 'AccessToken_With_AuthScheme' : kind === 'ext' ? 'ATExt' : 'AccessToken';
    const extra = kind === 'pop' ? ['pop'] : ext ? [dotnetExtHash(ext)] : [];
    const value: Record<string, unknown> = {
      home_account_id: g.homeAccountId,
      environment: g.env,
      client_info: g.clientInfo,
      client_id: g.clientId,
      secret: `at.${g.nonce}.${at.index}`,
      // MSAL.NET's credential_type field stays AccessToken for PoP and SSH-cert tokens; only extended ones say ATExt.
      credential_type: kind === 'ext' ? 'ATExt' : 'AccessToken',
      realm: at.realm,
      target,
      cached_at: String(g.now),
      expires_on: String(expiresOn),
      extended_expires_on: extExpiresOn,
      // MSAL.NET's PoP / SSH-cert tokens carry the key id as `kid` and their token_type (Bearer is not written).
      ...(kind === 'pop' || kind === 'ssh-cert' ? { kid: `kid-${g.nonce}-${at.index}`, token_type: kind } : {}),
      ...(at.seed.refreshIn !== null ? { refresh_on: String(g.now + at.seed.refreshIn) } : {}),
      // MSAL.NET writes ext_expires_on beside extended_expires_on, for older MSALs that read that name.
      ext_expires_on: extExpiresOn,
      ...(ext ? { ext } : {}),
    };
    return Object.assign([join(g.homeAccountId, g.env, descriptor, g.clientId, at.realm, target, ...extra).toLowerCase(), value] as Entry, { kind });
  },
  refreshToken: (g) => [
    // MSAL.NET's MsalRefreshTokenCacheItem.InitCacheKey: `-<clientId>--`, or for a family RT `-<familyId>--`, lower-cased.
    join(g.homeAccountId, g.env, 'RefreshToken', g.familyId ?? g.clientId, '', '').toLowerCase(),
    {
      home_account_id: g.homeAccountId,
      environment: g.env,
      client_info: g.clientInfo,
      client_id: g.clientId,
      secret: `rt.${g.nonce}`,
      credential_type: 'RefreshToken',
      ...(g.familyId !== undefined ? { family_id: g.familyId } : {}),
    },
  ],
  appMetadata: (clientId, env, familyId) => [
    // MSAL.NET's MsalAppMetadataCacheItem: appmetadata-<env>-<clientId>, lower-cased.
    join('appmetadata', env, clientId).toLowerCase(),
    { environment: env, client_id: clientId, ...(familyId !== undefined ? { family_id: familyId } : {}) },
  ],
};

const msalPython: Writer = {
  realmIsTid: false,
  // MSAL Python's __add creates the sections in this order (setdefault on first write).
  sections: ['AccessToken', 'Account', 'IdToken', 'RefreshToken', 'AppMetadata'],
  // MSAL Python's environment is authority.instance, the authority's own host (no preferred_cache).
  environment: 'login.microsoftonline.com',
  // MSAL Python's SerializableTokenCache.serialize: json.dumps(self._cache, indent=4).
  indent: 4,
  // MSAL Python's __add writes AppMetadata on every token response.
  appMetadataAlways: true,
  // MSAL Python's realm is the token endpoint's tenant segment (`common`/`organizations` for multi-tenant authorities).
  atRealm: (g, other) => (other ? g.otherRealm : g.authorityRealm),
  account: (g) => [
    // MSAL Python's key_makers[Account]: [home_account_id, environment, realm], lower-cased.
    join(g.homeAccountId, g.env, g.authorityRealm).toLowerCase(),
    // MSAL Python writes no client_info on the Account (it is commented out in __add).
    { home_account_id: g.homeAccountId, environment: g.env, realm: g.authorityRealm, local_account_id: g.oid, username: g.username, authority_type: 'MSSTS' },
  ],
  idToken: (g) => [
    // MSAL Python's key_makers[IdToken]: [..., IdToken, client_id, realm, ""], lower-cased.
    join(g.homeAccountId, g.env, 'IdToken', g.clientId, g.authorityRealm, '').toLowerCase(),
    { credential_type: 'IdToken', secret: g.idToken, home_account_id: g.homeAccountId, environment: g.env, realm: g.authorityRealm, client_id: g.clientId },
  ],
  accessToken: (g, at) => {
    // MSAL Python's target: the response's scopes joined by one space, unsorted (OIDC scopes included when returned).
    const target = (at.seed.withOidcScopes ? [...at.scopes, ...OIDC_SCOPES.slice(0, 2)] : at.scopes).join(' ');
    const expiresOn = g.now + at.seed.expiresIn;
    return Object.assign(
      [
        // MSAL Python's key_makers[AccessToken]: [..., AccessToken, client_id, realm, target], lower-cased, no trailing part.
        join(g.homeAccountId, g.env, 'AccessToken', g.clientId, at.realm, target).toLowerCase(),
        {
          credential_type: 'AccessToken',
          secret: `at.${g.nonce}.${at.index}`,
          home_account_id: g.homeAccountId,
          environment: g.env,
          client_id: g.clientId,
          target,
          realm: at.realm,
          token_type: 'Bearer',
          cached_at: String(g.now),
          expires_on: String(expiresOn),
          // MSAL Python: extended_expires_on = now + ext_expires_in.
          extended_expires_on: String(g.now + at.seed.extExpiresIn),
          ...(at.seed.refreshIn !== null ? { refresh_on: String(g.now + at.seed.refreshIn) } : {}),
        },
      ] as Entry,
      { kind: 'bearer' as const },
    );
  },
  refreshToken: (g, target) => [
    // MSAL Python's key_makers[RefreshToken]: [..., RefreshToken, client_id, "", target], lower-cased: the scopes are in the key.
    join(g.homeAccountId, g.env, 'RefreshToken', g.clientId, '', target).toLowerCase(),
    {
      credential_type: 'RefreshToken',
      secret: `rt.${g.nonce}`,
      home_account_id: g.homeAccountId,
      environment: g.env,
      client_id: g.clientId,
      target,
      // MSAL Python writes last_modification_time on refresh tokens.
      last_modification_time: String(g.now),
      ...(g.familyId !== undefined ? { family_id: g.familyId } : {}),
    },
  ],
  appMetadata: (clientId, env, familyId) => [
    // MSAL Python's key_makers[AppMetadata]: "appmetadata-{}-{}".format(environment, client_id), NOT lower-cased.
    `appmetadata-${env}-${clientId}`,
    { client_id: clientId, environment: env, ...(familyId !== undefined ? { family_id: familyId } : {}) },
  ],
};

const msal4j: Writer = {
  realmIsTid: false,
  // msal4j's TokenCache field order (Jackson): AccessToken, RefreshToken, IdToken, Account, AppMetadata.
  sections: ['AccessToken', 'RefreshToken', 'IdToken', 'Account', 'AppMetadata'],
  // msal4j caches under instance discovery's preferredCache, login.windows.net for Entra.
  environment: 'login.windows.net',
  // msal4j's Jackson writeValueAsString: compact.
  indent: 0,
  // msal4j's saveTokens writes AppMetadata only with a family id.
  appMetadataAlways: false,
  // msal4j's realm is TokenRequestExecutor.tenant: the authority's tenant segment, as MSAL Python.
  atRealm: (g, other) => (other ? g.otherRealm : g.authorityRealm),
  account: (g) => [
    // msal4j's AccountCacheEntity.getKey: [homeAccountId, environment, realm], lower-cased.
    join(g.homeAccountId, g.env, g.authorityRealm).toLowerCase(),
    {
      home_account_id: g.homeAccountId,
      environment: g.env,
      realm: g.authorityRealm,
      local_account_id: g.oid,
      username: g.username,
      name: g.name,
      client_info: g.clientInfo,
      authority_type: 'MSSTS',
    },
  ],
  idToken: (g) => [
    // msal4j's IdTokenCacheEntity.getKey: [..., IdToken, clientId, realm, ""], lower-cased.
    join(g.homeAccountId, g.env, 'IdToken', g.clientId, g.authorityRealm, '').toLowerCase(),
    { home_account_id: g.homeAccountId, environment: g.env, client_id: g.clientId, secret: g.idToken, credential_type: 'IdToken', realm: g.authorityRealm },
  ],
  accessToken: (g, at) => {
    const target = at.scopes.join(' ');
    return Object.assign(
      [
        // msal4j's AccessTokenCacheEntity.getKey: [..., AccessToken, clientId, realm, target], lower-cased.
        join(g.homeAccountId, g.env, 'AccessToken', g.clientId, at.realm, target).toLowerCase(),
        {
          home_account_id: g.homeAccountId,
          environment: g.env,
          client_id: g.clientId,
          secret: `at.${g.nonce}.${at.index}`,
          credential_type: 'AccessToken',
          realm: at.realm,
          target,
          cached_at: String(g.now),
          expires_on: String(g.now + at.seed.expiresIn),
          // msal4j writes extended_expires_on / refresh_on only when positive (Jackson NON_NULL).
          ...(at.seed.extExpiresIn > 0 ? { extended_expires_on: String(g.now + at.seed.extExpiresIn) } : {}),
          ...(at.seed.refreshIn !== null ? { refresh_on: String(g.now + at.seed.refreshIn) } : {}),
        },
      ] as Entry,
      { kind: 'bearer' as const },
    );
  },
  refreshToken: (g) => [
    // msal4j's RefreshTokenCacheEntity.getKey: [..., RefreshToken, family_id or clientId, "", ""], lower-cased.
    join(g.homeAccountId, g.env, 'RefreshToken', g.familyId ?? g.clientId, '', '').toLowerCase(),
    {
      home_account_id: g.homeAccountId,
      environment: g.env,
      client_id: g.clientId,
      secret: `rt.${g.nonce}`,
      credential_type: 'RefreshToken',
      ...(g.familyId !== undefined ? { family_id: g.familyId } : {}),
    },
  ],
  appMetadata: (clientId, env, familyId) => [
    // msal4j's AppMetadataCacheEntity.getKey: appmetadata-<environment>-<clientId>, lower-cased.
    join('appmetadata', env, clientId).toLowerCase(),
    { client_id: clientId, environment: env, family_id: familyId },
  ],
};

const WRITERS: Record<Dialect, Writer> = { 'msal-node': msalNode, 'msal-dotnet': msalDotnet, 'msal-python': msalPython, msal4j };

// ---------------------------------------------------------------------------------------------
// Building one blob
// ---------------------------------------------------------------------------------------------

/** The top-level object, in insertion order, refusing a key written twice (a generator bug). */
class BlobBuilder {
  readonly root: Record<string, unknown> = {};
  /** Entries written on behalf of an account, per lower-cased homeAccountId. */
  readonly owned = new Map<string, EntryRef[]>();

  section(name: string): Record<string, unknown> {
    const existing = this.root[name];
    if (isObject(existing)) return existing;
    const created: Record<string, unknown> = {};
    this.root[name] = created;
    return created;
  }

  put(section: string, key: string, value: unknown, owner?: string): EntryRef {
    const entries = this.section(section);
    if (Object.hasOwn(entries, key)) throw new Error(`msal-dialects: generated the key ${section}/${key} twice`);
    entries[key] = value;
    const ref = { section, key };
    if (owner !== undefined) {
      const list = this.owned.get(owner.toLowerCase()) ?? [];
      list.push(ref);
      this.owned.set(owner.toLowerCase(), list);
    }
    return ref;
  }
}

interface PlannedAccount {
  seed: AccountSeed;
  uid: string;
  utid: string;
  homeAccountId: string;
  contains?: string;
  environments: string[];
}

function planAccounts(dialect: Dialect, seed: CacheSeed, environment: string): { planned: PlannedAccount[]; contained?: CacheToggles['containedId'] } {
  const planned: PlannedAccount[] = seed.accounts.map((a) => {
    // MSAL.NET keeps client_info's uid as sent, so its home_account_id can have upper-case hex letters.
    const uid = dialect === 'msal-dotnet' && a.upperUid ? a.uid.toUpperCase() : a.uid;
    return { seed: a, uid, utid: a.utid, homeAccountId: `${uid}.${a.utid}`, environments: [environment] };
  });
  let contained: CacheToggles['containedId'];
  const inner = planned[0];
  const outer = planned[planned.length - 1];
  if (seed.contained && inner && outer && outer !== inner) {
    // Two real GUIDs cannot contain one another, so one part is longer: `<hex><uid>.<utid>` or `<uid>.<utid><hex>`.
    if (seed.contained.form === 'prefix') outer.uid = `${seed.contained.hex}${inner.uid}`;
    else outer.uid = inner.uid;
    outer.utid = seed.contained.form === 'suffix' ? `${inner.utid}${seed.contained.hex}` : inner.utid;
    outer.homeAccountId = `${outer.uid}.${outer.utid}`;
    outer.contains = inner.homeAccountId;
    contained = { outer: outer.homeAccountId, inner: inner.homeAccountId, form: seed.contained.form };
  }
  if (seed.secondAlias) {
    const target = planned[seed.secondAlias.account % planned.length]!;
    const others = ENTRA_ALIASES.filter((a) => a !== environment);
    target.environments.push(others[seed.secondAlias.alias % others.length]!);
  }
  return { planned, contained };
}

function buildCache(dialect: Dialect, seed: CacheSeed): GeneratedCache {
  const w = WRITERS[dialect];
  const environment = seed.environment ?? w.environment;
  // Entra's app ids are lower-case GUIDs, but apps configure them as they like and MSAL keeps client_id as configured.
  const clientId = seed.upperClientId ? seed.clientId.toUpperCase() : seed.clientId;
  // FOCI: Microsoft's family of client ids, family "1".
  const familyId = seed.familyId ? '1' : undefined;
  const { planned, contained } = planAccounts(dialect, seed, environment);

  const b = new BlobBuilder();
  for (const name of w.sections) b.section(name);
  const toggles: CacheToggles = { dotnetSpecialAccessTokens: [], indent: w.indent };
  if (familyId !== undefined) toggles.familyId = familyId;
  if (contained) toggles.containedId = contained;

  const grants: Grant[] = [];
  const environments = new Set<string>();
  for (const p of planned) {
    const a = p.seed;
    const tid = a.guest?.tid ?? p.utid;
    const oid = a.guest?.oid ?? p.uid;
    const authorityRealm = seed.authorityTenant === 'tenanted' ? tid : seed.authorityTenant;
    const username = `${a.name.toLowerCase().replace(/ /g, '.')}.${p.uid.slice(-4).toLowerCase()}@contoso.example`;
    const idTokenClaims = {
      aud: clientId,
      iss: `https://login.microsoftonline.com/${tid}/v2.0`,
      iat: seed.now,
      nbf: seed.now,
      exp: seed.now + 3600,
      name: a.name,
      oid,
      preferred_username: username,
      sub: `pairwise-${a.nonce}`,
      tid,
      ver: '2.0',
    };
    p.environments.forEach((env, envIndex) => {
      environments.add(env);
      grants.push({
        clientId,
        env,
        homeAccountId: p.homeAccountId,
        uid: p.uid,
        utid: p.utid,
        tid,
        oid,
        name: a.name,
        username,
        clientInfo: b64url({ uid: p.uid, utid: p.utid }),
        idToken: `${b64url({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64url(idTokenClaims)}.c2lnbmF0dXJl`,
        authorityRealm,
        // Another tenant's token: for the tid-realm libraries another GUID; for the authority-realm ones the user's tid (or organizations).
        otherRealm: w.realmIsTid ? a.otherTenant : authorityRealm === tid ? 'organizations' : tid,
        familyId,
        now: seed.now,
        nonce: `${a.nonce}.${envIndex}`,
      });
    });
  }

  // Entries in the library's section order; within a section, account by account.
  const perGrant = grants.map((g) => {
    const seedOf = planned.find((p) => p.homeAccountId === g.homeAccountId)!.seed;
    const primary = g.env === planned.find((p) => p.homeAccountId === g.homeAccountId)!.environments[0];
    // Under a second alias, one access token only: the app's one request through that host.
    const atSeeds = primary ? seedOf.accessTokens : seedOf.accessTokens.slice(0, 1);
    const seen = new Set<string>();
    const accessTokens: (Entry & { kind: AtKind })[] = [];
    atSeeds.forEach((s, index) => {
      const scopes = s.kind === 'ssh-cert' ? [SSH_SCOPE] : s.scopes;
      const entry = w.accessToken(g, { seed: s, realm: w.atRealm(g, s.otherRealm), scopes, index });
      // Two draws that come to the same key are one token, as the library would overwrite it.
      if (!seen.has(entry[0])) {
        seen.add(entry[0]);
        accessTokens.push(entry);
      }
    });
    // MSAL Python keys its refresh token by the target of the response that brought it: the first token's.
    const firstTarget = String(accessTokens[0]?.[1].target ?? '');
    return { g, accessTokens, firstTarget };
  });

  for (const section of w.sections) {
    if (section === 'AppMetadata') continue;
    for (const { g, accessTokens, firstTarget } of perGrant) {
      if (section === 'Account') b.put(section, ...w.account(g), g.homeAccountId);
      if (section === 'IdToken') b.put(section, ...w.idToken(g), g.homeAccountId);
      if (section === 'RefreshToken') b.put(section, ...w.refreshToken(g, firstTarget), g.homeAccountId);
      if (section === 'AccessToken')
        for (const entry of accessTokens) {
          const ref = b.put(section, entry[0], entry[1], g.homeAccountId);
          if (entry.kind !== 'bearer') toggles.dotnetSpecialAccessTokens.push({ ...ref, kind: entry.kind as 'pop' | 'ssh-cert' | 'ext' });
        }
    }
  }
  if (w.appMetadataAlways || familyId !== undefined) for (const env of environments) b.put('AppMetadata', ...w.appMetadata(clientId, env, familyId));

  const twoAliases = planned.find((p) => p.environments.length > 1);
  if (twoAliases) toggles.twoAliases = { homeAccountId: twoAliases.homeAccountId, environments: [twoAliases.environments[0]!, twoAliases.environments[1]!] };

  // An entry of a credential type none of these libraries reads, in a known section, belonging to an account.
  if (seed.unknownCredentialType) {
    const p = planned[seed.unknownCredentialType.account % planned.length]!;
    const g = grants.find((x) => x.homeAccountId === p.homeAccountId)!;
    const section = seed.unknownCredentialType.section;
    const credentialType = UNKNOWN_CREDENTIAL_TYPES[section];
    const realm = section === 'RefreshToken' ? '' : w.atRealm(g, false);
    const target = section === 'AccessToken' ? SCOPES[0]! : '';
    const key = join(g.homeAccountId, g.env, credentialType, clientId, realm, target).toLowerCase();
    const ref = b.put(section, key, { home_account_id: g.homeAccountId, environment: g.env, credential_type: credentialType, client_id: clientId, secret: `x.${g.nonce}`, realm, target }, g.homeAccountId);
    toggles.unknownCredentialType = { ...ref, credentialType, homeAccountId: g.homeAccountId };
  }

  // An unknown top-level section of entries, some an account's (by home_account_id, by key, or both), some no one's.
  if (seed.unknownSection) {
    const name = seed.unknownSection.name;
    const keys: string[] = [];
    const owned: string[] = [];
    seed.unknownSection.entries.forEach((e, i) => {
      const p = e.owner === null ? undefined : planned[e.owner % planned.length];
      const value: Record<string, unknown> = { environment: environment, client_id: clientId, kind: 'signal', value: `v${i}` };
      let key = `${name.toLowerCase()}-${i}-${clientId.toLowerCase()}`;
      if (p) {
        // "any letter case": the owner field sometimes in the other case than the Account entry's.
        if (e.by !== 'key') value.home_account_id = e.flipCase ? flipCase(p.homeAccountId) : p.homeAccountId;
        if (e.by !== 'field') key = join(e.flipCase ? p.homeAccountId.toUpperCase() : p.homeAccountId.toLowerCase(), environment, name.toLowerCase(), String(i));
      }
      b.put(name, key, value, p?.homeAccountId);
      keys.push(key);
      if (p) owned.push(key);
    });
    toggles.unknownSection = { name, keys, owned };
  }

  // One malformed entry that belongs to no account: in a known section, or in the unknown one.
  if (seed.malformed) {
    const sections = toggles.unknownSection ? [...MALFORMED_SECTIONS, toggles.unknownSection.name] : MALFORMED_SECTIONS;
    const section = sections[seed.malformed.section % sections.length]!;
    // A user of the same tenant that no generated account is.
    const stranger = `${seed.stranger}.${planned[0]!.utid}`;
    const key = section === 'AppMetadata' ? `appmetadata-${environment}-${seed.stranger}` : join(stranger, environment, section.toLowerCase(), 'broken');
    const kind = seed.malformed.kind;
    const value =
      kind === 'null'
        ? null
        : kind === 'string'
          ? 'not an entry'
          : kind === 'number'
            ? 42
            : // An object missing the fields that say whose and what it is.
              section === 'Account' || section === 'AppMetadata'
              ? { environment }
              : { environment, credential_type: section, secret: 'orphan' };
    b.put(section, key, value);
    toggles.malformed = { section, key, kind };
  }

  // An unknown top-level member that is not an object, somewhere among the sections.
  let root = b.root;
  if (seed.unknownMember) {
    const entries = Object.entries(root);
    entries.splice(seed.unknownMember.position % (entries.length + 1), 0, [seed.unknownMember.name, seed.unknownMember.value]);
    root = Object.fromEntries(entries);
    toggles.unknownMember = { name: seed.unknownMember.name, value: seed.unknownMember.value };
  }

  // Each library's own formatting; sometimes (not MSAL Python, whose serialize always indents by 4)
  // pretty-printed by 2, as an app or a tool that rewrites the blob may leave it.
  const indent: 0 | 2 | 4 = w.indent === 0 && seed.prettyPrinted ? 2 : w.indent;
  toggles.indent = indent;
  const blob = indent === 0 ? JSON.stringify(root) : JSON.stringify(root, null, indent);

  const accounts: GeneratedAccount[] = planned.map((p) => ({
    homeAccountId: p.homeAccountId,
    environments: [...p.environments],
    uid: p.uid,
    utid: p.utid,
    ...(p.contains !== undefined ? { contains: p.contains } : {}),
  }));

  // keysByAccount by the rule, checked against what was written on each account's behalf.
  const parsed: unknown = JSON.parse(blob);
  const keysByAccount: Record<string, EntryRef[]> = {};
  for (const account of accounts) {
    const id = account.homeAccountId.toLowerCase();
    const byRule = entriesOf(parsed, account.homeAccountId);
    const written = b.owned.get(id) ?? [];
    const sig = (refs: EntryRef[]) =>
      refs
        .map((r) => `${r.section}\u0000${r.key}`)
        .sort()
        .join('\u0001');
    if (sig(byRule) !== sig(written)) throw new Error(`msal-dialects: the rule and the generator disagree on ${account.homeAccountId}'s entries`);
    keysByAccount[id] = byRule;
  }

  const msalNodeDeserializeThrows = toggles.malformed?.kind === 'null' && (KNOWN_SECTIONS as readonly string[]).includes(toggles.malformed.section);
  return { dialect, blob, accounts, keysByAccount, clientId, toggles, msalNodeDeserializeThrows };
}

/**
 * Serialized MSAL token caches of one library's dialect: 1–4 accounts (by default), each with an
 * Account entry, an IdToken, one or more AccessTokens and a RefreshToken per environment, plus the
 * drawn {@link CacheToggles}.
 */
export function cacheArbitrary(dialect: Dialect, options: { minAccounts?: number; maxAccounts?: number } = {}): fc.Arbitrary<GeneratedCache> {
  const minAccounts = Math.max(1, options.minAccounts ?? 1);
  const maxAccounts = Math.max(minAccounts, options.maxAccounts ?? 4);
  return cacheSeed(dialect, minAccounts, maxAccounts).map((seed) => buildCache(dialect, seed));
}
