// What removing an account from partitions of one account costs Redis, on a Redis of its own (INFO
// commandstats): the script that deletes a partition holding only the account's entries, against a GET and
// the compare-and-set that deletes it. `npx tsx bench/sole-account-cost.ts [partitions] [rounds]`; the
// partitions are real msal-node caches of one account each (sign-in and one access token).
import { Redis } from 'ioredis';
import { removeAccountsFromPartition } from '../src/cache-formats/msal-json.js';
import { RedisTokenCacheStore } from '../src/token-caches/redis.js';
import { FakeEntra, MsalWebApp, StoreCacheClient } from '../simulators/msal-app.js';
import { startRedis } from './redis-server.js';

const N = Number(process.argv[2] ?? 2_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const { url, child } = await startRedis();
const redis = new Redis(url);
const store = new RedisTokenCacheStore(redis, false);
const partitions = new Map<string, string>();
const app = new MsalWebApp('11111111-1111-1111-1111-111111111111', 'p:{homeAccountId}', new StoreCacheClient({ get: async (k) => partitions.get(k) ?? null, set: async (k, v) => void partitions.set(k, v) }), new FakeEntra());
const accounts: string[] = [];
for (let i = 0; i < N; i++) accounts.push((await app.signIn({ oid: crypto.randomUUID(), homeTenant: '72f988bf-86f1-41af-91ab-2d7cd011db47', name: `User ${i}`, sid: `sid-${i}` })).homeAccountId);
const bytes = [...partitions.values()].map((v) => v.length).sort((a, b) => a - b);
console.log(`${N} partitions of one account, median ${bytes[bytes.length >> 1]} bytes`);

const usecOf = async (command: string) => Number(new RegExp(`cmdstat_${command}:calls=\\d+,usec=(\\d+)`).exec(await redis.info('commandstats'))?.[1] ?? 0);
const load = () => Promise.all([...partitions].map(([k, v]) => redis.set(k, v)));
for (let round = 1; round <= ROUNDS; round++) {
  await load();
  await redis.config('RESETSTAT');
  let started = process.cpuUsage();
  await Promise.all(
    accounts.map(async (a) => {
      const result = await store.removeWhereSole(`p:${a}`, [a]);
      if (!('removedEntries' in result)) throw new Error('not deleted in Redis');
    }),
  );
  const scriptCpu = process.cpuUsage(started);
  const script = (await usecOf('evalsha')) + (await usecOf('eval'));
  await load();
  await redis.config('RESETSTAT');
  started = process.cpuUsage();
  await Promise.all(
    accounts.map(async (a) => {
      const update = await store.readForUpdate(`p:${a}`, { oneAccountPerPartition: true });
      const { next } = await removeAccountsFromPartition(update.value as Buffer, [a]);
      if (next !== null || !(await update.write(null))) throw new Error('not deleted');
    }),
  );
  const clientCpu = process.cpuUsage(started);
  const twoCommands = (await usecOf('get')) + (await usecOf('evalsha')) + (await usecOf('eval'));
  const us = (x: number) => (x / N).toFixed(1);
  console.log(`round ${round}: Redis ${us(script)} µs per partition by the script, ${us(twoCommands)} µs by GET and compare-and-set; ` + `this process ${us(scriptCpu.user + scriptCpu.system)} µs against ${us(clientCpu.user + clientCpu.system)} µs`);
}
redis.disconnect();
child.kill();
