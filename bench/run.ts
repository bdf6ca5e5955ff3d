/**
 * npm run bench [-- --quick] [--json] [--dry-run] [--profile]
 *
 * Measures, in one run and as ratios, how close the back-channel endpoint comes to what this machine can
 * do at all (a verify-only server) and to what users would otherwise deploy (express-openid-connect's
 * back-channel route), then the full sweep (3 apps' Redis token caches, one shared partition) and how
 * its latency depends on the number of stored sessions; the same for the front channel against a server
 * that only answers its page; and the receiver's answer latency at a paced half rate against the
 * ceilings'. Each server, Redis and the load generator run in processes of their own. See
 * bench/README.md for what each field means.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { stringify } from 'yaml';
import type { LoadSpec } from './load.js';
import type { PacedResult, PacedSlice, PacedSpec } from './paced.js';
import { benchUser, preloadCaches, preloadSessions, type BenchUser, type CacheLayout } from './preload.js';
import { startProvider } from './provider.js';
import { freePort, startRedis } from './redis-server.js';

const args = new Set(process.argv.slice(2));
const mode = args.has('--dry-run') ? 'dry' : args.has('--quick') ? 'quick' : 'full';
/**
 * Token counts per run: warm-up (none in a dry run, which only proves the harness), the no-session runs, the sweep runs (also the shared partition's size), the scale
 * runs; and the paced runs' requests per server, over `pacedRounds` rounds.
 */
const SIZES = {
  dry: { warmUp: 0, noSession: 150, sweep: 30, scaleTokens: 20, scaleSmall: 100, scaleLarge: 1_000, paced: 4, pacedRounds: 1 },
  quick: { warmUp: 1_000, noSession: 8_000, sweep: 400, scaleTokens: 300, scaleSmall: 1_000, scaleLarge: 100_000, paced: 400, pacedRounds: 4 },
  full: { warmUp: 3_000, noSession: 30_000, sweep: 2_000, scaleTokens: 1_000, scaleLarge: 1_000_000, scaleSmall: 1_000, paced: 1_200, pacedRounds: 6 },
}[mode];
const connections = 32;
const root = new URL('..', import.meta.url).pathname;
const APPS = { a: 'bench-app-a', b: 'bench-app-b', shared: 'bench-app-shared' };
const LAYOUT: CacheLayout = { perAccount: [APPS.a, APPS.b], shared: { clientId: APPS.shared, key: `msal:${APPS.shared}:all-users` } };
const logLevel = process.env.BENCH_LOG_LEVEL ?? 'info';
/**
 * How the bench's TypeScript processes start: node with tsx's loader, one process (the tsx command would start two); its ESM hooks only
 * (they import TypeScript, and node loads the CommonJS packages itself): each process starts with about 0.2 s less CPU.
 */
const TSX = ['--import', 'tsx/esm'];

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const dir = await mkdtemp(join(tmpdir(), 'lr-bench-'));
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
};

