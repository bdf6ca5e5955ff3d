import t from 'tap';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';
import { READ_KEY, startRedisService } from '../helpers/service.js';

const ctx = await redisForTest(t);
if (ctx) {
  t.test('rate-limit counters live in Redis: two instances share one budget per caller', async (t) => {
    const limited = (f: { limits?: object }) => {
      f.limits = { apiRequestsPerMinute: 3 };
    };
    const a = await startRedisService({ storeUrl: REDIS_URL, prefix: ctx.prefix, edit: limited });
    const b = await startRedisService({ storeUrl: REDIS_URL, prefix: ctx.prefix, edit: limited });
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const call = (svc: typeof a) => svc.app.inject({ url: '/v1/apps', headers: { authorization: `Bearer ${READ_KEY}` } });
    t.equal((await call(a)).statusCode, 200);
    t.equal((await call(b)).statusCode, 200);
    t.equal((await call(a)).statusCode, 200);
    const fourth = await call(b);
    t.equal(fourth.statusCode, 429, 'the fourth call, on the other instance, is over the shared budget');
    t.ok(fourth.headers['retry-after']);
  });
}
