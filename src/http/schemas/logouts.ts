import { Type } from 'typebox';
import { Printable, Text } from './common.js';

/** `{issuer, sid}`, `{issuer, sub}` or `{homeAccountId}` (core/logout-target.ts says which). */
export const LogoutInput = Type.Object(
  {
    issuer: Type.Optional(Text(2048)),
    sid: Type.Optional(Text(1024)),
    sub: Type.Optional(Text(1024)),
    homeAccountId: Type.Optional(Printable(512)),
  },
  { additionalProperties: false },
);

export const LogoutQuery = Type.Object({ issuer: Type.Optional(Text(2048)), sid: Type.Optional(Text(1024)), sub: Type.Optional(Text(1024)) }, { additionalProperties: false });

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

/** An app's web session ended; what ending it again needs (its key) is the journal's alone, never shown. */
const WebSessionEnding = Type.Object({
  clientId: Type.String(),
  app: Type.String(),
  kind: Type.String(),
  outcome: Type.String(),
  detail: Type.Optional(Type.String()),
  attempts: Type.Optional(Type.Integer()),
});

/** What a logout did (POST /v1/logouts, GET /v1/logouts…): answers are serialized by it, so a report field missing here is left out. */
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
  webSessions: Type.Optional(Type.Array(WebSessionEnding)),
  firstPassAt: Type.Optional(Type.String()),
  secondPass: Type.Optional(Type.Object({ dueAt: Type.String(), at: Type.Optional(Type.String()), removals: Type.Array(Removal), webSessions: Type.Optional(Type.Array(WebSessionEnding)) })),
  lastError: Type.Optional(Type.String()),
});