/** Starts a bench server process and waits for its "listening on" line. */
async function startServer(script: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn('node', [...TSX, join(root, script)], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk;
      const match = /listening on (http:\/\/[^"\s]+)/.exec(seen);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  child.stdout!.resume();
  return { child, url };
}

/** Starts the service (`node dist/main.js`) with this configuration (a role, a lower OS priority) and waits until /healthz answers. */
async function startService(name: string, config: Record<string, unknown>, options: { role?: 'receiver' | 'worker'; nice?: number } = {}): Promise<{ child: ChildProcess; url: string }> {
  const file = join(dir, `${name}.yaml`);
  // Stopped at once: no orchestrator needs the 5 s of serving after /readyz turns 503 between the bench's runs.
  await writeFile(file, stringify({ logLevel, limits: { publicRequestsPerMinute: 100_000_000 }, server: { shutdownDelaySeconds: 0 }, ...config }));
  const port = await freePort();
  const profile = args.has('--profile') ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench/profiles')}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  // Its log (one line per request at info, as in production) goes to /dev/null.
  const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn('node', [...nodeFlags, ...profile, 'dist/main.js', '--config', file], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: logLevel, ...(options.role ? { LOGOUT_RECEIVER_ROLE: options.role } : {}) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  if (options.nice !== undefined) setPriority(child.pid!, options.nice);
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  child.once('exit', () => (exited = true));
  for (let ready = false; !ready;) {
    if (exited) throw new Error(`the service (${name}) exited before it was ready`);
    ready = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 50)); // a process coming up sends no event
  }
  return { child, url };
}

interface LoadResult {
  rps: number;
  seconds: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  tokensUsed: number;
  tokensAvailable: number;
}

/** Runs the load generator in its own process: `tokens` (each once, in order; for GET, paths with their query), optionally at a fixed rate. */
async function load(url: string, path: string, tokens: string[], name: string, overallRate?: number, method: 'POST' | 'GET' = 'POST'): Promise<LoadResult> {
  const tokensFile = join(dir, `${name}.tokens`);
  await writeFile(tokensFile, tokens.join('\n'));
  const spec: LoadSpec = { url: `${url}${path}`, tokensFile, amount: tokens.length, connections, method, ...(overallRate ? { overallRate } : {}) };
  const child = spawn('node', [...TSX, join(root, 'bench/load.ts'), JSON.stringify(spec)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the load generator (${name}) exited with ${code}`);
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
  log(`${name}: ${Math.round(result.rps)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, non-2xx ${result.non2xx}, errors ${result.errors}`);
  return result;
}

/** Starts the paced load generator (bench/paced.ts) in its own process, each server's requests at `rate`; the bench sends it slice after slice, then ends it for a result per server. */
async function pacedGenerator(name: string, rate: number, method: 'POST' | 'GET', servers: { url: string; requests: string[] }[]) {
  const targets = await Promise.all(
    servers.map(async ({ url, requests }, i) => {
      const requestsFile = join(dir, `${name}-${i}.requests`);
      await writeFile(requestsFile, requests.join('\n'));
      return { url, requestsFile, method };
    }),
  );
  const spec: PacedSpec = { targets, rate, connections };
  const child = spawn('node', [...TSX, join(root, 'bench/paced.ts'), JSON.stringify(spec)], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<unknown> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the paced load generator (${name}) exited`);
    return JSON.parse(value as string);
  };
  return {
    /** Resolves once every answer of the slice is in. */
    async slice(slice: PacedSlice): Promise<void> {
      child.stdin!.write(`${JSON.stringify(slice)}\n`);
      await next();
    },
    async finish(): Promise<PacedResult[]> {
      child.stdin!.end(`${JSON.stringify({ end: true })}\n`);
      const results = (await next()) as PacedResult[];
      await exited;
      return results;
    },
  };
}

/** Peak resident memory of a process (VmHWM), in MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : Number(((sorted[mid - 1]! + sorted[mid]!) / 2).toFixed(3));
};

/** One server's rounds as one result: its rate over all of them, the median p50, the worst p99 and max. */
function combined(results: LoadResult[]): LoadResult {
  const sum = (f: (r: LoadResult) => number) => results.reduce((total, r) => total + f(r), 0);
  const seconds = sum((r) => r.seconds);
  return {
    rps: seconds > 0 ? sum((r) => r.requests) / seconds : 0,
    seconds,
    requests: sum((r) => r.requests),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    maxMs: Math.max(...results.map((r) => r.maxMs)),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    tokensUsed: sum((r) => r.tokensUsed),
    tokensAvailable: sum((r) => r.tokensAvailable),
  };
}

const started = performance.now();
log(`${mode} run: ${connections} connections, ${cpus().length} cores, service log level ${logLevel}`);
const provider = await startProvider();
const distinct = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

// ---- No session: the ceiling, the service and the peer get the same tokens, each once (warm-up first),
// in rounds: each round gives all three the same slice of the tokens in turn, so that the machine's
// drift during the run reaches the three alike, and a ratio is the median of the rounds' ratios.
log(`signing ${SIZES.warmUp + SIZES.noSession} RS256 logout tokens…`);
const warmUp = await provider.tokens(APPS.a, distinct('warm-up', SIZES.warmUp));
const noSessionTokens = await provider.tokens(APPS.a, distinct('no-session', SIZES.noSession));
const BACKCHANNEL = '/logout/backchannel';
const FRONTCHANNEL = '/logout/frontchannel';
/** The spec form of a front-channel request (Entra's form takes the issuer from the path; the work behind is the same). */
const frontchannelPath = (sid: string) => `${FRONTCHANNEL}?iss=${encodeURIComponent(provider.issuer)}&sid=${encodeURIComponent(sid)}`;
type Channel = 'backchannel' | 'frontchannel';
const CHANNELS = { backchannel: { path: BACKCHANNEL, method: 'POST' }, frontchannel: { path: FRONTCHANNEL, method: 'GET' } } as const;
/** What a channel's requests carry for these sids: signed logout tokens, or front-channel paths. */
const requestsFor = async (channel: Channel, sids: string[]): Promise<string[]> => (channel === 'frontchannel' ? sids.map(frontchannelPath) : provider.tokens(APPS.a, sids));
/** A warm-up run before the measured ones, unless there are no warm-up tokens (a dry run). */
const warm = async (url: string, path: string, name: string, tokens = warmUp, method: 'POST' | 'GET' = 'POST'): Promise<void> => {
  if (tokens.length > 0) await load(url, path, tokens, name, undefined, method);
};
const ROUNDS = mode === 'dry' ? 1 : 3;

interface Contender {
  name: string;
  path: string;
  url: string;
  child: ChildProcess;
}
/** Loads the contenders in turn, round by round, each round giving each the same slice of `requests`; the rounds' results, each in the contenders' order. */
async function inRounds(contenders: Contender[], requests: string[], method: 'POST' | 'GET' = 'POST'): Promise<LoadResult[][]> {
  const perRound = Math.floor(requests.length / ROUNDS);
  const rounds: LoadResult[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const slice = requests.slice(r * perRound, (r + 1) * perRound);
    const round: LoadResult[] = [];
    for (const c of contenders) round.push(await load(c.url, c.path, slice, `${c.name}-round-${r + 1}`, undefined, method));
    rounds.push(round);
  }
  return rounds;
}
/** The median over the rounds of `a`'s rate over `b`'s (contender indexes). */
const roundsRatio = (rounds: LoadResult[][], a: number, b: number) => median(rounds.map((round) => ratio(round[a]!.rps, round[b]!.rps)));

/** The origins that may frame the front-channel page (its CSP's frame-ancestors), as Entra's sign-out page needs. */
const FRAME_ANCESTORS = ['https://login.microsoftonline.com'];
const issuers = [{ name: 'bench', issuer: provider.issuer, jwksUri: provider.jwksUri, algorithms: ['RS256'], frontchannelOrigins: FRAME_ANCESTORS }];
const memoryApps = Object.values(APPS).map((clientId) => ({ clientId, name: clientId, issuers: ['bench'], tokenCache: { kind: 'memory' } }));
const redisServer = await startRedis();
children.push(redisServer.child);
const redis = new Redis(redisServer.url);
const redisApps = Object.values(APPS).map((clientId) => ({
  clientId,
  name: clientId,
  issuers: ['bench'],
  tokenCache: { url: redisServer.url, key: clientId === APPS.shared ? LAYOUT.shared.key : 'msal:{clientId}:{homeAccountId}' },
}));

// Started side by side (nothing is measured yet); the front channel's ceiling and its Redis-store service with them, idle until
// their runs (the service's worker looks for due logouts once a second, as the memory-store service's does).
const [verifyServer, noSessionService, peerServer, pageServer, frontchannelRedisService] = await Promise.all([
  startServer('bench/verify-server.ts', { BENCH_PUBLIC_JWK: JSON.stringify(provider.jwk), PORT: '0' }),
  startService('no-session', { store: { kind: 'memory' }, issuers, apps: memoryApps }),
  startServer('bench/peer-server.ts', { BENCH_ISSUER_URL: provider.issuer, BENCH_CLIENT_ID: APPS.a, PORT: '0' }),
  startServer('bench/page-server.ts', { BENCH_FRAME_ANCESTORS: FRAME_ANCESTORS.join(' '), PORT: '0' }),
  startService('frontchannel-no-session-redis', { store: { kind: 'redis', url: redisServer.url, keyPrefix: 'frontchannel:' }, issuers, apps: redisApps }),
]);
const contenders: Contender[] = [
  { name: 'ceiling', path: BACKCHANNEL, ...verifyServer },
  { name: 'no-session', path: BACKCHANNEL, ...noSessionService },
  { name: 'peer', path: '/backchannel-logout', ...peerServer },
];
for (const c of contenders) await warm(c.url, c.path, `${c.name}-warm-up`);
const rounds = await inRounds(contenders, noSessionTokens);
const noSessionRssMb = await peakRssMb(contenders[1]!.child.pid!);
// The verify-only ceiling stays up for the paced runs, the memory-store service for the front channel's no-session runs.
const verifyCeiling = contenders[0]!;
await stop(contenders[2]!.child);
const [ceiling, noSession, peer] = contenders.map((_, i) => combined(rounds.map((round) => round[i]!))) as [LoadResult, LoadResult, LoadResult];

const joseVerifies = await (async () => {
  const keys = createLocalJWKSet({ keys: [provider.jwk] });
  const sample = noSessionTokens.slice(0, 500);
  const ms = mode === 'dry' ? 300 : 2_000;
  const until = Date.now() + ms;
  let done = 0;
  let i = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (Date.now() < until) {
        await jwtVerify(sample[i++ % sample.length]!, keys, { algorithms: ['RS256'] });
        done++;
      }
    }),
  );
  return Math.round(done / (ms / 1000));
})();

