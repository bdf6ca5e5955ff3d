/**
 * The paced load generator, in a process of its own: requests evenly spaced at a fixed rate, one every
 * 1/rate s whatever the answers do (autocannon's `overallRate` sends each second's share at once, as
 * fast as its connections go). The bench drives it slice by slice over stdin, so that it can alternate
 * servers and wait between slices: each line `{"target": i, "from": n, "count": m, "record": bool}` sends
 * lines n to n+m of target i's requests and answers `{"done": i}` once every answer is in; `{"end": true}`
 * makes it print, per target, the recorded answers' latencies pooled over the slices and each slice's p99.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

export interface PacedTarget {
  url: string;
  /** One request per line: a `logout_token` POSTed as a form to `url`, or (GET) a path and query requested on `url`'s origin. */
  requestsFile: string;
  method: 'POST' | 'GET';
}

export interface PacedSpec {
  targets: PacedTarget[];
  /** Requests per second, the same for every server. */
  rate: number;
  /** At most this many connections per server (more requests in flight wait for one: that wait counts). */
  connections: number;
}

export interface PacedSlice {
  target: number;
  from: number;
  count: number;
  /** False for a warm-up: its answers are not counted. */
  record: boolean;
}

export interface PacedResult {
  /** Recorded answers (of any status). */
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  /** Each recorded slice's p99. */
  slicesP99Ms: number[];
}

const spec = JSON.parse(process.argv[2]!) as PacedSpec;
const at = (sorted: number[], q: number) => Number((sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0).toFixed(2));
const servers = spec.targets.map((target) => {
  const url = new URL(target.url);
  const lines = readFileSync(target.requestsFile, 'utf8').split('\n').filter(Boolean);
  return { target, url, lines, pool: new Pool(url.origin, { connections: spec.connections }), latencies: [] as number[], slicesP99Ms: [] as number[], non2xx: 0, errors: 0 };
});

/** Sends the slice's requests evenly spaced at the rate; resolves once every answer is in. */
async function send({ target, from, count, record }: PacedSlice): Promise<void> {
  const server = servers[target]!;
  const { url, pool } = server;
  const lines = server.lines.slice(from, from + count);
  const interval = 1000 / spec.rate;
  const start = performance.now();
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const answers: Promise<void>[] = [];
  for (let i = 0; i < lines.length; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    const request = server.target.method === 'GET' ? { method: 'GET' as const, path: lines[i]! } : { method: 'POST' as const, path: url.pathname, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${lines[i]!}` };
    const sent = performance.now();
    answers.push(
      pool.request(request).then(
        async ({ statusCode, body }) => {
          await body.dump();
          latencies.push(performance.now() - sent);
          if (statusCode < 200 || statusCode > 299) non2xx++;
        },
        () => void errors++,
      ),
    );
  }
  await Promise.all(answers);
  if (!record) return;
  server.latencies.push(...latencies);
  server.slicesP99Ms.push(
    at(
      [...latencies].sort((a, b) => a - b),
      0.99,
    ),
  );
  server.non2xx += non2xx;
  server.errors += errors;
}

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as PacedSlice | { end: true };
  if ('end' in command) break;
  await send(command);
  process.stdout.write(`${JSON.stringify({ done: command.target })}\n`);
}
await Promise.all(servers.map((s) => s.pool.close()));
const results: PacedResult[] = servers.map((s) => {
  const sorted = [...s.latencies].sort((a, b) => a - b);
  return { requests: sorted.length, p50Ms: at(sorted, 0.5), p99Ms: at(sorted, 0.99), maxMs: at(sorted, 1), non2xx: s.non2xx, errors: s.errors, slicesP99Ms: s.slicesP99Ms };
});
process.stdout.write(`${JSON.stringify(results)}\n`);
