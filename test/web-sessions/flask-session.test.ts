import t from 'tap';
import { redisForTest, REDIS_URL } from '../helpers/redis.js';
import { requirePythonWebApps, startPythonWebApp } from '../helpers/web-session-apps.js';
import { openWebSession } from '../helpers/web-sessions.js';

/** The real Flask + Flask-Session (Debian's python3-flask-session) on Redis: the `redis` kind with `session:{sessionKey}`. */
const context = await redisForTest(t);
if (context && requirePythonWebApps(t)) {
  const { redis, prefix } = context;
  const keyPrefix = `${prefix}session:`;
  const app = await startPythonWebApp(t, { app: 'flask', redisUrl: REDIS_URL, keyPrefix });
  const target = (sessionKey: string) => ({ clientId: 'flask-web', iss: 'https://op.example', sid: 's', sub: 'u', sessionKey });

  t.test("Flask-Session: after the redis kind's DEL, the old cookie's next request is signed out; a bystander stays", async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${keyPrefix}{sessionKey}` });
    const alice = await app.signIn('alice');
    const bob = await app.signIn('bob');
    t.equal(await app.me(alice.cookie), 200);
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' });
    t.equal(await app.me(alice.cookie), 401, "alice's next request with the old cookie is signed out");
    t.equal(await app.me(bob.cookie), 200, 'bob stays signed in');
  });

  t.test('Flask-Session 0.3: the signed-out request writes an anonymous record back under the deleted key; she stays signed out, the second pass reports it removed', async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${keyPrefix}{sessionKey}` });
    const alice = await app.signIn('alice');
    await store.end(target(alice.webSessionKey));
    t.equal(await app.me(alice.cookie), 401);
    const written = await redis.get(`${keyPrefix}${alice.webSessionKey}`);
    t.ok(written, 'Flask-Session reused the unknown id from the cookie and saved the anonymous session under it');
    t.equal(await app.me(alice.cookie), 401, 'the record has no user: still signed out');
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' }, 'the second pass deletes it and says removed');
  });

  t.test('Flask-Session 0.3: a re-sign-in in the same browser keeps the old session id, so a later pass of the old logout would sign the new sign-in out', async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${keyPrefix}{sessionKey}` });
    const old = await app.signIn('alice');
    await store.end(target(old.webSessionKey));
    const again = await app.signIn('alice', old.cookie);
    t.equal(again.webSessionKey, old.webSessionKey, 'Flask-Session 0.3 never regenerates the id at sign-in');
    t.equal(await app.me(again.cookie), 200);
    // What the core must not do: pass again over a {sessionKey} that a newer registration of the same app carries.
    await store.end(target(old.webSessionKey));
    t.equal(await app.me(again.cookie), 401, 'a second pass by the old key ends the new sign-in too');
  });
}
