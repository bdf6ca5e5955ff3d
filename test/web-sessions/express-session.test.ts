import t from 'tap';
import { redisForTest, REDIS_URL } from '../helpers/redis.js';
import { startExpressSessionApp } from '../helpers/web-session-apps.js';
import { openWebSession } from '../helpers/web-sessions.js';

/**
 * The real express-session over connect-redis (node-redis client): the `redis` kind with the app's own
 * key, `<prefix>{sessionKey}`, signs the user out at the next request with the old cookie.
 */
const context = await redisForTest(t);
if (context) {
  const sessionPrefix = `${context.prefix}sess:`;
  const app = await startExpressSessionApp(t, { redisUrl: REDIS_URL, keyPrefix: sessionPrefix });
  const target = (sessionKey: string) => ({ clientId: 'orders-web', iss: 'https://op.example', sid: 's', sub: 'u', sessionKey });

  t.test("express-session + connect-redis: after the redis kind's DEL, the old cookie's next request is signed out; a bystander stays signed in", async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${sessionPrefix}{sessionKey}` });
    const alice = await app.signIn('alice');
    const bob = await app.signIn('bob');
    t.equal(await app.me(alice.cookie), 200, 'alice signed in');
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' });
    t.equal(await app.me(alice.cookie), 401, "alice's next request with the old cookie is signed out");
    t.equal(await app.me(bob.cookie), 200, 'bob stays signed in');
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'not_present' }, 'express-session wrote nothing back for an unknown id (saveUninitialized: false)');
  });

  t.test('express-session: a request in flight during the logout writes the session back; the second pass deletes it again', async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${sessionPrefix}{sessionKey}` });
    const alice = await app.signIn('alice');
    const slow = await app.slow(alice.cookie); // the request has read the session
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' });
    await slow.release();
    t.equal(await app.me(alice.cookie), 200, 'the in-flight save wrote the whole session back: alice is signed in again (what the contract did not expect of a DEL)');
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' }, 'the second pass finds it written back');
    t.equal(await app.me(alice.cookie), 401, 'and signs her out for good');
  });

  t.test('express-session: a re-sign-in after the logout is a new session id, which the logout of the old one never touches', async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${sessionPrefix}{sessionKey}` });
    const old = await app.signIn('alice');
    await store.end(target(old.webSessionKey));
    const again = await app.signIn('alice');
    t.not(again.webSessionKey, old.webSessionKey);
    t.same(await store.end(target(old.webSessionKey)), { outcome: 'not_present' }, 'a second pass of the old logout');
    t.equal(await app.me(again.cookie), 200, 'the new sign-in stays');
  });
}
