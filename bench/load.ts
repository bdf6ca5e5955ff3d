/**
 * The load generator, in a process of its own: autocannon sends `amount` requests, one per line of a file
 * (taken in order and wrapped around only when `amount` exceeds them): a logout token POSTed as a form
 * (`POST`, the back channel), or a path with its query to GET (`GET`, the front channel). It prints its
 * result as one JSON line. `overallRate` caps the request rate (a fixed-rate run); without it, as fast as it goes.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  tokensFile: string;
  amount: number;
  connections: number;
  overallRate?: number;
  /** POST (the default): each line is a `logout_token`, sent to `url`; GET: each line is a path and query, requested on `url`'s origin. */
  method?: 'POST' | 'GET';
}

const spec = JSON.parse(process.argv[2]!) as LoadSpec;
const tokens = readFileSync(spec.tokensFile, 'utf8').split('\n').filter(Boolean);
let next = 0;
// autocannon ends a run at its next sample tick, so its own duration rounds up to whole ticks: the rate
// is taken from the first request sent to the last answer received instead.
let firstSent = 0;
let lastAnswered = 0;
let answered = 0;
const onResponse = () => {
  answered++;
  lastAnswered = performance.now();
};
const line = () => {
  if (next === 0) firstSent = performance.now();
  return tokens[next++ % tokens.length]!;
};
const request: autocannon.Request =
  spec.method === 'GET'
    ? { method: 'GET', setupRequest: (request) => ({ ...request, path: line() }), onResponse }
    : { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, setupRequest: (request) => ({ ...request, body: `logout_token=${line()}` }), onResponse };
const result = await autocannon({
  url: spec.url,
  // A tick every 100 ms instead of every second: a run ends up to 0.9 s sooner (only its per-tick counts, unused here, change).
  sampleInt: 100,
  connections: Math.min(spec.connections, spec.amount), // autocannon refuses more connections than requests
  amount: spec.amount,
  ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
  requests: [request],
});
const seconds = (lastAnswered - firstSent) / 1000;
process.stdout.write(
  `${JSON.stringify({
    rps: seconds > 0 ? answered / seconds : 0,
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
