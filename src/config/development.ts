import type { ConfigFile } from './schema.js';

/** The key of the built-in development configuration; served on loopback only. */
export const DEVELOPMENT_API_KEY = 'dev-only-key';
const DEVELOPMENT_API_KEY_SHA256 = 'b252a5182b56e1d178b5d2d64eee6e43342ace141fdb3916ea6841fa172e1496';

/** The configuration `npm start` uses when no file is given: memory only, loopback only. */
export function developmentConfigFile(): ConfigFile {
  return {
    store: { kind: 'memory' },
    issuers: [
      {
        name: 'demo',
        issuer: 'http://localhost:8080/demo-issuer',
        jwksUri: 'http://127.0.0.1:8080/demo-issuer/jwks',
        frontchannelOrigins: ['http://localhost:8080'],
      },
    ],
    apps: [
      {
        clientId: '00000000-0000-4000-8000-000000000001',
        name: 'demo-web',
        issuers: ['demo'],
        tokenCache: { kind: 'memory' },
      },
    ],
    api: { keys: [{ name: 'development', sha256: DEVELOPMENT_API_KEY_SHA256, scopes: ['sessions:write', 'logouts:write', 'read'], apps: ['*'] }] },
  };
}
