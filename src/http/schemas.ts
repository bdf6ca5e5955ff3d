import { Type } from 'typebox';

/** The one error body every route answers with. */
export const ErrorBody = Type.Object({ error: Type.String(), error_description: Type.String() });

const Printable = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[^\\s\\x00-\\x1f\\x7f]+$' });
const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[^\\x00-\\x1f\\x7f]+$' });

export const SessionInput = Type.Object(
  {
    clientId: Printable(128),
    issuer: Text(2048),
    sid: Type.Optional(Text(1024)),
    sub: Text(1024),
    homeAccountId: Printable(512),
    cacheKey: Type.Optional(Printable(512)),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
    /** The ID token of the sign-in (required by apps with requireIdToken): proves who signed in. */
    idToken: Type.Optional(Type.String({ minLength: 1, maxLength: 16384, pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$' })),
  },
  { additionalProperties: false },
);

export const Session = Type.Object({
  id: Type.String(),
  clientId: Type.String(),
  issuer: Type.String(),
  sid: Type.Optional(Type.String()),
  sub: Type.String(),
  homeAccountId: Type.String(),
  cacheKey: Type.Optional(Type.String()),
  createdAt: Type.String(),
  expiresAt: Type.String(),
});

export const SessionQuery = Type.Object(
  {
    issuer: Type.Optional(Text(2048)),
    sid: Type.Optional(Text(1024)),
    sub: Type.Optional(Text(1024)),
    homeAccountId: Type.Optional(Printable(512)),
  },
  { additionalProperties: false },
);

export const LogoutInput = Type.Object(
  {
    issuer: Type.Optional(Text(2048)),
    sid: Type.Optional(Text(1024)),
    sub: Type.Optional(Text(1024)),
    homeAccountId: Type.Optional(Printable(512)),
  },
  { additionalProperties: false },
);

export const LogoutQuery = Type.Object(
  { issuer: Type.Optional(Text(2048)), sid: Type.Optional(Text(1024)), sub: Type.Optional(Text(1024)) },
  { additionalProperties: false },
);

export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) });

const Target = Type.Object({
  kind: Type.String(),
  issuer: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  homeAccountId: Type.Optional(Type.String()),
});

const Removal = Type.Object({
  clientId: Type.String(),
  app: Type.String(),
  homeAccountId: Type.String(),
  partitionKey: Type.Optional(Type.String()),
  outcome: Type.String(),
  detail: Type.Optional(Type.String()),
  removedEntries: Type.Optional(Type.Integer()),
  partitionDeleted: Type.Optional(Type.Boolean()),
  attempts: Type.Optional(Type.Integer()),
});

export const LogoutReport = Type.Object({
  id: Type.String(),
  state: Type.String(),
  channel: Type.String(),
  target: Target,
  receivedAt: Type.String(),
  completedAt: Type.Optional(Type.String()),
  attempts: Type.Integer(),
  sessionsEnded: Type.Integer(),
  sessionIds: Type.Array(Type.String()),
  accounts: Type.Array(Type.String()),
  removals: Type.Array(Removal),
  firstPassAt: Type.Optional(Type.String()),
  secondPass: Type.Optional(Type.Object({ dueAt: Type.String(), at: Type.Optional(Type.String()), removals: Type.Array(Removal) })),
  lastError: Type.Optional(Type.String()),
});

export const App = Type.Object({
  clientId: Type.String(),
  name: Type.String(),
  issuers: Type.Array(Type.String()),
  tokenCache: Type.Object({ kind: Type.String(), key: Type.String() }),
});
