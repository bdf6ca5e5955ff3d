import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/core/verify-logout-token.js';

/**
 * A stand-in OpenID Provider for tests: a real RS256 key pair, its JWKS served over HTTP on
 * 127.0.0.1 (port 0), and real signed logout tokens. Counts JWKS fetches.
 */
export class TestProvider {
  jwksFetches = 0;
  private constructor(
    readonly server: Server,
    readonly jwksUri: string,
    readonly privateKey: CryptoKey,
    readonly kid: string,
    readonly publicJwk: JWK,
  ) {}

  static async start(): Promise<TestProvider> {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    let provider: TestProvider | undefined;
    const server = createServer((req, res) => {
      if (provider) provider.jwksFetches++;
      if (req.url !== '/jwks') {
        res.writeHead(404).end();
        return;
      }
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: provider?.extraKeys.concat([publicJwk]) ?? [] }));
      if (provider?.jwksDelayMs) setTimeout(answer, provider.jwksDelayMs);
      else answer();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    provider = new TestProvider(server, `http://127.0.0.1:${port}/jwks`, privateKey, kid, publicJwk);
    return provider;
  }

  /** A slow provider: how long the JWKS takes to answer. */
  jwksDelayMs = 0;

  /** Other keys published beside ours (e.g. a key of another type). */
  extraKeys: JWK[] = [];

  /** Claims of a valid logout token for `aud`, to be overridden per test. */
  claims(iss: string, aud: string | string[], extra: JWTPayload = {}): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss,
      aud,
      iat: now,
      exp: now + 120,
      jti: randomUUID(),
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      sid: `sid-${randomUUID()}`,
      ...extra,
    };
  }

  /** Signs `claims` as a JWS with our key; `header` adds to or overrides the protected header. */
  async sign(claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: this.kid, typ: 'logout+jwt', ...header } as { alg: string }).sign(this.privateKey);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
