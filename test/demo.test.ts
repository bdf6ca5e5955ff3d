import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const root = new URL('..', import.meta.url).pathname;

t.test('npm run demo signs two users in, logs one out at the provider, and shows her gone from both caches', async (t) => {
  const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'demo'], { cwd: root, timeout: 60_000 });
  t.match(stdout, /alice → orders-web: ID token sub=alice sid=/);
  t.match(stdout, /provider → POST \/logout\/backchannel for orders-web: accepted \(200\)/);
  t.match(stdout, /provider → POST \/logout\/backchannel for billing-web: accepted \(200\)/);
  t.match(stdout, /before:\n\s+orders-web\s+accounts: alice, bob/);
  t.match(stdout, /after:\n\s+orders-web\s+accounts: bob\s/);
  t.match(stdout, /billing-web: acquireTokenSilent for alice → no account: she must sign in again/);
  t.notMatch(stdout, /oidc-provider (WARNING|NOTICE)/);
});
