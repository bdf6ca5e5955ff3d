/**
 * The benchmark's OpenID Provider: an RSA key, its discovery document and JWKS on a plain-http loopback
 * issuer (so express-openid-connect, which discovers, and our service, which is given the jwks_uri, see
 * the same issuer), and RS256 logout tokens signed on libuv's thread pool.
 */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, type JWK } from 'jose';

export interface Provider {
  /** `http://127.0.0.1:<port>`, no trailing slash: the tokens' `iss` and the discovery document's `issuer`. */
  issuer: string;
  jwksUri: string;
  jwk: JWK;
  /** Distinct logout tokens (fresh `jti` each) for the given audience, one per `sid`. */
  tokens(audience: string, sids: string[]): Promise<string[]>;
  close(): void;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export async function startProvider(): Promise<Provider> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
  let issuer = '';
  const server: Server = createServer((req, res) => {
    const json = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/jwks') return json({ keys: [jwk] });
    if (req.url === '/.well-known/openid-configuration')
      return json({
        issuer,
        jwks_uri: `${issuer}/jwks`,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        end_session_endpoint: `${issuer}/logout`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
      });
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const header = b64({ alg: 'RS256', kid: 'bench', typ: 'logout+jwt' });
  const one = (aud: string, sid: string): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: issuer, aud, iat: now, exp: now + 3600, jti: randomUUID(), sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } };
    const input = `${header}.${b64(claims)}`;
    return new Promise((resolve, reject) => sign('sha256', Buffer.from(input), privateKey, (err, sig) => (err ? reject(err) : resolve(`${input}.${sig.toString('base64url')}`))));
  };
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    jwk,
    async tokens(audience, sids) {
      const out: string[] = [];
      for (let i = 0; i < sids.length; i += 256) out.push(...(await Promise.all(sids.slice(i, i + 256).map((sid) => one(audience, sid)))));
      return out;
    },
    close: () => server.close(),
  };
}
