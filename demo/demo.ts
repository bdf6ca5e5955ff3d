/**
 * npm run demo: a local OpenID Provider (panva's oidc-provider), the service on the memory store, and
 * two web apps whose msal-node token caches hold two users. Alice signs out at the provider; the
 * provider's back-channel logout tokens reach the service, which removes her from both apps' caches.
 */
import { randomUUID } from 'node:crypto';
import { resolveConfig } from '../src/config/load.js';
import { buildApp } from '../src/server.js';
import { sessionFromSignIn } from '../src/client/register-session.js';
import { createMemoryStores } from '../src/stores/memory.js';
import { MemoryTokenCacheStore } from '../src/token-caches/memory.js';
// The demo reuses the test suite's stand-ins: a cookie-jar "browser" and msal-node's network seam.
import { FakeEntra, MsalWebApp } from '../simulators/msal-app.js';
import { CookieBrowser, TestOpenIdProvider, endSession, signInWithProvider, type OpClient } from '../simulators/oidc-provider.js';
import { freePort } from '../test/helpers/redis.js';

const say = (line = '') => process.stdout.write(`${line}\n`);
// oidc-provider's development-mode notices (in-memory adapter, dev interactions) are noise here.
for (const level of ['info', 'warn'] as const) {
  const original = console[level];
  console[level] = (...args: unknown[]) => {
    if (!String(args[0]).includes('oidc-provider')) original(...args);
  };
}
const step = (n: number, text: string) => say(`\n${n}. ${text}`);

async function main(): Promise<void> {
  const servicePort = await freePort();
  const backchannel = `http://127.0.0.1:${servicePort}/logout/backchannel`;
  const clients: OpClient[] = [
    { client_id: 'orders-web', client_secret: 'demo-orders', redirect_uris: ['https://orders.example.test/cb'], backchannel_logout_uri: backchannel, backchannel_logout_session_required: true },
    { client_id: 'billing-web', client_secret: 'demo-billing', redirect_uris: ['https://billing.example.test/cb'], backchannel_logout_uri: backchannel, backchannel_logout_session_required: false },
  ];

  step(1, 'Starting an OpenID Provider (oidc-provider, back-channel logout enabled)');
  const op = await TestOpenIdProvider.start(() => clients);
  say(`   issuer ${op.issuer}`);
  for (const c of clients) say(`   client ${c.client_id}: backchannel_logout_uri ${c.backchannel_logout_uri}${c.backchannel_logout_session_required ? ' (session required: tokens carry sid)' : ' (tokens carry sub only)'}`);

  step(2, 'Starting logout-receiver on the memory store');
  const config = resolveConfig({
    issuers: [{ name: 'demo-op', issuer: op.issuer }],
    apps: clients.map((c) => ({ clientId: c.client_id, name: c.client_id, issuers: ['demo-op'], tokenCache: { kind: 'memory' as const, key: 'cache:{clientId}' } })),
    api: { keys: [] },
  });
  const caches = new Map(config.apps.map((a) => [a.clientId, new MemoryTokenCacheStore()]));
  const stores = createMemoryStores({ reportRetentionMs: 3_600_000 });
  const service = await buildApp({ config, stores, tokenCaches: caches, logger: false });
  await service.listen({ host: '127.0.0.1', port: servicePort });
  say(`   listening on http://127.0.0.1:${servicePort}; keys of ${op.issuer} from its discovery document`);

  const entra = new FakeEntra();
  const apps = clients.map((c) => new MsalWebApp(c.client_id, 'cache:{clientId}', caches.get(c.client_id)!, entra));
  const users = new Map<string, { browser: CookieBrowser; homeAccountId: string }>();

  step(3, 'Alice and Bob sign in to both apps (authorization code + PKCE at the provider)');
  for (const login of ['alice', 'bob']) {
    const browser = new CookieBrowser();
    const oid = randomUUID();
    let homeAccountId = '';
    for (const [i, client] of clients.entries()) {
      const user = await signInWithProvider(op, browser, client, login);
      // Each app's msal-node writes its token cache; then the app registers the session with the service.
      const result = await apps[i]!.signInResult({ oid, homeTenant: 'demo-tenant', name: login, sid: user.sid ?? '' });
      const registration = { ...sessionFromSignIn(client.client_id, result), issuer: user.iss, sub: user.sub, ...(user.sid ? { sid: user.sid } : {}) };
      if (!user.sid) delete registration.sid;
      await stores.sessions.add({ ...registration, expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
      homeAccountId = result.account!.homeAccountId;
      say(`   ${login} → ${client.client_id}: ID token sub=${user.sub}${user.sid ? ` sid=${user.sid.slice(0, 12)}…` : ' (no sid)'}; MSAL account ${homeAccountId.slice(0, 13)}…`);
    }
    users.set(login, { browser, homeAccountId });
  }

  const showCaches = async (title: string) => {
    say(`   ${title}`);
    for (const app of apps) {
      const accounts = await app.accounts('ignored');
      const names = accounts.map((a) => a.name).join(', ') || '(empty)';
      const blob = (await caches.get(app.clientId)!.get(`cache:${app.clientId}`)) ?? '';
      const tokens = ['AccessToken', 'RefreshToken', 'IdToken'].map((s) => `${Object.keys((JSON.parse(blob || '{}') as Record<string, object>)[s] ?? {}).length} ${s}`).join(', ');
      say(`     ${app.clientId.padEnd(12)} accounts: ${names.padEnd(12)} entries: ${tokens}`);
    }
  };
  step(4, "What each app's msal-node token cache holds");
  await showCaches('before:');

  step(5, 'Alice signs out at the provider (/session/end, "Yes, sign me out")');
  await endSession(op, users.get('alice')!.browser);
  for (const event of await op.backchannelEvents(2)) say(`   provider → POST /logout/backchannel for ${event.clientId}: ${event.ok ? 'accepted (200)' : `refused: ${event.error}`}`);
  // The back-channel answers once a logout is journaled and carries it out right after.
  await service.logouts.settled();

  step(6, "What each app's msal-node token cache holds now");
  await showCaches('after:');
  for (const app of apps) {
    const alice = (await app.accounts('ignored')).find((a) => a.name === 'alice');
    say(`   ${app.clientId}: acquireTokenSilent for alice → ${alice ? 'still works (unexpected!)' : 'no account: she must sign in again'}`);
  }
  say('\nDone.');
  await service.close();
  await op.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
