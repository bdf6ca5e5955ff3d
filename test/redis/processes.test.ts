import t from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { FakeEntra, MsalWebApp, RedisCacheClient } from '../../simulators/msal-app.js';
import { startProcess, type RunningService } from '../helpers/process.js';
import { TestProvider } from '../helpers/provider.js';
import { REDIS_URL, RedisServer, redisForTest } from '../helpers/redis.js';
import { FULL_KEY, ISSUER, ORDERS, TENANT_A, testConfigFile, until } from '../helpers/service.js';

const root = new URL('../..', import.meta.url).pathname;
const ctx = await redisForTest(t);
if (ctx && !(await RedisServer.available())) t.plan(0, 'redis-server is not installed: cannot stop and restart a Redis');
else if (ctx) {
  const { prefix } = ctx;
  const dir = await mkdtemp(join(tmpdir(), 'lr-processes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const provider = await TestProvider.start();
  t.teardown(() => provider.close());
  const auth = { authorization: `Bearer ${FULL_KEY}` };

  /** A config file for service processes sharing one Redis store (and caches at `cacheUrl`). */
  async function configFile(name: string, cacheUrl: string): Promise<string> {
    const file = testConfigFile(provider.jwksUri);
    file.store = { kind: 'redis', url: REDIS_URL, keyPrefix: `${prefix}${name}:` };
    file.apps[0]!.tokenCache = { url: cacheUrl, key: `${prefix}msal:{clientId}:{homeAccountId}` };
    file.apps[1]!.tokenCache = { url: cacheUrl, key: `${prefix}{homeAccountId}` };
    file.logLevel = 'warn';
    const path = join(dir, `${name}.yaml`);
    await writeFile(path, stringify(file));
    return path;
  }

  const start = (config: string): Promise<RunningService> => startProcess('node', ['dist/main.js', '--config', config], { cwd: root, env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' } });

  t.test('a logout answered 200 completes after the process is killed and restarted', async (t) => {
    const cacheServer = await RedisServer.start();
    t.teardown(() => cacheServer.stop());
    const config = await configFile('kill', cacheServer.url);
    const appRedis = new Redis(cacheServer.url, { maxRetriesPerRequest: 1 });
    appRedis.on('error', () => {});
    t.teardown(() => appRedis.disconnect());
    const web = new MsalWebApp(ORDERS, `${prefix}msal:{clientId}:{homeAccountId}`, new RedisCacheClient(appRedis), new FakeEntra());
    const oid = randomUUID();

    const first = await start(config);
    t.teardown(() => first.stop('SIGKILL'));
    // The caches are down when the logout arrives, so the 200 comes before any sweep could succeed.
    await cacheServer.stop();
    const res = await fetch(`${first.address}/v1/logouts`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ homeAccountId: `${oid}.${TENANT_A}` }) });
    t.equal(res.status, 200);
    const { id, state } = (await res.json()) as { id: string; state: string };
    t.equal(state, 'pending');
    t.not(await first.stop('SIGKILL'), 0, 'killed');

    await cacheServer.start();
    const alice = await web.signIn({ oid, homeTenant: TENANT_A, name: 'Alice', sid: 's' });
    const second = await start(config);
    t.teardown(() => second.stop('SIGKILL'));
    const report = await until(async () => {
      const r = (await (await fetch(`${second.address}/v1/logouts/${id}`, { headers: auth })).json()) as { state: string; removals: { outcome: string }[] };
      return r.state === 'completed' && r;
    }, 15_000);
    t.ok(
      report.removals.some((r) => r.outcome === 'removed'),
      'the restarted process carried it out',
    );
    t.same(await web.accounts(alice.homeAccountId), [], "alice's account is gone from the app's cache");
    t.equal(await second.stop('SIGTERM'), 0, 'SIGTERM: a clean exit');
  });

  t.test('two instances on one Redis: a replayed jti is refused by the other, and a logout on one is visible on the other', async (t) => {
    const config = await configFile('pair', REDIS_URL);
    const [a, b] = await Promise.all([start(config), start(config)]);
    t.teardown(() => Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]));
    const token = await provider.sign(provider.claims(ISSUER, ORDERS));
    const post = (address: string) => fetch(`${address}/logout/backchannel`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` });
    t.equal((await post(a.address)).status, 200, 'accepted by the first');
    const replay = await post(b.address);
    t.equal(replay.status, 400, 'refused as a replay by the second');
    t.match(((await replay.json()) as { error_description: string }).error_description, /replay/);

    const sid = `sid-${randomUUID()}`;
    const registered = await fetch(`${b.address}/v1/sessions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ clientId: ORDERS, issuer: ISSUER, sid, sub: 'u', homeAccountId: `${randomUUID()}.${TENANT_A}` }) });
    t.equal(registered.status, 201);
    const logout = (await (await fetch(`${a.address}/v1/logouts`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ issuer: ISSUER, sid }) })).json()) as { id: string; sessionsEnded: number };
    t.equal(logout.sessionsEnded, 1, 'the first ended the session the second registered');
    const seen = (await (await fetch(`${b.address}/v1/logouts/${logout.id}`, { headers: auth })).json()) as { id: string; state: string };
    t.match(seen, { id: logout.id, state: 'completed' }, 'the second reads the report');
    const late = await fetch(`${b.address}/v1/sessions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ clientId: ORDERS, issuer: ISSUER, sid, sub: 'u', homeAccountId: 'x.y' }) });
    t.equal(late.status, 409, 'and refuses its late registration');
  });
}
