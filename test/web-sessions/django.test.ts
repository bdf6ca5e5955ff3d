import { randomUUID } from 'node:crypto';
import t from 'tap';
import { postgresForTest } from '../helpers/postgres.js';
import { requirePythonWebApps, startPythonWebApp } from '../helpers/web-session-apps.js';
import { openWebSession } from '../helpers/web-sessions.js';

/**
 * The real Django (Debian's python3-django 3.2) with database sessions on PostgreSQL: the `postgres` kind
 * on `django_session`, `session_key` (cache sessions on Redis: django-cache.test.ts).
 */
const context = await postgresForTest(t);
if (context && requirePythonWebApps(t)) {
  const { pool, url } = context;
  const schema = `lr_dj_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await pool.query(`CREATE SCHEMA ${schema}`);
  t.teardown(() => pool.query(`DROP SCHEMA ${schema} CASCADE`));
  // Django's own migrate makes django_session in this schema as the app starts.
  const app = await startPythonWebApp(t, { app: 'django', postgresUrl: url, schema });
  const target = (sessionKey: string) => ({ clientId: 'django-web', iss: 'https://op.example', sid: 's', sub: 'u', sessionKey });
  const rows = async (key: string) => (await pool.query(`SELECT 1 FROM ${schema}.django_session WHERE session_key = $1`, [key])).rowCount;

  t.test("Django db sessions: after the postgres kind's DELETE, the old cookie's next request is signed out; a bystander stays", async (t) => {
    const { store } = await openWebSession(t, 'postgres', { url, schema, table: 'django_session', column: 'session_key' });
    const alice = await app.signIn('alice');
    const bob = await app.signIn('bob');
    t.equal(await app.me(alice.cookie), 200);
    t.equal(await rows(alice.webSessionKey), 1, "the key after login() is the row's session_key");
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' });
    t.equal(await app.me(alice.cookie), 401, "alice's next request with the old cookie is signed out");
    t.equal(await app.me(bob.cookie), 200, 'bob stays signed in');
    t.equal(await rows(alice.webSessionKey), 0, 'Django saved the anonymous session under a new key, never under the deleted one');
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'not_present' });
  });

  t.test('Django: a re-sign-in in the same browser gets a new key (login() cycles it), which the old logout never touches', async (t) => {
    const { store } = await openWebSession(t, 'postgres', { url, schema, table: 'django_session', column: 'session_key' });
    const old = await app.signIn('alice');
    await store.end(target(old.webSessionKey));
    const again = await app.signIn('alice', old.cookie);
    t.not(again.webSessionKey, old.webSessionKey);
    await store.end(target(old.webSessionKey));
    t.equal(await app.me(again.cookie), 200);
  });
}
