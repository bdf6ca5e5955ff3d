/**
 * The paced load generator, in a process of its own: requests evenly spaced at a fixed rate, one every
 * 1/rate s whatever the answers do (autocannon's `overallRate` sends each second's share at once, as
 * fast as its connections go), to several servers in turn: in each round, each server gets the next
 * slice of its own requests. Prints, per server, its answers' latencies pooled over the rounds and each
 * round's p99, as one JSON line.
 */
import { readFileSync } from 'node:fs';
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
  rounds: number;
  /** Requests per second, the same for every server. */
  rate: number;
  /** At most this many connections per server (more requests in flight wait for one: that wait counts). */
  connections: number;
}

export interface PacedResult {
  /** Answers received (of any status). */
  requests: number;
  /** Answers per second of the slices' time (each from its first request sent to its last answer). */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  /** Each round's p99. */
  roundsP99Ms: number[];
}

const spec = JSON.parse(process.argv[2]!) as PacedSpec;
const at = (sorted: number[], q: number) => Number((sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0).toFixed(2));

const servers = spec.targets.map((target) => {
  const url = new URL(target.url);
  const lines = readFileSync(target.requestsFile, 'utf8').split('\n').filter(Boolean);
  return { target, url, lines, pool: new Pool(url.origin, { connections: spec.connections }), latencies: [] as number[], roundsP99Ms: [] as number[], non2xx: 0, errors: 0, busyMs: 0, answered: 0 };
});
type Server = (typeof servers)[number];

/** Sends `lines` to the server evenly spaced at the rate; resolves once every answer is in. */
async function slice(server: Server, lines: string[]): Promise<void> {
  const { target, url, pool } = server;
  const interval = 1000 / spec.rate;
  const start = performance.now();
  const latencies: number[] = [];
  const answers: Promise<void>[] = [];
  for (let i = 0; i < lines.length; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    const request = target.method === 'GET' ? { method: 'GET' as const, path: lines[i]! } : { method: 'POST' as const, path: url.pathname, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${lines[i]!}` };
    const sent = performance.now();
    answers.push(
      pool.request(request).then(
        async ({ statusCode, body }) => {
          await body.dump();
          latencies.push(performance.now() - sent);
          if (statusCode < 200 || statusCode > 299) server.non2xx++;
        },
        () => void server.errors++,
      ),
    );
  }
  await Promise.all(answers);
  server.busyMs += performance.now() - start;
  server.answered += latencies.length;
  server.latencies.push(...latencies);
  server.roundsP99Ms.push(
    at(
      [...latencies].sort((a, b) => a - b),
      0.99,
    ),
  );
}

for (let round = 0; round < spec.rounds; round++) {
  for (const server of servers) {
    const per = Math.floor(server.lines.length / spec.rounds);
    await slice(server, server.lines.slice(round * per, (round + 1) * per));
  }
}
await Promise.all(servers.map((s) => s.pool.close()));
const results: PacedResult[] = servers.map((s) => {
  const sorted = [...s.latencies].sort((a, b) => a - b);
  return { requests: s.answered, rps: s.busyMs > 0 ? Math.round((s.answered * 1000) / s.busyMs) : 0, p50Ms: at(sorted, 0.5), p99Ms: at(sorted, 0.99), maxMs: at(sorted, 1), non2xx: s.non2xx, errors: s.errors, roundsP99Ms: s.roundsP99Ms };
});
process.stdout.write(`${JSON.stringify(results)}\n`);
