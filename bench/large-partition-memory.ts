/**
 * Peak memory of a process that removes every account from one large shared partition, as the worker does
 * in the bench's sweep, without the rest of the service: `npx tsx bench/large-partition-memory.ts [users]
 * [rate] [repeats] [variant…]` (defaults: 2,000 users, 1,000 removals/s, 2 repeats, the variant `default`).
 * A variant is node flags and environment settings for the process, space-separated in one argument
 * (`'--max-old-space-size=512 MALLOC_MMAP_THRESHOLD_=131072'`); `default` is none. A Redis of its own; for
 * each repeat and variant in turn the shared partition is written again (real msal-node entries, as
 * bench/preload.ts builds them, 13.5 MB for 2,000 users) and a child process of its own runs the Redis store
 * and the sweeper, asking the removals at the rate given. It prints one JSON line per child: its peak RSS
 * (VmHWM; MiB throughout, as the bench's), `process.memoryUsage()` sampled every 5 ms (peaks, and the sample at the highest RSS), resident
 * MB by kind of mapping at the highest RSS (`brk`: the malloc heap; `anon<1M`: mostly V8's pages; `anon>=1M`:
 * large buffers malloc mapped on their own), and the rounds (a read, a removal and a write each).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { CACHE_FORMATS } from '../src/cache-formats/formats.js';
import { TokenCacheSweeper } from '../src/core/token-cache-sweeper.js';
import type { PartitionContext, TokenCacheStore } from '../src/core/token-cache.js';
import { RedisTokenCacheStore } from '../src/token-caches/redis.js';
import { benchUser, preloadCaches } from './preload.js';
import { startRedis } from './redis-server.js';

const SHARED = { clientId: 'bench-app-shared', key: 'msal:bench-app-shared:all-users' };
/** MiB, as the bench reports VmHWM (kB / 1024). */
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

interface ChildResult {
  vmHwmMb: number;
  startRssMb: number;
  peaks: { rssMb: number; heapUsedMb: number; externalMb: number; arrayBuffersMb: number };
  atPeakRss: { heapTotalMb: number; heapUsedMb: number; arrayBuffersMb: number; residentByMappingMb: Record<string, number> };
  rounds: number;
  roundMs: { p50: number; p90: number; max: number };
  seconds: number;
  removed: number;
}

/** Resident MB by kind of mapping (/proc/self/smaps). */
function residentByMapping(): Record<string, number> {
  const kinds: Record<string, number> = {};
  let kind = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[3]!;
      const large = parseInt(head[2]!, 16) - parseInt(head[1]!, 16) >= 1 << 20;
      kind = name === '[heap]' ? 'brk' : name === '' ? (large ? 'anon>=1M' : 'anon<1M') : name.startsWith('/') ? 'files' : 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]) * 1024;
  }
  return Object.fromEntries(Object.entries(kinds).map(([k, bytes]) => [k, mb(bytes)]));
}

/** One child: the store and the sweeper alone, removing `users` accounts at `rate` per second. */
async function child(url: string, users: number, rate: number): Promise<void> {
  const startRssMb = mb(process.memoryUsage().rss);
  const peaks = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  let atPeak = { memory: process.memoryUsage(), mappings: {} as Record<string, number> };
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    // Mappings read again only when the peak grew by 4 MB: reading smaps takes a few milliseconds.
    if (m.rss > peaks.rss + 4 * 1048576) atPeak = { memory: m, mappings: residentByMapping() };
    for (const k of ['rss', 'heapUsed', 'external', 'arrayBuffers'] as const) peaks[k] = Math.max(peaks[k], m[k]);
  }, 5);
  const store = new RedisTokenCacheStore(new Redis(url), true);
  const roundMs: number[] = [];
  const timed: TokenCacheStore = {
    readForUpdate: async (key: string, context?: PartitionContext) => {
      const started = performance.now();
      const update = await store.readForUpdate(key, context);
      return {
        ...update,
        release: () => {
          roundMs.push(performance.now() - started);
          update.release();
        },
      };
    },
  };
  const app = { clientId: SHARED.clientId, name: 'shared', issuers: [], tokenCache: { kind: 'redis', key: SHARED.key } };
  const sweeper = new TokenCacheSweeper([{ app, store: timed }], { formats: CACHE_FORMATS });
  const started = performance.now();
  const removals: Promise<{ outcome: string }[]>[] = [];
  // Every 10 ms a tick's worth of removals, as logouts reach the worker.
  const perTick = Math.max(1, Math.round(rate / 100));
  for (let n = 0; n < users; n += perTick) {
    for (let k = n; k < Math.min(users, n + perTick); k++) removals.push(sweeper.sweep([{ homeAccountId: benchUser(1, k).homeAccountId, cacheKeys: new Map() }]));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const outcomes = (await Promise.all(removals)).flat();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  await store.close();
  roundMs.sort((a, b) => a - b);
  const at = (q: number) => Math.round(roundMs[Math.min(roundMs.length - 1, Math.floor(q * roundMs.length))] ?? 0);
  const result: ChildResult = {
    vmHwmMb: mb(Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024),
    startRssMb,
    peaks: { rssMb: mb(peaks.rss), heapUsedMb: mb(peaks.heapUsed), externalMb: mb(peaks.external), arrayBuffersMb: mb(peaks.arrayBuffers) },
    atPeakRss: { heapTotalMb: mb(atPeak.memory.heapTotal), heapUsedMb: mb(atPeak.memory.heapUsed), arrayBuffersMb: mb(atPeak.memory.arrayBuffers), residentByMappingMb: atPeak.mappings },
    rounds: roundMs.length,
    roundMs: { p50: at(0.5), p90: at(0.9), max: Math.round(roundMs.at(-1) ?? 0) },
    seconds: Number(seconds.toFixed(2)),
    removed: outcomes.filter((o) => o.outcome === 'removed').length,
  };
  console.log(JSON.stringify(result));
}

/** Every variant in turn, `repeats` times, each child on a freshly written partition. */
async function parent(users: number, rate: number, repeats: number, variants: string[]): Promise<void> {
  const server = await startRedis();
  const redis = new Redis(server.url);
  const accounts = Array.from({ length: users }, (_, n) => benchUser(1, n));
  try {
    for (let repeat = 1; repeat <= repeats; repeat++) {
      for (const variant of variants) {
        const settings = variant === 'default' ? [] : variant.split(' ').filter(Boolean);
        const flags = settings.filter((s) => s.startsWith('--'));
        const env = Object.fromEntries(settings.filter((s) => !s.startsWith('--')).map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));
        const { sharedBytes } = await preloadCaches(redis, { perAccount: [], shared: SHARED }, accounts);
        const proc = spawn('node', [...flags, '--import', 'tsx', fileURLToPath(import.meta.url), '--child', server.url, String(users), String(rate)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        proc.stdout!.on('data', (chunk: Buffer) => (out += chunk));
        const [code] = (await once(proc, 'exit')) as [number | null];
        if (code !== 0) throw new Error(`the child (${variant}) exited with ${code}`);
        const result = JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
        console.log(JSON.stringify({ repeat, variant, sharedMb: mb(sharedBytes), ...result, partitionLeft: await redis.exists(SHARED.key) }));
      }
    }
  } finally {
    redis.disconnect();
    server.child.kill();
  }
}

const args = process.argv.slice(2);
if (args[0] === '--child') await child(args[1]!, Number(args[2]), Number(args[3]));
else await parent(Number(args[0] ?? 2_000), Number(args[1] ?? 1_000), Number(args[2] ?? 2), args.length > 3 ? args.slice(3) : ['default']);
