import t from 'tap';
import { randomUUID } from 'node:crypto';
import { REDIS_URL, redisForTest } from '../helpers/redis.js';
import { ISSUER, ORDERS, postLogoutToken, startRedisService } from '../helpers/service.js';

// The front-channel rule that an unauthenticated caller cannot make the store grow, and the NumericDate rules,
// on the production store: a fractional exp is a valid token (it was answered 400 and
// lost here while the memory store took it), and the replay record is bounded by the token's age.
const context = await redisForTest(t);
if (context) {
  const { redis, prefix } = context;
  const svc = await startRedisService({ storeUrl: REDIS_URL, prefix });
  t.teardown(() => svc.close());
  const jtiKeys = async () => redis.keys(`${prefix}jti:*`);

  t.test('rule: NumericDates may be fractional on Redis too (exp with a fraction of a millisecond)', async (t) => {
    const before = new Set(await jtiKeys());
    const token = await svc.provider.sign(svc.provider.claims(ISSUER, ORDERS, { sid: `sid-${randomUUID()}`, iat: Date.now() / 1000, exp: Date.now() / 1000 + 120.0001234 }));
    t.equal((await postLogoutToken(svc.app, token)).statusCode, 200);
    const added = (await jtiKeys()).filter((k) => !before.has(k));
    t.equal(added.length, 1, 'its replay record was written');
    t.equal((await postLogoutToken(svc.app, token)).statusCode, 400, 'and a replay of it is refused');
  });

  t.test('the replay record lives until min(exp, iat + maxTokenAge) plus the skew: an exp ten years ahead pins nothing for years', async (t) => {
    const before = new Set(await jtiKeys());
    const now = Math.floor(Date.now() / 1000);
    const token = await svc.provider.sign(svc.provider.claims(ISSUER, ORDERS, { sid: `sid-${randomUUID()}`, iat: now, exp: now + 10 * 365 * 86400 }));
    t.equal((await postLogoutToken(svc.app, token)).statusCode, 200);
    const [key] = (await jtiKeys()).filter((k) => !before.has(k));
    const ttl = await redis.pttl(key!);
    t.ok(ttl > (3600 + 120 - 5) * 1000 && ttl <= (3600 + 120) * 1000, `lives about an hour and the skew (${ttl} ms)`);
  });

  t.test('an unmatched front-channel sid leaves only a marker of retention.unmatchedMarkerSeconds (600) in Redis, and no report', async (t) => {
    const reports = async () => (await redis.keys(`${prefix}logout:*`)).length;
    const markers = async () => redis.keys(`${prefix}loggedout:*`);
    const [reportsBefore, markersBefore] = [await reports(), new Set(await markers())];
    const res = await svc.app.inject({ url: `/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=sid-${randomUUID()}` });
    t.equal(res.statusCode, 200);
    t.equal(await reports(), reportsBefore, 'no report journaled');
    const added = (await markers()).filter((k) => !markersBefore.has(k));
    t.equal(added.length, 1, 'one marker');
    const ttl = await redis.pttl(added[0]!);
    t.ok(ttl > 590_000 && ttl <= 600_000, `it lives 600 s (${ttl} ms)`);
  });
}
