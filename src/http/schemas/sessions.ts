import { Type } from 'typebox';
import { Printable, Text } from './common.js';

export const SessionInput = Type.Object(
  {
    clientId: Printable(128),
    issuer: Text(2048),
    sid: Type.Optional(Text(1024)),
    sub: Text(1024),
    homeAccountId: Printable(512),
    cacheKey: Type.Optional(Printable(512)),
    /** The app's own web-session id (checked by the web-session rules: a plain value, never a pattern). */
    webSessionKey: Type.Optional(Type.String({ maxLength: 4096 })),
    /** Spring Session's principal name, for its index. */
    principal: Type.Optional(Type.String({ maxLength: 4096 })),
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
  /** A web-session key was registered (the key itself is never returned). */
  webSession: Type.Optional(Type.Boolean()),
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