/** Whether the page-only ceiling answers what the service's front-channel route answers: status, headers (but the date, the connection's and the rate limiter's) and body. */
async function sameFrontchannelAnswer(ceilingUrl: string, serviceUrl: string): Promise<boolean> {
  const answer = async (url: string) => {
    const response = await fetch(`${url}${frontchannelPath('same-answer-check')}`);
    const headers = [...response.headers].filter(([name]) => !/^(date|connection|keep-alive|x-ratelimit-.*)$/.test(name));
    return JSON.stringify([response.status, headers, await response.text()]);
  };
  const [theirs, ours] = [await answer(ceilingUrl), await answer(serviceUrl)];
  if (theirs !== ours) log(`the front-channel ceiling answers ${theirs}, the service ${ours}`);
  return theirs === ours;
}

// ---- The front channel without a session: a server that only answers the page (the ceiling), the
// service on its memory store (the process of the back channel's no-session runs) and on Redis, in
// rounds as above; every request names the bench issuer and a sid no session has.
const pageCeiling: Contender = { name: 'frontchannel-ceiling', path: FRONTCHANNEL, ...pageServer };
const frontchannelContenders: Contender[] = [pageCeiling, { ...contenders[1]!, name: 'frontchannel-no-session-memory', path: FRONTCHANNEL }, { name: 'frontchannel-no-session-redis', path: FRONTCHANNEL, ...frontchannelRedisService }];
const sameAnswer = await sameFrontchannelAnswer(pageCeiling.url, contenders[1]!.url);
const frontchannelWarmUp = distinct('frontchannel-warm-up', SIZES.warmUp).map(frontchannelPath);
for (const c of frontchannelContenders) await warm(c.url, c.path, `${c.name}-warm-up`, frontchannelWarmUp, 'GET');
const frontchannelRounds = await inRounds(frontchannelContenders, distinct('frontchannel-no-session', SIZES.noSession).map(frontchannelPath), 'GET');
await stop(frontchannelContenders[1]!.child);
await stop(frontchannelContenders[2]!.child);
const [frontchannelCeiling, frontchannelNoSessionMemory, frontchannelNoSessionRedis] = frontchannelContenders.map((_, i) => combined(frontchannelRounds.map((round) => round[i]!))) as [LoadResult, LoadResult, LoadResult];

// ---- The sweep: every token ends a session whose account is in 3 apps' Redis caches, one of them shared.
const sessionOf = (u: BenchUser) => ({ clientId: APPS.a, issuer: provider.issuer, sid: u.sid, sub: `sub-${u.oid}`, homeAccountId: u.homeAccountId });

/** Preloads `sessions` sessions of which the first `swept.length` belong to `swept`, and the swept users' caches. */
async function preload(keyPrefix: string, swept: BenchUser[], sessions: number, withShared = true): Promise<{ sharedBytes: number }> {
  const fillers = (n: number) => sessionOf(benchUser(9, n));
  await preloadSessions(redisServer.url, keyPrefix, sessions, (n) => (n < swept.length ? sessionOf(swept[n]!) : fillers(n)));
  return preloadCaches(redis, LAYOUT, swept, withShared);
}

/** How many sessions are left under the prefix, and per-account partitions or shared-partition entries of these users. */
async function leftBehind(keyPrefix: string, users: BenchUser[]): Promise<number> {
  const partitions = await redis.exists(...users.flatMap((u) => LAYOUT.perAccount.map((app) => `msal:${app}:${u.homeAccountId}`)));
  const shared = (await redis.get(LAYOUT.shared.key)) ?? '';
  const inShared = users.filter((u) => shared.includes(u.homeAccountId)).length;
  return partitions + inShared + (await redis.keys(`${keyPrefix}session:*`)).length;
}

/**
 * prom-client samples the event loop with a 10 ms timer (its default `eventLoopMonitoringPrecision`) and
 * reports the interval between two ticks: an idle loop reads about 10 ms. The delay is what lies beyond it.
 */
const LOOP_SAMPLING_MS = 10;

/**
 * One scrape of the service's /metrics: its logout attempts of the channel so far by the state each ended
 * in, its GC and CPU time so far, and its event-loop delay since the previous scrape (prom-client resets it on each).
 */
