import { Type } from 'typebox';

/** A registered app as GET /v1/apps lists it: no secrets, no store location. */
export const App = Type.Object({
  clientId: Type.String(),
  name: Type.String(),
  issuers: Type.Array(Type.String()),
  tokenCache: Type.Object({ kind: Type.String(), key: Type.String() }),
});
