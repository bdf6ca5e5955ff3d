// What a service process's memory is made of during a bench run, loaded into each one with
// `BENCH_NODE_FLAGS=--import=./bench/memory-sampler.mjs` (and `BENCH_MEMORY_DIR`, /tmp by default). Writes
// <dir>/memory-<pid>.jsonl: a first line with the process's argv and role, then every 10 ms
// `process.memoryUsage()` and V8's old, new and large-object spaces (MiB), each garbage collection (kind
// as perf_hooks numbers it: 1 minor, 4 major, 8 incremental, 16 weak callbacks), and, whenever RSS grew by
// 4 MiB past its highest, the resident MiB by kind of mapping (`brk`: the malloc heap; `anon<1M`: mostly
// V8's pages; `anon>=1M`: large buffers malloc mapped on their own; `files`: code and libraries).
import { appendFileSync, readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const file = `${process.env.BENCH_MEMORY_DIR ?? '/tmp'}/memory-${process.pid}.jsonl`;
const mib = (bytes) => Math.round((bytes / 1048576) * 10) / 10;
appendFileSync(file, `${JSON.stringify({ argv: process.argv.slice(1), role: process.env.LOGOUT_RECEIVER_ROLE ?? null })}\n`);
let lines = [];
const flush = () => {
  if (lines.length > 0) appendFileSync(file, `${lines.join('\n')}\n`);
  lines = [];
};

function residentByMapping() {
  const kinds = {};
  let kind = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const large = parseInt(head[2], 16) - parseInt(head[1], 16) >= 1 << 20;
      kind = head[3] === '[heap]' ? 'brk' : head[3] === '' ? (large ? 'anon>=1M' : 'anon<1M') : head[3].startsWith('/') ? 'files' : 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]) * 1024;
  }
  return Object.fromEntries(Object.entries(kinds).map(([k, bytes]) => [k, mib(bytes)]));
}

let highest = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s]));
  const t = Math.round(performance.now());
  lines.push(
    JSON.stringify({
      t,
      rss: mib(m.rss),
      heapTotal: mib(m.heapTotal),
      heapUsed: mib(m.heapUsed),
      external: mib(m.external),
      arrayBuffers: mib(m.arrayBuffers),
      oldUsed: mib(spaces.old_space.space_used_size),
      oldSize: mib(spaces.old_space.space_size),
      newSize: mib(spaces.new_space.space_size),
      largeObjects: mib(spaces.large_object_space.space_size),
    }),
  );
  if (m.rss > highest + 4 * 1048576) {
    highest = m.rss;
    lines.push(JSON.stringify({ t, rss: mib(m.rss), residentByMapping: residentByMapping() }));
  }
  if (lines.length >= 200) flush();
}, 10);
sampler.unref();
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) lines.push(JSON.stringify({ t: Math.round(entry.startTime), gc: entry.detail?.kind, ms: Number(entry.duration.toFixed(2)) }));
}).observe({ entryTypes: ['gc'] });
process.on('exit', flush);
