import t from 'tap';
import { redisForTest, REDIS_URL } from '../helpers/redis.js';
import { requirePythonWebApps, startPythonWebApp } from '../helpers/web-session-apps.js';
import { openWebSession } from '../helpers/web-sessions.js';

/**
 * The real Django (Debian's python3-django 3.2) with cache sessions on Redis through Debian's
 * python3-django-redis: the `redis` kind on `<KEY_PREFIX>:1:django.contrib.sessions.cache{sessionKey}`.
 */
const redisContext = await redisForTest(t);
if (redisContext && requirePythonWebApps(t)) {
  const keyPrefix = `${redisContext.prefix}dj`;
  const app = await startPythonWebApp(t, { app: 'django', redisUrl: REDIS_URL, keyPrefix });
  const target = (sessionKey: string) => ({ clientId: 'django-web', iss: 'https://op.example', sid: 's', sub: 'u', sessionKey });

  t.test("Django cache sessions on Redis: after the redis kind's DEL, the old cookie's next request is signed out; a bystander stays", async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${keyPrefix}:1:django.contrib.sessions.cache{sessionKey}` });
    const alice = await app.signIn('alice');
    const bob = await app.signIn('bob');
    t.equal(await app.me(alice.cookie), 200);
    t.equal(await redisContext.redis.exists(`${keyPrefix}:1:django.contrib.sessions.cache${alice.webSessionKey}`), 1, 'the key django-redis wrote');
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' });
    t.equal(await app.me(alice.cookie), 401, "alice's next request with the old cookie is signed out");
    t.equal(await app.me(bob.cookie), 200, 'bob stays signed in');
  });
}
