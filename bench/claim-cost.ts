// What the worker's claim script costs Redis per claimed report, on a Redis of its own (INFO commandstats):
// `npx tsx bench/claim-cost.ts [reports] [rounds]`. Each user has one session; the same users' logouts are
// claimed as API logouts by sid (the claim reads no sessions) and as back-channel ones (it reads them).
import { Redis } from 'ioredis';
import { receivedReport, type LogoutReport } from '../src/core/model.js';
import { createRedisStores } from '../src/stores/redis/store.js';
import { startRedis } from './redis-server.js';

const N = Number(process.argv[2] ?? 25_600);
const ROUNDS = Number(process.argv[3] ?? 3);
const ISSUER = 'https://idp.example.test';
const server = await startRedis();
const redis = new Redis(server.url);
const stores = createRedisStores(redis, { keyPrefix: 'lr:', reportRetentionMs: 86_400_000, ownsConnection: false });
const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
const inBatches = async (run: (i: number) => Promise<unknown>) => {
  for (let i = 0; i < N; i += 500) await Promise.all(Array.from({ length: Math.min(500, N - i) }, (_, j) => run(i + j)));
};
await inBatches((i) => stores.sessions.add({ clientId: 'c', issuer: ISSUER, sid: `s${i}`, sub: `u${i}`, homeAccountId: `h${i}.t`, expiresAt }));
const report = (id: string, channel: 'backchannel' | 'api', sid: string): LogoutReport => receivedReport(id, channel, { kind: 'sid', issuer: ISSUER, sid }, new Date().toISOString());

/** Queues N logouts of one channel, claims them all 256 at a time, and gives the claim scripts' Redis time per report. */
async function claimAll(channel: 'backchannel' | 'api', round: number): Promise<number> {
  await inBatches((i) => stores.journal.save(report(`${channel}-${round}-${i}`, channel, `s${i}`), Date.now() - 1));
  await redis.config('RESETSTAT');
  let claimed = 0;
  let withSessions = 0;
  for (let batch = await stores.journal.claimDue(Date.now(), 256, 600_000); batch.length; batch = await stores.journal.claimDue(Date.now(), 256, 600_000)) {
    claimed += batch.length;
    withSessions += batch.filter((c) => c.sessions?.length).length;
  }
  const [, usec] = /cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(await redis.info('commandstats'))!;
  await redis.del('lr:logouts:due', 'lr:logouts:pending-since');
  if (claimed !== N || withSessions !== (channel === 'api' ? 0 : N)) throw new Error(`${channel}: claimed ${claimed}, ${withSessions} with sessions`);
  return Number(usec) / claimed;
}

for (let round = 0; round < ROUNDS; round++) {
  const without = await claimAll('api', round);
  const withSessions = await claimAll('backchannel', round);
  console.log(`round ${round + 1}: ${without.toFixed(1)} µs per claimed report without its sessions, ${withSessions.toFixed(1)} µs with them (one session each)`);
}
redis.disconnect();
server.child.kill();
