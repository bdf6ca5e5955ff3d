import t from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { startProcess, type RunningService } from '../helpers/process.js';
import { RedisServer, redisForTest } from '../helpers/redis.js';
import { FULL_KEY, ORDERS, TENANT_A, startRedisService, testConfigFile, until } from '../helpers/service.js';
import { TestProvider } from '../helpers/provider.js';

const root = new URL('../..', import.meta.url).pathname;
const LOGOUTS = 1_000;
const CONCURRENCY = 20;

/** One msal-node-shaped partition per account (an account entry and its refresh token). */
const partition = (homeAccountId: string) =>
  JSON.stringify({
    Account: { [`${homeAccountId}-login.windows.net-${TENANT_A}`]: { home_account_id: homeAccountId, environment: 'login.windows.net', realm: TENANT_A, local_account_id: homeAccountId.split('.')[0], username: 'u@example.test', authority_type: 'MSSTS' } },
    RefreshToken: { [`${homeAccountId}-login.windows.net-refreshtoken-${ORDERS}--`]: { home_account_id: homeAccountId, environment: 'login.windows.net', credential_type: 'RefreshToken', client_id: ORDERS, secret: 'rt' } },
  });

/** Sends the logouts, `CONCURRENCY` at a time; `midway` runs once, after a third were answered. */
async function stream(send: (homeAccountId: string) => Promise<{ status: number; id?: string }>, accounts: string[], midway: () => Promise<void>) {
  const answered: { homeAccountId: string; id: string }[] = [];
  const refused: number[] = [];
  let next = 0;
  let fault: Promise<void> | undefined;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < accounts.length) {
        const homeAccountId = accounts[next++]!;
        const res = await send(homeAccountId).catch(() => ({ status: 0 }) as { status: number; id?: string });
        if (res.status === 200 && res.id) answered.push({ homeAccountId, id: res.id });
        else refused.push(res.status);
        if (!fault && answered.length + refused.length >= accounts.length / 3) fault = midway();
      }
    }),
  );
  await fault;
  return { answered, refused };
}

const ctx = await redisForTest(t);
if (ctx && !(await RedisServer.available())) t.plan(0, 'redis-server is not installed');
else if (ctx) {
  t.test(`Redis restarted during a stream of ${LOGOUTS} logouts: every logout answered 200 is carried out`, async (t) => {
    const redisServer = await RedisServer.start({ persistent: true });
    t.teardown(() => redisServer.remove());
    const seed = new Redis(redisServer.url);
    const prefix = 'fault-a:';
    const accounts = Array.from({ length: LOGOUTS }, () => `${randomUUID()}.${TENANT_A}`);
    const key = (id: string) => `${prefix}msal:${ORDERS}:${id}`;
    await Promise.all(accounts.map((id) => seed.set(key(id), partition(id), 'EX', 3600)));
    await seed.quit();

    const svc = await startRedisService({ storeUrl: redisServer.url, prefix, retry: { baseDelayMs: 50, maxDelayMs: 200, leaseMs: 1_000 }, edit: (f) => void (f.limits = { apiRequestsPerMinute: 1_000_000 }) });
    t.teardown(() => svc.close());
    const { answered, refused } = await stream(
      async (homeAccountId) => {
        const res = await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { homeAccountId } });
        return { status: res.statusCode, id: res.statusCode === 200 ? res.json().id : undefined };
      },
      accounts,
      async () => {
        await redisServer.stop();
        await new Promise((resolve) => setTimeout(resolve, 1_000)); // the outage lasts a second
        await redisServer.start();
      },
    );
    t.ok(refused.length > 0, `requests met the outage (${refused.length} refused: ${[...new Set(refused)].join(', ')})`);
    t.ok(
      refused.every((s) => s === 503),
      'those were refused with 503, not answered 200',
    );
    t.comment(`${answered.length} answered 200, ${refused.length} refused during the outage`);

    const check = new Redis(redisServer.url);
    t.teardown(() => check.quit());
    await until(
      async () => {
        const states = await Promise.all(answered.map(async ({ id }) => (await svc.app.inject({ url: `/v1/logouts/${id}`, headers: svc.auth })).json().state));
        return states.every((s) => s === 'completed');
      },
      60_000,
      200,
    );
    const left = (await Promise.all(answered.map(({ homeAccountId }) => check.exists(key(homeAccountId))))).filter(Boolean).length;
    t.equal(left, 0, `every one of the ${answered.length} answered logouts is completed and its account gone from the cache`);
  });

  t.test(`the process killed (SIGKILL) under load and restarted: every logout answered 200 is carried out`, async (t) => {
    const { redis, prefix } = ctx;
    const dir = await mkdtemp(join(tmpdir(), 'lr-faults-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const provider = await TestProvider.start();
    t.teardown(() => provider.close());
    const file = testConfigFile(provider.jwksUri);
    file.store = { kind: 'redis', url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: `${prefix}kill:` };
    file.apps[0]!.tokenCache = { url: file.store.url!, key: `${prefix}msal:{clientId}:{homeAccountId}` };
    file.apps[1]!.tokenCache = { url: file.store.url!, key: `${prefix}b:{homeAccountId}` };
    file.retry = { leaseSeconds: 1, baseDelaySeconds: 0.05, maxDelaySeconds: 0.2 };
    file.limits = { apiRequestsPerMinute: 1_000_000 };
    file.logLevel = 'warn';
    const config = join(dir, 'c.yaml');
    await writeFile(config, stringify(file));
    const accounts = Array.from({ length: LOGOUTS }, () => `${randomUUID()}.${TENANT_A}`);
    const key = (id: string) => `${prefix}msal:${ORDERS}:${id}`;
    await Promise.all(accounts.map((id) => redis.set(key(id), partition(id), 'EX', 3600)));

    const start = () => startProcess('node', ['dist/main.js', '--config', config], { cwd: root, env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' } });
    let service: RunningService = await start();
    const first = service;
    t.teardown(() => first.stop('SIGKILL'));
    const { answered, refused } = await stream(
      async (homeAccountId) => {
        const res = await fetch(`${first.address}/v1/logouts`, { method: 'POST', headers: { authorization: `Bearer ${FULL_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ homeAccountId }) });
        return { status: res.status, id: res.status === 200 ? ((await res.json()) as { id: string }).id : undefined };
      },
      accounts,
      async () => {
        await first.stop('SIGKILL');
      },
    );
    t.ok(refused.length > 0, `requests met the dead process (${refused.length})`);
    t.comment(`${answered.length} answered 200 before the kill`);
    service = await start();
    t.teardown(() => service.stop('SIGKILL'));
    await until(
      async () => {
        const states = await Promise.all(answered.map(async ({ id }) => ((await (await fetch(`${service.address}/v1/logouts/${id}`, { headers: { authorization: `Bearer ${FULL_KEY}` } })).json()) as { state: string }).state));
        return states.every((s) => s === 'completed');
      },
      60_000,
      200,
    );
    const left = (await Promise.all(answered.map(({ homeAccountId }) => redis.exists(key(homeAccountId))))).filter(Boolean).length;
    t.equal(left, 0, `all ${answered.length} answered logouts completed after the restart, their accounts gone`);
    t.equal(await service.stop('SIGTERM'), 0);
  });
}
