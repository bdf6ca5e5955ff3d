import t from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { FakeEntra, MsalWebApp, RedisCacheClient } from '../../simulators/msal-app.js';
import { startProcess, type RunningService } from '../helpers/process.js';
import { TestProvider } from '../helpers/provider.js';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';
import { FULL_KEY, ISSUER, ORDERS, TENANT_A, testConfigFile, until } from '../helpers/service.js';

// Roles: a receiver takes logouts in and answers; a worker carries them out; on one Redis they do what
// one process of role all does, and a worker killed mid-batch loses nothing.
const root = new URL('../..', import.meta.url).pathname;
const ctx = await redisForTest(t);
if (ctx) {
  const { prefix, redis } = ctx;
  const dir = await mkdtemp(join(tmpdir(), 'lr-roles-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const provider = await TestProvider.start();
  t.teardown(() => provider.close());
  const auth = { authorization: `Bearer ${FULL_KEY}` };
  const cacheKey = `${prefix}msal:{clientId}:{homeAccountId}`;

  async function configFile(name: string, shutdownDelaySeconds = 0): Promise<string> {
    const file = testConfigFile(provider.jwksUri);
    file.server = { shutdownDelaySeconds };
    file.store = { kind: 'redis', url: REDIS_URL, keyPrefix: `${prefix}${name}:` };
    file.apps[0]!.tokenCache = { url: REDIS_URL, key: cacheKey };
    file.apps[1]!.tokenCache = { url: REDIS_URL, key: `${prefix}billing:{homeAccountId}` };
    file.retry = { leaseSeconds: 1, baseDelaySeconds: 0.05, maxDelaySeconds: 0.2 };
    file.limits = { publicRequestsPerMinute: 1_000_000, apiRequestsPerMinute: 1_000_000 };
    file.logLevel = 'warn';
    const path = join(dir, `${name}-${shutdownDelaySeconds}.yaml`);
    await writeFile(path, stringify(file));
    return path;
  }
  const start = (config: string, role: string): Promise<RunningService> => startProcess('node', ['dist/main.js', '--config', config], { cwd: root, env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', LOGOUT_RECEIVER_ROLE: role } });
  const web = new MsalWebApp(ORDERS, cacheKey, new RedisCacheClient(redis), new FakeEntra());

  /** Signs a user in (a token cache entry and a session registered through `receiver`); returns the provider's logout token for them. */
  async function signedIn(receiver: RunningService): Promise<{ homeAccountId: string; token: string }> {
    const sid = `sid-${randomUUID()}`;
    const signIn = await web.signIn({ oid: randomUUID(), homeTenant: TENANT_A, name: 'U', sid });
    const res = await fetch(`${receiver.address}/v1/sessions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ clientId: ORDERS, issuer: ISSUER, sid, sub: 'u', homeAccountId: signIn.homeAccountId }) });
    if (res.status !== 201) throw new Error(`registration answered ${res.status}`);
    return { homeAccountId: signIn.homeAccountId, token: await provider.sign(provider.claims(ISSUER, ORDERS, { sid })) };
  }
  const backchannel = (receiver: RunningService, token: string) => fetch(`${receiver.address}/logout/backchannel`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` });
  const reportsOf = async (receiver: RunningService, sid: string) => (await (await fetch(`${receiver.address}/v1/logouts?issuer=${encodeURIComponent(ISSUER)}&sid=${sid}`, { headers: auth })).json()) as { state: string; attempts: number }[];
  const sidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

  t.test('a receiver with no worker answers 200 and leaves the logout pending; a worker started later carries it out', async (t) => {
    const config = await configFile('later');
    const receiver = await start(config, 'receiver');
    t.teardown(() => receiver.stop('SIGKILL'));
    const user = await signedIn(receiver);
    t.equal((await backchannel(receiver, user.token)).status, 200, 'answered');
    // The receiver's own worker interval (1 s) passes twice: an `all` process would have carried it out by then.
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline) {
      const [report] = await reportsOf(receiver, sidOf(user.token));
      t.same([report?.state, report?.attempts], ['pending', 0], 'pending, never attempted by the receiver');
      if (report?.state !== 'pending') break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    t.equal((await web.accounts(user.homeAccountId)).length, 1, 'the account is still in the cache');

    // Its configuration asks for a long shutdown delay, which a worker (no traffic to drain) does not wait for.
    const worker = await start(await configFile('later', 60), 'worker');
    t.teardown(() => worker.stop('SIGKILL'));
    await until(async () => (await reportsOf(receiver, sidOf(user.token)))[0]?.state === 'completed', 15_000);
    t.same(await web.accounts(user.homeAccountId), [], 'the worker removed the account');
    t.equal((await fetch(`${worker.address}/logout/backchannel`, { method: 'POST' })).status, 404, 'a worker serves no public route');
    t.equal((await fetch(`${worker.address}/v1/apps`, { headers: auth })).status, 404, 'nor the API');
    t.equal((await fetch(`${worker.address}/readyz`)).status, 200, 'only the management endpoints');
    t.equal(await worker.stop('SIGTERM'), 0, 'the worker stops on SIGTERM');
    t.notOk(
      worker.lines.some((l) => l.includes('still serving until the delay ends')),
      'without the shutdown delay',
    );
    t.ok(
      worker.lines.some((l) => l.includes('no longer accepting')),
      'at once',
    );
    t.equal(await receiver.stop('SIGTERM'), 0);
  });

  t.test('a receiver and a worker carry out logouts end to end; killing the worker mid-batch loses nothing', async (t) => {
    const config = await configFile('kill');
    const receiver = await start(config, 'receiver');
    t.teardown(() => receiver.stop('SIGKILL'));
    const users = await Promise.all(Array.from({ length: 40 }, () => signedIn(receiver)));
    const statuses = await Promise.all(users.map(async (u) => (await backchannel(receiver, u.token)).status));
    t.same([...new Set(statuses)], [200], 'every logout answered 200 by the receiver');
    const first = await start(config, 'worker');
    t.teardown(() => first.stop('SIGKILL'));
    await until(async () => (await Promise.all(users.slice(0, 10).map((u) => reportsOf(receiver, sidOf(u.token))))).some(([r]) => r?.state === 'completed'), 15_000, 100);
    await first.stop('SIGKILL');
    const done = (await Promise.all(users.map((u) => reportsOf(receiver, sidOf(u.token))))).filter(([r]) => r?.state === 'completed').length;
    t.comment(`${done} of ${users.length} carried out before the kill`);
    const second = await start(config, 'worker');
    t.teardown(() => second.stop('SIGKILL'));
    await until(async () => (await Promise.all(users.map((u) => reportsOf(receiver, sidOf(u.token))))).every(([r]) => r?.state === 'completed'), 20_000, 200);
    for (const u of users) t.same(await web.accounts(u.homeAccountId), [], `${u.homeAccountId.slice(0, 8)}…: gone from the cache`);
    t.equal(await second.stop('SIGTERM'), 0);
  });
}
