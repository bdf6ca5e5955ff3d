/**
 * CPU time of one removal from a small partition (one to four accounts, a few KiB: what apps that keep a
 * partition per account have), over the four MSAL dialects, as the sweeper hands partitions over (bytes).
 * `npx tsx bench/small-partitions.ts [rounds]`: prints the median over rounds of µs of CPU per removal.
 */
import fc from 'fast-check';
import { removeAccountsFromPartition } from '../src/cache-formats/msal-json.js';
import { cacheArbitrary, DIALECTS } from '../simulators/msal-dialects.js';

const rounds = Number(process.argv[2] ?? 15);
const cases = DIALECTS.flatMap((dialect, i) => fc.sample(cacheArbitrary(dialect), { numRuns: 100, seed: 20261206 + i }).map((cache) => ({ dialect, bytes: Buffer.from(cache.blob), account: cache.accounts[0]!.homeAccountId })));

async function round(): Promise<number> {
  const before = process.cpuUsage();
  for (const { bytes, account } of cases) await removeAccountsFromPartition(bytes, [account]);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / cases.length;
}

for (let i = 0; i < 3; i++) await round(); // warm-up
const results: number[] = [];
for (let i = 0; i < rounds; i++) results.push(await round());
results.sort((a, b) => a - b);
const bytes = cases.map((c) => c.bytes.length).sort((a, b) => a - b);
console.log(
  JSON.stringify({
    partitions: cases.length,
    medianBytes: bytes[bytes.length >> 1],
    maxBytes: bytes[bytes.length - 1],
    cpuMicrosPerRemoval: { median: +results[results.length >> 1]!.toFixed(1), min: +results[0]!.toFixed(1), max: +results[results.length - 1]!.toFixed(1) },
  }),
);
