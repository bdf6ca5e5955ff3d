import t from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startProcess, type RunningService } from '../helpers/process.js';
import { TestProvider } from '../helpers/provider.js';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';
import { FULL_KEY, ISSUER, ORDERS, TENANT_A, testConfigFile, until } from '../helpers/service.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const root = new URL('../..', import.meta.url).pathname;
/** Preloaded into the instances: a full collection every second, so the heap used sampled is what is live. */
const COLLECT_GARBAGE = new URL('../helpers/collect-garbage.mjs', import.meta.url).href;
const auth = { authorization: `Bearer ${FULL_KEY}`, 'content-type': 'application/json' };

const ctx = await redisForTest(t);
if (ctx) {
  t.test(`soak: ${SECONDS} s of mixed valid and invalid traffic against two instances — no 5xx, no lost logout, steady memory`, async (t) => {
    const provider = await TestProvider.start();
    t.teardown(() => provider.close());
    const dir = await mkdtemp(join(tmpdir(), 'lr-soak-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = testConfigFile(provider.jwksUri);
    file.store = { kind: 'redis', url: REDIS_URL, keyPrefix: `${ctx.prefix}soak:` };
    file.apps[0]!.tokenCache = { url: REDIS_URL, key: `${ctx.prefix}msal:{clientId}:{homeAccountId}` };
    file.apps[1]!.tokenCache = { url: REDIS_URL, key: `${ctx.prefix}shared` };
    file.limits = { publicRequestsPerMinute: 1_000_000, apiRequestsPerMinute: 1_000_000 };
    const config = join(dir, 'c.yaml');
    await writeFile(config, stringify(file));
    const instances: RunningService[] = await Promise.all([0, 1].map(() => startProcess('node', ['--expose-gc', '--import', COLLECT_GARBAGE, 'dist/main.js', '--config', config], { cwd: root, env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' } })));
    t.teardown(() => Promise.all(instances.map((i) => i.stop('SIGKILL'))));
    // An instance that died says why (its last lines), rather than only the client's ECONNRESET.
    for (const [k, i] of instances.entries())
      i.child.once('exit', (code, signal) => {
        if (Date.now() < deadline)
          t.fail(
            `instance ${k} exited (${code ?? signal}) during the run:\n${i.lines
              .filter((l) => !/"level":30/.test(l))
              .slice(-20)
              .join('\n')}`,
          );
      });

    const statuses = new Map<string, number>();
    const count = (kind: string, status: number) => statuses.set(`${kind} ${status}`, (statuses.get(`${kind} ${status}`) ?? 0) + 1);
    const logoutIds: string[] = [];
    let backchannelAccepted = 0;
    /** Resident memory, and what V8 holds live: JS heap used plus memory outside it (Buffers). */
    const memory = async (i: RunningService) => {
      const text = await (await fetch(`${i.address}/metrics`)).text();
      const metric = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
      return { rss: metric('process_resident_memory_bytes'), live: metric('nodejs_heap_size_used_bytes') + metric('nodejs_external_memory_bytes') };
    };

    const started = Date.now();
    const deadline = started + SECONDS * 1000;
    // Memory every 2 s, per instance, with when. A leak raises the floor of these samples; the heap
    // growing to its working size and shrinking after a collection only moves the peaks (and more so
    // when the rest of the suite runs beside this test and the background work backs up).
    const samples: { at: number; memory: { rss: number; live: number }[] }[] = [];
    const sampling = setInterval(() => {
      void Promise.all(instances.map(memory)).then(
        (values) => samples.push({ at: Date.now() - started, memory: values }),
        () => {},
      );
    }, 2_000);
    t.teardown(() => clearInterval(sampling));
    let n = 0;
    const worker = async () => {
      while (Date.now() < deadline) {
        const [a, b] = n++ % 2 ? [instances[0]!, instances[1]!] : [instances[1]!, instances[0]!];
        const sid = `sid-${randomUUID()}`;
        const homeAccountId = `${randomUUID()}.${TENANT_A}`;
        switch (n % 5) {
          case 0: {
            // Registered on one instance, logged out through the provider's token on the other.
            const reg = await fetch(`${a.address}/v1/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ clientId: ORDERS, issuer: ISSUER, sid, sub: 'soak', homeAccountId }) });
            count('register', reg.status);
            const token = await provider.sign(provider.claims(ISSUER, ORDERS, { sid }));
            const res = await fetch(`${b.address}/logout/backchannel`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` });
            count('backchannel', res.status);
            if (res.status === 200) backchannelAccepted++;
            break;
          }
          case 1: {
            const bad = await provider.sign(provider.claims(ISSUER, ORDERS, { sid, nonce: 'x' }));
            count('invalid token', (await fetch(`${a.address}/logout/backchannel`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${bad}x` })).status);
            break;
          }
          case 2: {
            const res = await fetch(`${a.address}/v1/logouts`, { method: 'POST', headers: auth, body: JSON.stringify({ homeAccountId }) });
            count('api logout', res.status);
            if (res.status === 200) logoutIds.push(((await res.json()) as { id: string }).id);
            break;
          }
          case 3:
            count('frontchannel', (await fetch(`${a.address}/logout/frontchannel/idp?sid=${sid}`)).status);
            break;
          default:
            count('garbage', (await fetch(`${a.address}/v1/sessions`, { method: 'POST', headers: auth, body: '{"clientId": [' })).status);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const summary = [...statuses].map(([k, v]) => `${k}: ${v}`).join(', ');
    t.comment(`soak ${SECONDS} s: ${n} requests — ${summary}`);

    t.same(
      [...statuses.keys()].filter((k) => Number(k.split(' ').at(-1)) >= 500),
      [],
      'no 5xx at all',
    );
    t.same(
      [...statuses.keys()].filter((k) => k.startsWith('backchannel ') && !k.endsWith(' 200')),
      [],
      'every valid logout token was accepted',
    );
    t.same(
      [...statuses.keys()].filter((k) => k.startsWith('invalid token ') && !k.endsWith(' 400')),
      [],
      'every invalid one refused with 400',
    );
    await until(
      async () => {
        const states = await Promise.all(logoutIds.map(async (id) => ((await (await fetch(`${instances[1]!.address}/v1/logouts/${id}`, { headers: auth })).json()) as { state: string }).state));
        return states.every((s) => s === 'completed');
      },
      30_000,
      200,
    );
    t.pass(`all ${logoutIds.length} API logouts completed`);
    // Back-channel logouts are answered once journaled and carried out after: wait for the last of them.
    const completedBackchannel = async () => (await Promise.all(instances.map(async (i) => Number(/logout_receiver_logouts_total\{channel="backchannel",state="completed"\} (\d+)/.exec(await (await fetch(`${i.address}/metrics`)).text())?.[1] ?? 0)))).reduce((a, b) => a + b, 0);
    await until(async () => (await completedBackchannel()) >= backchannelAccepted, 30_000, 200).catch(() => {});
    t.equal(await completedBackchannel(), backchannelAccepted, `all ${backchannelAccepted} accepted back-channel logouts completed`);
    // Sampled until the accepted logouts are all carried out; then the floor over the second sixth of the
    // run (the first is warm-up) against the floor from the last sixth on.
    clearInterval(sampling);
    samples.push({ at: Date.now() - started, memory: await Promise.all(instances.map(memory)) });
    const window = (from: number, to: number) => samples.filter((x) => x.at >= from * SECONDS * 1000 && x.at <= to * SECONDS * 1000);
    const [early, late] = [window(1 / 6, 2 / 6), window(5 / 6, Infinity)];
    t.ok(early.length >= 2 && late.length >= 2, `enough samples to take a floor (${early.length} early, ${late.length} late)`);
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
    for (const i of instances.keys()) {
      const floor = (window: typeof samples, kind: 'rss' | 'live') => Math.min(...window.map((x) => x.memory[i]![kind]));
      // A leak of JS objects or Buffers raises what V8 holds live (collected every second, see above),
      // while the resident floor also moves with how V8 sizes its heap under the suite's load.
      const [liveBefore, liveAfter] = [floor(early, 'live'), floor(late, 'live')];
      t.ok(liveAfter - liveBefore < 32 * 2 ** 20, `instance ${i}: live memory (heap used + external) floor ${mb(liveBefore)} MB → ${mb(liveAfter)} MB`);
      // Native memory only shows in the resident set.
      const [before, after] = [floor(early, 'rss'), floor(late, 'rss')];
      t.ok(after - before < 64 * 2 ** 20, `instance ${i}: resident memory floor ${mb(before)} MB → ${mb(after)} MB`);
    }
  });
}
