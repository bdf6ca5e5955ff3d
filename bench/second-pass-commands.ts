// Redis commands of a logout's first attempt and of its second pass, on a Redis of its own (INFO commandstats):
// `npx tsx bench/second-pass-commands.ts [logouts]`. Two apps, one partition per account each, nothing written back.
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { resolveConfig } from '../src/config/load.js';
import { LogoutService } from '../src/core/logout-service.js';
import { TokenCacheSweeper } from '../src/core/token-cache-sweeper.js';
import { CACHE_FORMATS } from '../src/cache-formats/formats.js';
import { createRedisStores } from '../src/stores/redis/store.js';
import { RedisTokenCacheStore } from '../src/token-caches/redis.js';
import { FakeEntra, MsalWebApp, RedisCacheClient } from '../simulators/msal-app.js';
import { freePort } from '../test/helpers/redis.js';
import { ISSUER, TENANT_A, testConfigFile } from '../test/helpers/service.js';

const N = Number(process.argv[2] ?? 200);
const port = await freePort();
const server = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const redis = new Redis({ port, host: '127.0.0.1' });
redis.on('error', () => {}); // until the server listens
await redis.ping();
const file = testConfigFile('https://idp.example.test/jwks');
const apps = resolveConfig(file).apps;
let clock = Date.now();
const now = () => clock;
const stores = createRedisStores(redis, { keyPrefix: 'lr:', reportRetentionMs: 86_400_000, now, ownsConnection: false });
const caches = apps.map((app) => {
  const client = new Redis({ port, host: '127.0.0.1' });
  return { app, redis: client, store: new RedisTokenCacheStore(client) };
});
const svc = new LogoutService({ stores, sweeper: new TokenCacheSweeper(caches, { formats: CACHE_FORMATS }), markerTtlMs: 3_600_000, unmatchedMarkerTtlMs: 600_000, clockSkewSeconds: 120, secondPassMs: 60_000, now });
const entra = new FakeEntra();
const webs = apps.map((a) => new MsalWebApp(a.clientId, a.tokenCache.key, new RedisCacheClient(redis), entra));
for (let i = 0; i < N; i++) {
  const user = { oid: `aaaaaaaa-0000-4000-8000-${String(i).padStart(12, '0')}`, homeTenant: TENANT_A, name: `u${i}`, sid: `s${i}` };
  for (const w of webs) await w.signIn(user);
  for (const a of apps) await svc.register({ clientId: a.clientId, issuer: ISSUER, sid: `s${i}`, sub: `u${i}`, homeAccountId: `${user.oid}.${TENANT_A}`, expiresAt: new Date(clock + 3_600_000).toISOString() });
}
async function counted(what: string, run: () => Promise<unknown>): Promise<void> {
  await redis.config('RESETSTAT');
  await run();
  const info = await redis.info('commandstats');
  const stats = [...info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map(([, cmd, calls]) => [cmd!, Number(calls)] as const).filter(([cmd]) => cmd !== 'info' && cmd !== 'config');
  const total = stats.reduce((n, [, c]) => n + c, 0);
  console.log(`${what}: ${(total / N).toFixed(1)} commands per logout as Redis counts them`, Object.fromEntries(stats.map(([c, n]) => [c, +(n / N).toFixed(2)])));
}
await counted('first attempt (logout by sid, 2 apps with one partition per account)', async () => {
  for (let i = 0; i < N; i++) await svc.logout({ channel: 'api', target: { kind: 'sid', issuer: ISSUER, sid: `s${i}` } });
});
clock += 60_000;
await counted('second pass (the same logouts, nothing written back)', async () => {
  while ((await svc.runDue(256)) > 0);
});
await svc.stopWorker();
await stores.close();
for (const c of caches) c.redis.disconnect();
redis.disconnect();
server.kill();
