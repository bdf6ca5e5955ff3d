/**
 * The load generator, in a process of its own: autocannon POSTs one distinct logout token per request
 * (tokens from a file, one per line) and prints its result as one JSON line.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const [url, tokensFile, seconds, connections] = process.argv.slice(2);
const tokens = readFileSync(tokensFile!, 'utf8').split('\n').filter(Boolean);
let next = 0;
const result = await autocannon({
  url: url!,
  connections: Number(connections ?? 32),
  duration: Number(seconds ?? 10),
  requests: [
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      setupRequest: (request) => ({ ...request, body: `logout_token=${tokens[next++ % tokens.length]}` }),
    },
  ],
});
process.stdout.write(
  `${JSON.stringify({
    rps: result.requests.average,
    requests: result.requests.total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    tokensUsed: next,
    tokensAvailable: tokens.length,
  })}\n`,
);
