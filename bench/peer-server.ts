/**
 * The peer: express-openid-connect 3.x (Express 5) with its back-channel logout route,
 * `POST /backchannel-logout`, which answers 204 once a logout token is verified and recorded.
 *
 * Env: BENCH_ISSUER_URL — the issuer's base URL on loopback, plain http (the library then allows insecure
 * requests). It must serve /.well-known/openid-configuration, whose `issuer` is the same URL (a trailing
 * slash after a bare origin does not matter for discovery), plus `jwks_uri`. Tokens must carry that
 * document's `issuer` string, exactly, as `iss`. BENCH_CLIENT_ID — the tokens' `aud`. PORT — 0 for any.
 *
 * The library discovers the issuer on the first request, not at start-up; a warm-up request below makes
 * that happen before "listening on" is printed, and a broken issuer stops the process instead of turning
 * every measured request into a fast 400. The JWKS is fetched on the first valid token.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { auth, type ConfigParams } from 'express-openid-connect';

type Store = NonNullable<Exclude<ConfigParams['backchannelLogout'], boolean | undefined>['store']>;
type Entry = Parameters<Store['set']>[1];

/**
 * An in-memory logout store of the express-session kind the library expects: get/set/destroy with
 * callbacks. It holds one entry per logged-out `iss|sid` (and `iss|sub`); expired entries read as absent.
 */
class MemoryStore implements Store {
  readonly entries = new Map<string, Entry>();
  get(key: string, callback: (err: unknown, entry?: Entry | null) => void): void {
    const entry = this.entries.get(key);
    callback(null, entry && entry.cookie.expires > Date.now() ? entry : null);
  }
  set(key: string, entry: Entry, callback?: (err?: unknown) => void): void {
    this.entries.set(key, entry);
    callback?.();
  }
  destroy(key: string, callback?: (err?: unknown) => void): void {
    this.entries.delete(key);
    callback?.();
  }
}

// Listen first: baseURL needs the port, which PORT=0 leaves to the system.
const app = express();
const server = createServer(app);
await new Promise<void>((resolve, reject) => server.once('error', reject).listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

app.use(
  auth({
    issuerBaseURL: process.env.BENCH_ISSUER_URL!,
    baseURL: url,
    clientID: process.env.BENCH_CLIENT_ID!,
    clientSecret: 'unused-bench-client-secret', // the code flow requires one; never sent here
    secret: 'bench-peer-cookie-secret-at-least-32-characters-long',
    authRequired: false,
    authorizationParams: { response_type: 'code' },
    backchannelLogout: { store: new MemoryStore() },
  }),
);

// Warm-up: a malformed token gets past discovery and fails in jose ("Invalid Compact JWS"); any other
// answer means discovery failed (unreachable issuer, `issuer` mismatch, …).
const warmUp = await fetch(`${url}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'logout_token=warm-up' });
const { error_description: why } = (await warmUp.json().catch(() => ({}))) as { error_description?: string };
if (why !== 'Invalid Compact JWS') {
  process.stderr.write(`peer-server: issuer discovery failed: ${warmUp.status} ${why ?? ''}\n`);
  process.exit(1);
}

process.stdout.write(`listening on ${url}\n`);
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
