/**
 * The load generator, in a process of its own: autocannon POSTs `amount` logout tokens (from a file, one
 * per line, taken in order and wrapped around only when `amount` exceeds them) and prints its result as
 * one JSON line. `overallRate` caps the request rate (a fixed-rate run); without it, as fast as it goes.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  tokensFile: string;
  amount: number;
  connections: number;
  overallRate?: number;
}

const spec = JSON.parse(process.argv[2]!) as LoadSpec;
const tokens = readFileSync(spec.tokensFile, 'utf8').split('\n').filter(Boolean);
let next = 0;
const started = performance.now();
const result = await autocannon({
  url: spec.url,
  connections: Math.min(spec.connections, spec.amount), // autocannon refuses more connections than requests
  amount: spec.amount,
  ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
  requests: [
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      setupRequest: (request) => ({ ...request, body: `logout_token=${tokens[next++ % tokens.length]}` }),
    },
  ],
});
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({
    rps: result.requests.total / seconds,
    seconds,
    requests: result.requests.total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    tokensUsed: next,
    tokensAvailable: tokens.length,
  })}\n`,
);
