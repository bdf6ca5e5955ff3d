import t from 'tap';
import { StoreUnavailable } from '../../src/core/errors.js';
import { connectRedis } from '../../src/redis/connect.js';
import { createRedisStores } from '../../src/stores/redis/store.js';
import { freePort } from '../helpers/redis.js';

t.test('a Redis that is away is a StoreUnavailable at the adapter edge, for every store and step, with no credentials in its message', async (t) => {
  const port = await freePort();
  const redis = connectRedis({ url: `redis://user:s3cret@127.0.0.1:${port}` }, () => {});
  t.teardown(() => redis.disconnect());
  const stores = createRedisStores(redis, { keyPrefix: 'lr-test-away:', reportRetentionMs: 60_000, ownsConnection: false });
  const calls: [string, () => Promise<unknown>][] = [
    ['sessions.bySid', () => stores.sessions.bySid('https://idp', 'sid')],
    ['markers.isMarked', () => stores.markers.isMarked('https://idp', 'sid')],
    ['journal.get', () => stores.journal.get('id')],
    ['replay.forget', () => stores.replay.forget('k', 'id', Date.now() + 60_000)],
    ['ping', () => stores.ping()],
  ];
  for (const [what, call] of calls) {
    const err = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.type(err, StoreUnavailable, `${what}: StoreUnavailable`);
    t.notMatch((err as Error).message, /s3cret/, `${what}: no password`);
  }
});
