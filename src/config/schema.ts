import { Type, type Static } from 'typebox';
import { ROLES } from '../core/roles.js';

/** Asymmetric JWS algorithms only: `none` and HMAC can never verify a provider's token. */
export const SIGNING_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

export const API_SCOPES = ['sessions:write', 'logouts:write', 'read'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** A string that is one of `values` (one schema keyword, so errors read "must be equal to one of the allowed values"). */
const OneOf = <T extends string>(values: readonly T[]) => Type.Unsafe<T>({ type: 'string', enum: [...values] });

const NonEmpty = Type.String({ minLength: 1, maxLength: 2048 });
const Strict = { additionalProperties: false } as const;

const IssuerSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    issuer: NonEmpty,
    tenants: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9._-]{1,128}$' }))),
    jwksUri: Type.Optional(NonEmpty),
    discoveryUrl: Type.Optional(NonEmpty),
    algorithms: Type.Optional(Type.Array(OneOf(SIGNING_ALGORITHMS), { minItems: 1 })),
    frontchannelOrigins: Type.Optional(Type.Array(NonEmpty)),
    requireTyp: Type.Optional(Type.Boolean()),
    maxTokenAgeSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 7 * 24 * 3600 })),
  },
  Strict,
);

/**
 * `tokenCache` and `store` as written: an object with a `kind`. Each kind's own settings (token-caches/kinds.ts,
 * stores/kinds.ts) are checked once the kind is known, so that a mistake names the setting of that kind.
 */
export type KindSettingsFile = { kind?: string; key?: string } & Record<string, unknown>;
const KindSettings = Type.Unsafe<KindSettingsFile>({ type: 'object' });
const TokenCacheSchema = KindSettings;

const AppSchema = Type.Object(
  {
    clientId: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' }),
    name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
    issuers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    tokenCache: TokenCacheSchema,
    // One or a list, checked when resolved (a mistake then names the entry).
    webSession: Type.Optional(Type.Unsafe<KindSettingsFile | KindSettingsFile[]>({})),
    requireIdToken: Type.Optional(Type.Boolean()),
  },
  Strict,
);

const ApiKeySchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
    sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }),
    scopes: Type.Array(OneOf(API_SCOPES), { minItems: 1 }),
    /** The apps (by name) whose sessions the key may register, list, read and delete; "*" for all. */
    apps: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }))),
  },
  Strict,
);

const StoreSchema = KindSettings;

export const ConfigSchema = Type.Object(
  {
    server: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(NonEmpty),
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          managementPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          shutdownDelaySeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 120 })),
          // Checked in load.ts, so that `true` and hop counts are refused with why.
          trustProxy: Type.Optional(Type.Unknown()),
        },
        Strict,
      ),
    ),
    logLevel: Type.Optional(OneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const)),
    logClientAddresses: Type.Optional(Type.Boolean()),
    role: Type.Optional(OneOf(ROLES)),
    store: Type.Optional(StoreSchema),
    clockSkewSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600 })),
    retention: Type.Optional(
      Type.Object(
        {
          sessionSeconds: Type.Optional(Type.Integer({ minimum: 60 })),
          loggedOutMarkerSeconds: Type.Optional(Type.Integer({ minimum: 60 })),
          unmatchedMarkerSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400 })),
          logoutReportSeconds: Type.Optional(Type.Integer({ minimum: 60 })),
          secondPassSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 })),
        },
        Strict,
      ),
    ),
    retry: Type.Optional(
      Type.Object(
        {
          baseDelaySeconds: Type.Optional(Type.Number({ minimum: 0.01, maximum: 3600 })),
          maxDelaySeconds: Type.Optional(Type.Number({ minimum: 0.01, maximum: 86400 })),
          maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
          leaseSeconds: Type.Optional(Type.Number({ minimum: 0.5, maximum: 3600 })),
        },
        Strict,
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        {
          publicRequestsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          apiRequestsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          failedAuthenticationsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          headersTimeoutSeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 300 })),
          requestTimeoutSeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 600 })),
        },
        Strict,
      ),
    ),
    issuers: Type.Array(IssuerSchema),
    apps: Type.Array(AppSchema),
    api: Type.Optional(
      Type.Object(
        {
          keys: Type.Optional(Type.Array(ApiKeySchema)),
          entra: Type.Optional(
            Type.Object(
              {
                tenants: Type.Array(Type.String({ pattern: '^[0-9a-fA-F-]{36}$' }), { minItems: 1 }),
                audience: Type.Union([NonEmpty, Type.Array(NonEmpty, { minItems: 1 })]),
                jwksUri: Type.Optional(NonEmpty),
                roles: Type.Object({ 'sessions:write': Type.Optional(NonEmpty), 'logouts:write': Type.Optional(NonEmpty), read: Type.Optional(NonEmpty) }, Strict),
                // A plain client id is bound to every app; {id, apps} to those apps.
                clients: Type.Optional(Type.Array(Type.Union([NonEmpty, Type.Object({ id: NonEmpty, apps: Type.Array(Type.String({ minLength: 1, maxLength: 64 })) }, Strict)]), { minItems: 1 })),
              },
              Strict,
            ),
          ),
        },
        Strict,
      ),
    ),
  },
  Strict,
);

/** The configuration file as written. */
export type ConfigFile = Static<typeof ConfigSchema>;