async function scrape(url: string, channel: Channel = 'backchannel'): Promise<{ attempts: Record<string, number>; gcSeconds: Record<string, number>; cpuSeconds: number; loopDelayMaxMs: number; loopDelayP99Ms: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const byLabel = (pattern: RegExp) => Object.fromEntries([...text.matchAll(pattern)].map((m) => [m[1]!, Number(m[2])]));
  const seconds = (name: string) => Number(new RegExp(`^${name} ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
  const ms = (name: string) => Math.round(seconds(name) * 1000);
  const delayMs = (name: string) => Math.max(0, ms(name) - LOOP_SAMPLING_MS);
  return {
    attempts: byLabel(new RegExp(`^logout_receiver_logout_attempt_duration_seconds_count\\{channel="${channel}",state="(\\w+)"\\} (\\d+)`, 'gm')),
    gcSeconds: byLabel(/^nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} ([\d.e+-]+)/gm),
    cpuSeconds: seconds('process_cpu_seconds_total'),
    loopDelayMaxMs: delayMs('nodejs_eventloop_lag_max_seconds'),
    loopDelayP99Ms: delayMs('nodejs_eventloop_lag_p99_seconds'),
  };
}

/** Waits (at most 120 s) until the service has ended `count` more attempts of the channel `completed` or `failed` than in `before`. */
async function attemptsEnded(url: string, before: Record<string, number>, count: number, channel: Channel = 'backchannel'): Promise<void> {
  const ended = (now: Record<string, number>) => (now.completed ?? 0) + (now.failed ?? 0) - (before.completed ?? 0) - (before.failed ?? 0);
  const from = performance.now();
  while (ended((await scrape(url, channel)).attempts) < count && performance.now() - from < 120_000) await new Promise((resolve) => setTimeout(resolve, 50)); // the service sends no event
}

/**
 * A logout whose first attempt ended `pending` (an app's concurrent write, a conflict) was answered 200
 * and is finished by the service's worker: waits (at most 60 s) until nothing of these users is left.
 */
async function drained(keyPrefix: string, users: BenchUser[]): Promise<{ leftBehind: number; drainSeconds: number }> {
  const from = performance.now();
  let left = await leftBehind(keyPrefix, users);
  while (left > 0 && performance.now() - from < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 250)); // the worker's retries send no event
    left = await leftBehind(keyPrefix, users);
  }
  return { leftBehind: left, drainSeconds: Number(((performance.now() - from) / 1000).toFixed(1)) };
}

/**
 * The logouts of the channel received since `since` (epoch ms), as the service's journal recorded them:
 * how long each took from its receipt to its completion (the answer comes before: once it is journaled),
 * and the completion rate from the first receipt to the last completion.
 */
async function journaled(keyPrefix: string, since: number, channel: Channel = 'backchannel'): Promise<{ completed: number; completedPerSecond: number; completionP50Ms: number; completionP99Ms: number }> {
  const keys: string[] = [];
  for await (const batch of redis.scanStream({ match: `${keyPrefix}logout:*`, count: 1_000 })) keys.push(...(batch as string[]));
  const spans: [number, number][] = [];
  for (let i = 0; i < keys.length; i += 1_000) {
    for (const json of await redis.mget(keys.slice(i, i + 1_000))) {
      const report = json ? (JSON.parse(json) as { channel: string; receivedAt: string; completedAt?: string }) : undefined;
      if (report?.channel !== channel || !report.completedAt || Date.parse(report.receivedAt) < since) continue;
      spans.push([Date.parse(report.receivedAt), Date.parse(report.completedAt)]);
    }
  }
  const took = spans.map(([received, completed]) => completed - received).sort((a, b) => a - b);
  const at = (q: number) => took[Math.min(took.length - 1, Math.max(0, Math.ceil(q * took.length) - 1))] ?? 0;
  const seconds = (Math.max(...spans.map(([, c]) => c)) - Math.min(...spans.map(([r]) => r))) / 1000;
  return { completed: spans.length, completedPerSecond: seconds > 0 ? Math.round(spans.length / seconds) : 0, completionP50Ms: at(0.5), completionP99Ms: at(0.99) };
}

/** CPU time the bench's Redis has used so far (sessions, journal and the apps' caches all live there). */
async function redisCpuSeconds(): Promise<number> {
  const info = await redis.info('cpu');
  return Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0) + Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0);
}

/** Calls so far per Redis command, from the bench Redis's INFO commandstats. */
async function redisCalls(): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  return Object.fromEntries([...info.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/**
 * Commands as the service's clients sent them while `during` runs, per logout, by command: Redis's
 * MONITOR shows each command a client sends (MULTI, EXEC and WATCH included, a script's EVALSHA once)
 * apart from what scripts run, which INFO commandstats counts as well. The bench's own are left out.
 * Read off a plain socket: ioredis's monitor mode fails on a line that comes in the chunk of its OK.
 */
async function redisCommandsSent(logouts: number, during: () => Promise<void>): Promise<Record<string, number>> {
  const own = /\baddr=(\S+)/.exec((await redis.client('INFO')) as string)![1];
  const { hostname, port } = new URL(redisServer.url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  const sent: Record<string, number> = {};
  let pending = '';
  let monitoring!: () => void;
  const started = new Promise<void>((resolve) => (monitoring = resolve));
  socket.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString('latin1')).split('\r\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line === '+OK') monitoring();
      // +1733000000.123456 [0 127.0.0.1:50000] "EVALSHA" "…" …
      const m = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
      if (!m || m[1] === 'lua' || m[1] === own) continue;
      const command = m[2]!.toLowerCase();
      sent[command] = (sent[command] ?? 0) + 1;
    }
  });
  socket.write('MONITOR\r\n');
  await started;
  await during();
  socket.destroy();
  return Object.fromEntries(
    Object.entries(sent)
      .map(([command, n]) => [command, Number((n / logouts).toFixed(2))] as const)
      .filter(([, n]) => n >= 0.01),
  );
}

/** A sweep run: its users' sessions and caches preloaded, their tokens sent, then what was left and how long it took to go. */
/** Split: logouts go to `url` (a receiver) and are carried out at `workerUrl` (a worker); `prefix` is the store's key prefix; `channel` the route they come by (the back channel's by default). */
interface SweepOptions {
  prefix?: string;
  workerUrl?: string;
  withShared?: boolean;
  channel?: Channel;
}

async function sweepRun(url: string, users: BenchUser[], name: string, overallRate?: number, options: SweepOptions = {}) {
  const prefix = options.prefix ?? 'sweep:';
  const workerUrl = options.workerUrl ?? url;
  const channel = options.channel ?? 'backchannel';
  const { sharedBytes } = await preload(prefix, users, users.length, options.withShared ?? true);
  const requests = await requestsFor(
    channel,
    users.map((u) => u.sid),
  );
  const before = await scrape(workerUrl, channel);
  const receiverBefore = workerUrl === url ? before : await scrape(url);
  const redisCpuBefore = await redisCpuSeconds();
  const callsBefore = await redisCalls();
  const since = Date.now();
  const result = await load(url, CHANNELS[channel].path, requests, name, overallRate, CHANNELS[channel].method);
  // Scraped at once: every scrape resets the event-loop delay histogram, and this one covers the answers.
  const loop = await scrape(url);
  await attemptsEnded(workerUrl, before.attempts, users.length, channel);
  const gcMs = (kind: string) => Math.round(((loop.gcSeconds[kind] ?? 0) - (receiverBefore.gcSeconds[kind] ?? 0)) * 1000);
  const { attempts: after, cpuSeconds } = await scrape(workerUrl, channel);
  const perLogoutMs = (seconds: number) => Number(((seconds * 1000) / users.length).toFixed(2));
  const receiverCpuSeconds = workerUrl === url ? 0 : (await scrape(url)).cpuSeconds - receiverBefore.cpuSeconds;
  const service = {
    cpuPerLogoutMs: perLogoutMs(cpuSeconds - before.cpuSeconds + receiverCpuSeconds),
    ...(workerUrl === url ? {} : { receiverCpuPerLogoutMs: perLogoutMs(receiverCpuSeconds), workerCpuPerLogoutMs: perLogoutMs(cpuSeconds - before.cpuSeconds) }),
    loopDelayMaxMs: loop.loopDelayMaxMs,
    loopDelayP99Ms: loop.loopDelayP99Ms,
    gcMajorMs: gcMs('major'),
    gcMinorMs: gcMs('minor'),
    gcIncrementalMs: gcMs('incremental'),
  };
  const redisCpuPerLogoutMs = Number(((((await redisCpuSeconds()) - redisCpuBefore) * 1000) / users.length).toFixed(2));
  const callsAfter = await redisCalls();
  const redisCallsPerLogout = Object.fromEntries(
    Object.entries(callsAfter)
      .map(([command, calls]) => [command, Number(((calls - (callsBefore[command] ?? 0)) / users.length).toFixed(2))] as const)
      .filter(([, perLogout]) => perLogout >= 0.01),
  );
  const pendingFirstAttempts = (after.pending ?? 0) - (before.attempts.pending ?? 0);
  const drain = await drained(prefix, users);
  const completion = await journaled(prefix, since, channel);
  log(
    `${name}: answered ${Math.round(result.rps)}/s, completed ${completion.completedPerSecond}/s (${completion.completed} of ${users.length}), ` +
      `completion p50 ${completion.completionP50Ms} ms p99 ${completion.completionP99Ms} ms; ${pendingFirstAttempts} first attempts ended pending; ` +
      `${drain.leftBehind} entries left (waited ${drain.drainSeconds} s more); Redis CPU ${redisCpuPerLogoutMs} ms per logout; ` +
      `service CPU ${service.cpuPerLogoutMs} ms per logout; event loop delay max ${service.loopDelayMaxMs} ms p99 ${service.loopDelayP99Ms} ms; GC major ${service.gcMajorMs} ms, minor ${service.gcMinorMs} ms, incremental ${service.gcIncrementalMs} ms`,
  );
  log(`${name}: Redis commands per logout ${JSON.stringify(redisCallsPerLogout)}`);
  return { result, sharedBytes, pendingFirstAttempts, redisCpuPerLogoutMs, redisCallsPerLogout, service, ...drain, ...completion };
}

const sweepUsers = Array.from({ length: SIZES.sweep }, (_, n) => benchUser(1, n));
const halfRateUsers = Array.from({ length: SIZES.sweep }, (_, n) => benchUser(2, n));
const sweepService = await startService('sweep', { store: { kind: 'redis', url: redisServer.url, keyPrefix: 'sweep:' }, issuers, apps: redisApps });
await warm(sweepService.url, BACKCHANNEL, 'sweep-warm-up', warmUp.slice(0, 500));
// Each of the two runs starts with its own users' sessions and caches, the shared partition holding them all.
log(`sweep: preloading ${sweepUsers.length} sessions and their accounts in 3 apps' token caches…`);
const sweepRunResult = await sweepRun(sweepService.url, sweepUsers, 'sweep');
const sweep = sweepRunResult.result;
// Half the rate logouts were carried out at (not the rate they were answered at).
const halfRateRun = await sweepRun(sweepService.url, halfRateUsers, 'sweep-half-rate', Math.max(1, Math.round(sweepRunResult.completedPerSecond / 2)));
const halfRate = halfRateRun.result;
const rssMb = await peakRssMb(sweepService.child.pid!);
// The front channel's sweep, by the same process once its peak RSS is read: each request names a preloaded session's sid.
await warm(sweepService.url, FRONTCHANNEL, 'frontchannel-sweep-warm-up', frontchannelWarmUp.slice(0, 500), 'GET');
const frontchannelSweep = await sweepRun(
  sweepService.url,
  Array.from({ length: SIZES.sweep }, (_, n) => benchUser(8, n)),
  'frontchannel-sweep',
  undefined,
  { channel: 'frontchannel' },
);
await stop(sweepService.child);

// ---- Split: the same sweep with one receiver process and one worker process on the same Redis; the
// worker runs at a lower OS priority (nice 10), so that on shared cores the answers come first.
const splitStore = { kind: 'redis', url: redisServer.url, keyPrefix: 'split:' };
const receiver = await startService('split-receiver', { store: splitStore, issuers, apps: redisApps }, { role: 'receiver' });
const worker = await startService('split-worker', { store: splitStore, issuers, apps: redisApps }, { role: 'worker', nice: 10 });
await warm(receiver.url, BACKCHANNEL, 'split-warm-up', warmUp.slice(0, 500));
const splitUsers = (batch: number) => Array.from({ length: SIZES.sweep }, (_, n) => benchUser(batch, n));
log(`split: preloading ${SIZES.sweep} sessions and their accounts in 3 apps' token caches…`);
const splitSweep = await sweepRun(receiver.url, splitUsers(4), 'split-sweep', undefined, { prefix: 'split:', workerUrl: worker.url });
const splitHalfRate = await sweepRun(receiver.url, splitUsers(5), 'split-sweep-half-rate', Math.max(1, Math.round(splitSweep.completedPerSecond / 2)), { prefix: 'split:', workerUrl: worker.url });
const splitNoShared = await sweepRun(receiver.url, splitUsers(6), 'split-sweep-no-shared', undefined, { prefix: 'split:', workerUrl: worker.url, withShared: false });
// The commands as sent, counted on a short run of its own at a modest rate (MONITOR slows Redis down),
// until nothing of its users is left (polled on the bench's own connection, which is not counted).
const sentUsers = splitUsers(7).slice(0, Math.min(200, SIZES.sweep));
await preload('split:', sentUsers, sentUsers.length, false);
const sentTokens = await provider.tokens(
  APPS.a,
  sentUsers.map((u) => u.sid),
);
const sentPerLogout = await redisCommandsSent(sentUsers.length, async () => {
  await load(receiver.url, BACKCHANNEL, sentTokens, 'split-commands-sent', 100);
  await drained('split:', sentUsers);
});
log(`split-commands-sent: Redis commands per logout as the clients sent them ${JSON.stringify(sentPerLogout)}`);
const receiverRssMb = await peakRssMb(receiver.child.pid!);
const workerRssMb = await peakRssMb(worker.child.pid!);

/**
 * The receiver's answers against a ceiling's at one rate, paced (bench/paced.ts), in alternating rounds:
 * the receiver gets logouts that each end a session whose account is in 3 apps' caches (the worker
 * carries them out, as in the split sweep), the ceiling as many requests of its own. Each round, the
 * ceiling's slice starts once the worker has carried out the receiver's previous slice; the receiver's
 * runs while the worker sweeps, as it would in production.
 */
async function pacedRun(name: string, channel: Channel, users: BenchUser[], ceilingUrl: string, rate: number) {
  const { path, method } = CHANNELS[channel];
  await preload('split:', users, users.length);
  // Warm-up requests (connections opened, the generator's code hot) that no one journals: a token that fails (400) on the back channel, a sid no session has on the front.
  const warmUp = mode === 'dry' ? 0 : 100;
  const warmUpRequests = (side: string) => (channel === 'frontchannel' ? distinct(`${name}-${side}-warm-up`, warmUp).map(frontchannelPath) : Array.from({ length: warmUp }, () => 'not-a-logout-token'));
  const generator = await pacedGenerator(name, rate, method, [
    { url: `${ceilingUrl}${path}`, requests: [...warmUpRequests('ceiling'), ...(await requestsFor(channel, distinct(`${name}-ceiling`, users.length)))] },
    {
      url: `${receiver.url}${path}`,
      requests: [
        ...warmUpRequests('receiver'),
        ...(await requestsFor(
          channel,
          users.map((u) => u.sid),
        )),
      ],
    },
  ]);
  const [CEILING, RECEIVER] = [0, 1];
  if (warmUp > 0) for (const target of [CEILING, RECEIVER]) await generator.slice({ target, from: 0, count: warmUp, record: false });
  const before = (await scrape(worker.url, channel)).attempts;
  const since = Date.now();
  const perRound = Math.floor(users.length / SIZES.pacedRounds);
  for (let r = 0; r < SIZES.pacedRounds; r++) {
    const from = warmUp + r * perRound;
    await generator.slice({ target: CEILING, from, count: perRound, record: true });
    await generator.slice({ target: RECEIVER, from, count: perRound, record: true });
    await attemptsEnded(worker.url, before, (r + 1) * perRound, channel);
  }
  const [ceilingAnswers, answers] = (await generator.finish()) as [PacedResult, PacedResult];
  const drain = await drained('split:', users);
  const completion = await journaled('split:', since, channel);
  log(
    `${name}: at ${rate}/s in ${SIZES.pacedRounds} rounds, receiver answer p50 ${answers.p50Ms} ms p99 ${answers.p99Ms} ms, ceiling p50 ${ceilingAnswers.p50Ms} ms p99 ${ceilingAnswers.p99Ms} ms; ` +
      `non-2xx ${answers.non2xx} and ${ceilingAnswers.non2xx}, errors ${answers.errors} and ${ceilingAnswers.errors}; completed ${completion.completed} of ${users.length}, completion p99 ${completion.completionP99Ms} ms; ${drain.leftBehind} entries left`,
  );
  return { rate, answers, ceiling: ceilingAnswers, ...drain, ...completion };
}
// At the split half rate (the back channel's, then the front channel's after its split sweep).
const pacedUsers = (batch: number) => Array.from({ length: SIZES.paced }, (_, n) => benchUser(batch, n));
const splitPaced = await pacedRun('split-paced', 'backchannel', pacedUsers(10), verifyCeiling.url, Math.max(1, Math.round(splitSweep.completedPerSecond / 2)));
await warm(receiver.url, FRONTCHANNEL, 'frontchannel-split-warm-up', frontchannelWarmUp.slice(0, 500), 'GET');
const frontchannelSplitSweep = await sweepRun(receiver.url, splitUsers(9), 'frontchannel-split-sweep', undefined, { prefix: 'split:', workerUrl: worker.url, channel: 'frontchannel' });
const frontchannelSplitPaced = await pacedRun('frontchannel-split-paced', 'frontchannel', pacedUsers(11), pageCeiling.url, Math.max(1, Math.round(frontchannelSplitSweep.completedPerSecond / 2)));
await stop(receiver.child);
await stop(worker.child);
await stop(verifyCeiling.child);
await stop(pageCeiling.child);

// ---- Scale: the same sweep at the same fixed rate with few and with many sessions stored; the session
// lookup happens after the answer, so what counts is the time from receipt to completion. The shared
// partition is left out here: its rounds' ups and downs (hundreds of ms) would drown what the number
// of stored sessions costs, which is what this compares.
const scaleRate = Math.max(1, Math.round(sweepRunResult.completedPerSecond / 2));
async function scaleRun(sessions: number) {
  await redis.flushall();
  const users = Array.from({ length: SIZES.scaleTokens }, (_, n) => benchUser(3, n));
  log(`scale: preloading ${sessions.toLocaleString('en')} sessions…`);
  await preload('scale:', users, sessions, false);
  const tokens = await provider.tokens(
    APPS.a,
    users.map((u) => u.sid),
  );
  const service = await startService(`scale-${sessions}`, { store: { kind: 'redis', url: redisServer.url, keyPrefix: 'scale:' }, issuers, apps: redisApps });
  await warm(service.url, BACKCHANNEL, `scale-${sessions}-warm-up`, warmUp.slice(0, 500));
  const before = (await scrape(service.url)).attempts;
  const since = Date.now();
  const result = await load(service.url, BACKCHANNEL, tokens, `scale-${sessions}`, scaleRate);
  await attemptsEnded(service.url, before, tokens.length);
  const completion = await journaled('scale:', since);
  log(`scale-${sessions}: completion p50 ${completion.completionP50Ms} ms, p99 ${completion.completionP99Ms} ms (${completion.completed} of ${tokens.length})`);
  await stop(service.child);
  return { result, ...completion };
}
const scaleSmall = await scaleRun(SIZES.scaleSmall);
const scaleLarge = await scaleRun(SIZES.scaleLarge);
await redis.quit();
await stop(redisServer.child);
provider.close();
await rm(dir, { recursive: true, force: true });

const ratio = (a: number, b: number) => (b > 0 ? Number((a / b).toFixed(3)) : 0);
const summary = (r: LoadResult) => ({ rps: Math.round(r.rps), p50Ms: r.p50Ms, p99Ms: r.p99Ms, non2xx: r.non2xx, errors: r.errors });
/** A sweep run: `rps` is logouts carried out per second; the answers' own rate and latency are beside it. */
const sweepSummary = (run: Awaited<ReturnType<typeof sweepRun>>) => ({
  rps: run.completedPerSecond,
  completed: run.completed,
  completionP50Ms: run.completionP50Ms,
  completionP99Ms: run.completionP99Ms,
  answeredRps: Math.round(run.result.rps),
  p50Ms: run.result.p50Ms,
  p99Ms: run.result.p99Ms,
  non2xx: run.result.non2xx,
  errors: run.result.errors,
  pendingFirstAttempts: run.pendingFirstAttempts,
  redisCpuPerLogoutMs: run.redisCpuPerLogoutMs,
  redisCallsPerLogout: run.redisCallsPerLogout,
  drainSeconds: run.drainSeconds,
  service: run.service,
});
/** A paced run: the receiver's answers and the ceiling's, each pooled over the rounds, each round's p99s, and how the receiver's logouts were carried out. */
const pacedSummary = (run: Awaited<ReturnType<typeof pacedRun>>) => ({
  rate: run.rate,
  rounds: SIZES.pacedRounds,
  requests: run.answers.requests,
  p50Ms: run.answers.p50Ms,
  p99Ms: run.answers.p99Ms,
  maxMs: run.answers.maxMs,
  non2xx: run.answers.non2xx,
  errors: run.answers.errors,
  ceilingRequests: run.ceiling.requests,
  ceilingP50Ms: run.ceiling.p50Ms,
  ceilingP99Ms: run.ceiling.p99Ms,
  ceilingMaxMs: run.ceiling.maxMs,
  ceilingNon2xx: run.ceiling.non2xx,
  ceilingErrors: run.ceiling.errors,
  roundsP99Ms: run.answers.slicesP99Ms.map((p99Ms, i) => ({ p99Ms, ceilingP99Ms: run.ceiling.slicesP99Ms[i] ?? 0 })),
  completed: run.completed,
  completionP50Ms: run.completionP50Ms,
  completionP99Ms: run.completionP99Ms,
  leftBehind: run.leftBehind,
});
const scaleSummary = (run: Awaited<ReturnType<typeof scaleRun>>) => ({
  completionP50Ms: run.completionP50Ms,
  completionP99Ms: run.completionP99Ms,
  completed: run.completed,
  ...summary(run.result),
});
const result = {
  machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  mode,
  serviceLogLevel: logLevel,
  connections,
  tokensPerRun: SIZES,
  verifyCeiling: { ...summary(ceiling) },
  joseVerifiesPerSecond64InFlight: joseVerifies,
  backchannelNoSession: { ...summary(noSession), tokensUsed: noSession.tokensUsed, tokensAvailable: noSession.tokensAvailable, rssMb: noSessionRssMb },
  ratioNoSessionToCeiling: roundsRatio(rounds, 1, 0),
  noSessionRounds: rounds.map(([c, o, p]) => ({ ceilingRps: Math.round(c!.rps), noSessionRps: Math.round(o!.rps), peerRps: Math.round(p!.rps) })),
  peer: { name: 'express-openid-connect 3.x', ...summary(peer), ratio: roundsRatio(rounds, 1, 2) },
  backchannelSweep: {
    ...sweepSummary(sweepRunResult),
    apps: 3,
    sharedPartitionAccounts: sweepUsers.length,
    sharedPartitionBytes: sweepRunResult.sharedBytes,
    leftBehind: sweepRunResult.leftBehind + halfRateRun.leftBehind,
  },
  ratioSweepToCeiling: ratio(sweepRunResult.completedPerSecond, ceiling.rps),
  sweepHalfRate: { rate: Math.round(sweepRunResult.completedPerSecond / 2), ...sweepSummary(halfRateRun) },
  scale: {
    rate: scaleRate,
    caches: '3 apps, per-account partitions only (the shared app has none)',
    small: { sessions: SIZES.scaleSmall, ...scaleSummary(scaleSmall) },
    large: { sessions: SIZES.scaleLarge, ...scaleSummary(scaleLarge) },
    p50Ratio: ratio(scaleLarge.completionP50Ms, scaleSmall.completionP50Ms),
    ratio: ratio(scaleLarge.completionP99Ms, scaleSmall.completionP99Ms),
  },
  rssMb,
  split: {
    workerNice: 10,
    backchannelSweep: { ...sweepSummary(splitSweep), leftBehind: splitSweep.leftBehind + splitHalfRate.leftBehind, ratioToCeiling: ratio(splitSweep.completedPerSecond, ceiling.rps) },
    backchannelSweepNoShared: { ...sweepSummary(splitNoShared), leftBehind: splitNoShared.leftBehind, ratioToCeiling: ratio(splitNoShared.completedPerSecond, ceiling.rps) },
    sweepHalfRate: { rate: Math.max(1, Math.round(splitSweep.completedPerSecond / 2)), ...sweepSummary(splitHalfRate), p99Ratio: ratio(splitPaced.answers.p99Ms, splitPaced.ceiling.p99Ms), paced: pacedSummary(splitPaced) },
    receiverRssMb,
    workerRssMb,
    redisCallsPerLogout: splitNoShared.redisCallsPerLogout,
    redisCommandsSentPerLogout: sentPerLogout,
  },
  frontchannel: {
    ceiling: { ...summary(frontchannelCeiling), sameAnswer },
    noSessionMemory: { ...summary(frontchannelNoSessionMemory), ratioToCeiling: roundsRatio(frontchannelRounds, 1, 0) },
    noSessionRedis: { ...summary(frontchannelNoSessionRedis), ratioToCeiling: roundsRatio(frontchannelRounds, 2, 0) },
    noSessionRounds: frontchannelRounds.map(([c, m, r]) => ({ ceilingRps: Math.round(c!.rps), memoryRps: Math.round(m!.rps), redisRps: Math.round(r!.rps) })),
    sweep: { ...sweepSummary(frontchannelSweep), leftBehind: frontchannelSweep.leftBehind, ratioToCeiling: ratio(frontchannelSweep.completedPerSecond, frontchannelCeiling.rps) },
    split: {
      sweep: { ...sweepSummary(frontchannelSplitSweep), leftBehind: frontchannelSplitSweep.leftBehind, ratioToCeiling: ratio(frontchannelSplitSweep.completedPerSecond, frontchannelCeiling.rps) },
      sweepHalfRate: { p99Ratio: ratio(frontchannelSplitPaced.answers.p99Ms, frontchannelSplitPaced.ceiling.p99Ms), paced: pacedSummary(frontchannelSplitPaced) },
    },
  },
  seconds: Math.round((performance.now() - started) / 1000),
};

const check = (ok: boolean) => (ok ? 'met' : 'MISSED');
const total = (perCommand: Record<string, number>) => Object.values(perCommand).reduce((a, b) => a + b, 0);
const rows: [string, string, string][] = [
  ['verify-only ceiling (Fastify + formbody + jose)', `${result.verifyCeiling.rps} req/s`, `p99 ${ceiling.p99Ms} ms`],
  ['jose jwtVerify, 64 in flight, one core', `${joseVerifies} /s`, ''],
  [`back-channel, no session (memory store)`, `${result.backchannelNoSession.rps} req/s`, `p99 ${noSession.p99Ms} ms`],
  ['  ratio to ceiling (target ≥ 0.8)', `${result.ratioNoSessionToCeiling}`, check(result.ratioNoSessionToCeiling >= 0.8)],
  ['peer: express-openid-connect, same tokens', `${result.peer.rps} req/s`, `p99 ${peer.p99Ms} ms`],
  ['  ours / peer (target ≥ 1.5)', `${result.peer.ratio}`, check(result.peer.ratio >= 1.5)],
  [`back-channel sweep (Redis, 3 apps, shared ${result.backchannelSweep.sharedPartitionAccounts} accts), carried out`, `${result.backchannelSweep.rps} /s`, `completion p99 ${sweepRunResult.completionP99Ms} ms`],
  ['  answered (once journaled)', `${result.backchannelSweep.answeredRps} req/s`, `p99 ${sweep.p99Ms} ms`],
  ['  first attempts left pending; left behind', `${sweepRunResult.pendingFirstAttempts}`, `${result.backchannelSweep.leftBehind}`],
  ['  ratio to ceiling (target ≥ 0.3)', `${result.ratioSweepToCeiling}`, check(result.ratioSweepToCeiling >= 0.3)],
  [`  at half that rate (${result.sweepHalfRate.rate}/s): answer p99 (target ≤ 20 ms)`, `${halfRate.p99Ms} ms`, check(halfRate.p99Ms <= 20)],
  [`  at half that rate: completion p50 / p99`, `${halfRateRun.completionP50Ms} ms`, `${halfRateRun.completionP99Ms} ms`],
  [`scale at ${scaleRate}/s (per-account partitions): ${SIZES.scaleSmall.toLocaleString('en')} sessions, completion`, `p99 ${scaleSmall.completionP99Ms} ms`, `p50 ${scaleSmall.completionP50Ms} ms`],
  [`scale at ${scaleRate}/s (per-account partitions): ${SIZES.scaleLarge.toLocaleString('en')} sessions, completion`, `p99 ${scaleLarge.completionP99Ms} ms`, `p50 ${scaleLarge.completionP50Ms} ms`],
  ['  p99 ratio (target ≤ 1.2)', `${result.scale.ratio}`, check(result.scale.ratio <= 1.2)],
  ['service peak RSS in the sweep (target ≤ 150 MB)', `${rssMb} MB`, check(rssMb <= 150)],
  ['split (a receiver, a worker at nice 10): sweep carried out', `${result.split.backchannelSweep.rps} /s`, `completion p99 ${splitSweep.completionP99Ms} ms`],
  ['  ratio to ceiling (target ≥ 0.15)', `${result.split.backchannelSweep.ratioToCeiling}`, check(result.split.backchannelSweep.ratioToCeiling >= 0.15)],
  ['  without the shared partition (2 per-account apps, the third one absent): carried out', `${result.split.backchannelSweepNoShared.rps} /s`, `ratio ${result.split.backchannelSweepNoShared.ratioToCeiling}`],
  [`  at half that rate (${result.split.sweepHalfRate.rate}/s): receiver answer p99 (target ≤ 20 ms)`, `${splitHalfRate.result.p99Ms} ms`, check(splitHalfRate.result.p99Ms <= 20)],
  [`  paced at that rate, alternated with the verify-only ceiling: receiver answer p50 / p99`, `${splitPaced.answers.p50Ms} ms`, `${splitPaced.answers.p99Ms} ms`],
  [`  the verify-only ceiling there: answer p50 / p99`, `${splitPaced.ceiling.p50Ms} ms`, `${splitPaced.ceiling.p99Ms} ms`],
  ['  receiver p99 / ceiling p99 (target ≤ 2)', `${result.split.sweepHalfRate.p99Ratio}`, check(result.split.sweepHalfRate.p99Ratio <= 2)],
  ['  receiver peak RSS (target ≤ 150 MB)', `${receiverRssMb} MB`, check(receiverRssMb <= 150)],
  ['  worker peak RSS (target ≤ 200 MB)', `${workerRssMb} MB`, check(workerRssMb <= 200)],
  [
    '  Redis commands per logout without the shared partition (target ≤ 12)',
    `${Object.values(result.split.redisCallsPerLogout)
      .reduce((a, b) => a + b, 0)
      .toFixed(1)}`,
    check(Object.values(result.split.redisCallsPerLogout).reduce((a, b) => a + b, 0) <= 12),
  ],
  ['  the same, as the clients sent them (a script once; target ≤ 12)', `${total(result.split.redisCommandsSentPerLogout).toFixed(1)}`, check(total(result.split.redisCommandsSentPerLogout) <= 12)],
  ['front-channel ceiling (Fastify, the same page and headers)', `${result.frontchannel.ceiling.rps} req/s`, `p99 ${frontchannelCeiling.p99Ms} ms`],
  ['front-channel, no session (memory store)', `${result.frontchannel.noSessionMemory.rps} req/s`, `p99 ${frontchannelNoSessionMemory.p99Ms} ms`],
  ['  ratio to ceiling', `${result.frontchannel.noSessionMemory.ratioToCeiling}`, ''],
  ['front-channel, no session (Redis store)', `${result.frontchannel.noSessionRedis.rps} req/s`, `p99 ${frontchannelNoSessionRedis.p99Ms} ms`],
  ['  ratio to ceiling', `${result.frontchannel.noSessionRedis.ratioToCeiling}`, ''],
  ["front-channel sweep (one process, as the back channel's), carried out", `${result.frontchannel.sweep.rps} /s`, `completion p99 ${frontchannelSweep.completionP99Ms} ms`],
  ['  answered (once journaled)', `${result.frontchannel.sweep.answeredRps} req/s`, `p99 ${frontchannelSweep.result.p99Ms} ms`],
  ['front-channel split sweep (a receiver, a worker at nice 10), carried out', `${result.frontchannel.split.sweep.rps} /s`, `completion p99 ${frontchannelSplitSweep.completionP99Ms} ms`],
  ['  answered (once journaled)', `${result.frontchannel.split.sweep.answeredRps} req/s`, `p99 ${frontchannelSplitSweep.result.p99Ms} ms`],
  [`  paced at half that rate (${frontchannelSplitPaced.rate}/s), alternated with the ceiling: receiver answer p50 / p99`, `${frontchannelSplitPaced.answers.p50Ms} ms`, `${frontchannelSplitPaced.answers.p99Ms} ms`],
  ['  the ceiling there: answer p50 / p99', `${frontchannelSplitPaced.ceiling.p50Ms} ms`, `${frontchannelSplitPaced.ceiling.p99Ms} ms`],
  ['  receiver p99 / ceiling p99 (target ≤ 2)', `${result.frontchannel.split.sweepHalfRate.p99Ratio}`, check(result.frontchannel.split.sweepHalfRate.p99Ratio <= 2)],
];
for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(62)} ${b.padStart(14)}  ${c}\n`);
const problems = [
  ...[
    ['ceiling', ceiling],
    ['no-session', noSession],
    ['peer', peer],
    ['sweep', sweep],
    ['sweep at half rate', halfRate],
    ['split sweep', splitSweep.result],
    ['split sweep at half rate', splitHalfRate.result],
    ['split sweep without the shared partition', splitNoShared.result],
    ['scale small', scaleSmall.result],
    ['scale large', scaleLarge.result],
    ['front-channel ceiling', frontchannelCeiling],
    ['front-channel no session, memory store', frontchannelNoSessionMemory],
    ['front-channel no session, Redis store', frontchannelNoSessionRedis],
    ['front-channel sweep', frontchannelSweep.result],
    ['front-channel split sweep', frontchannelSplitSweep.result],
    ['split paced, receiver', splitPaced.answers],
    ['split paced, verify-only ceiling', splitPaced.ceiling],
    ['front-channel split paced, receiver', frontchannelSplitPaced.answers],
    ['front-channel split paced, ceiling', frontchannelSplitPaced.ceiling],
  ].flatMap(([name, r]) => ((r as LoadResult).non2xx + (r as LoadResult).errors > 0 ? [`${name}: ${(r as LoadResult).non2xx} non-2xx answers, ${(r as LoadResult).errors} errors`] : [])),
  ...(result.split.backchannelSweep.leftBehind + result.split.backchannelSweepNoShared.leftBehind > 0
    ? [`split sweep: ${result.split.backchannelSweep.leftBehind + result.split.backchannelSweepNoShared.leftBehind} sessions or cache entries of logged-out users left behind after 60 s`]
    : []),
  ...(result.backchannelSweep.leftBehind > 0 ? [`sweep: ${result.backchannelSweep.leftBehind} sessions or cache entries of logged-out users left behind after 60 s`] : []),
  ...(sweepRunResult.pendingFirstAttempts + halfRateRun.pendingFirstAttempts > 0 ? [`sweep: ${sweepRunResult.pendingFirstAttempts + halfRateRun.pendingFirstAttempts} logouts were finished by the worker, not by their first attempt`] : []),
  ...[
    ['sweep', sweepRunResult.completed, sweepUsers.length],
    ['sweep at half rate', halfRateRun.completed, halfRateUsers.length],
    ['split sweep', splitSweep.completed, SIZES.sweep],
    ['split sweep at half rate', splitHalfRate.completed, SIZES.sweep],
    ['split sweep without the shared partition', splitNoShared.completed, SIZES.sweep],
    ['scale small', scaleSmall.completed, SIZES.scaleTokens],
    ['scale large', scaleLarge.completed, SIZES.scaleTokens],
    ['front-channel sweep', frontchannelSweep.completed, SIZES.sweep],
    ['front-channel split sweep', frontchannelSplitSweep.completed, SIZES.sweep],
    ['split paced', splitPaced.completed, SIZES.paced],
    ['front-channel split paced', frontchannelSplitPaced.completed, SIZES.paced],
  ].flatMap(([name, done, sent]) => (done !== sent ? [`${name}: the journal has ${done} completed logouts of the ${sent} sent`] : [])),
  ...[
    ['front-channel sweep', frontchannelSweep.leftBehind],
    ['front-channel split sweep', frontchannelSplitSweep.leftBehind],
    ['split paced', splitPaced.leftBehind],
    ['front-channel split paced', frontchannelSplitPaced.leftBehind],
  ].flatMap(([name, left]) => ((left as number) > 0 ? [`${name}: ${left} sessions or cache entries of logged-out users left behind after 60 s`] : [])),
  ...(sameAnswer ? [] : ["front-channel ceiling: its answer differs from the service's (see above)"]),
];
for (const p of problems) process.stdout.write(`WARNING: ${p}\n`);
process.stdout.write(`(${mode} run, ${result.seconds} s)\n`);
if (args.has('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
