import { Type } from 'typebox';

/** `?iss=<issuer>&sid=<sid>` (the spec form) or `?sid=<sid>` (Entra's, the issuer in the path). */
export const FrontchannelQuery = Type.Object({ iss: Type.Optional(Type.String({ maxLength: 2048 })), sid: Type.Optional(Type.String({ maxLength: 1024 })) });

export const IssuerNameParam = Type.Object({ issuerName: Type.String({ maxLength: 64 }) });
