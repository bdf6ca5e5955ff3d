import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { LogoutReport } from '../../src/core/model.js';
import { redisForTest, REDIS_URL } from '../helpers/redis.js';
import { BILLING, ISSUER, ORDERS, startRedisService, until, type TestService } from '../helpers/service.js';
import { requirePythonWebApps, startExpressSessionApp, startPythonWebApp } from '../helpers/web-session-apps.js';

// Through the whole service: an app registers its session with its own web-session key, a logout ends the
// app's web session beside its tokens, and the app's next request with the old cookie is signed out. Real
// express-session + connect-redis (orders-web) and Flask + Flask-Session (billing-web) on Redis.

const context = await redisForTest(t);
if (context) {
  const { prefix } = context;
  const ordersSessions = `${prefix}sess:`;
  const billingSessions = `${prefix}session:`;
  const svc = await startRedisService({
    storeUrl: REDIS_URL,
    prefix,
    edit: (f) => {
      f.apps[0]!.webSession = { kind: 'redis', url: REDIS_URL, key: `${ordersSessions}{sessionKey}` };
      f.apps[1]!.webSession = { kind: 'redis', url: REDIS_URL, key: `${billingSessions}{sessionKey}` };
      // A second pass one second after the first attempt, so that the tests can wait for it.
      f.retention = { secondPassSeconds: 1 };
    },
  });
  t.teardown(() => svc.close());
  const orders = await startExpressSessionApp(t, { redisUrl: REDIS_URL, keyPrefix: ordersSessions });

  const register = (s: TestService, clientId: string, sid: string, homeAccountId: string, extra: Record<string, unknown>) =>
    s.app.inject({ method: 'POST', url: '/v1/sessions', headers: s.auth, payload: { clientId, issuer: ISSUER, sid, sub: `sub-${homeAccountId}`, homeAccountId, ...extra } });
  const logout = async (s: TestService, sid: string) => {
    const res = await s.app.inject({ method: 'POST', url: '/v1/logouts', headers: s.auth, payload: { issuer: ISSUER, sid } });
    return { status: res.statusCode, body: res.body, report: res.json() as LogoutReport };
  };
  const report = async (s: TestService, id: string) => (await s.app.inject({ url: `/v1/logouts/${id}`, headers: s.auth })).json() as LogoutReport;
  const account = () => `${randomUUID()}.${randomUUID()}`;

  t.test("a logout ends the app's web session: the next request with the old cookie is signed out, a bystander stays, and the key is never shown", async (t) => {
    const alice = await orders.signIn('alice');
    const bob = await orders.signIn('bob');
    const sid = `sid-${randomUUID()}`;
    const registered = await register(svc, ORDERS, sid, account(), { webSessionKey: alice.webSessionKey });
    t.equal(registered.statusCode, 201);
    t.equal(registered.json().webSession, true, 'the session says it has a web session');
    t.notMatch(registered.body, alice.webSessionKey, 'the registration answer does not echo the key');
    await register(svc, ORDERS, `sid-${randomUUID()}`, account(), { webSessionKey: bob.webSessionKey });
    const listed = await svc.app.inject({ url: `/v1/sessions?issuer=${encodeURIComponent(ISSUER)}&sid=${sid}`, headers: svc.auth });
    t.match(listed.json(), [{ webSession: true }]);
    t.notMatch(listed.body, alice.webSessionKey, 'nor does a lookup');

    const { status, body, report: done } = await logout(svc, sid);
    t.equal(status, 200);
    t.match(done.webSessions, [{ clientId: ORDERS, app: 'orders-web', kind: 'redis', outcome: 'removed', attempts: 1 }]);
    t.notMatch(body, alice.webSessionKey, 'nor the report');
    t.equal(await orders.me(alice.cookie), 401, "alice's next request with the old cookie is signed out");
    t.equal(await orders.me(bob.cookie), 200, 'bob stays signed in');
    const read = await svc.app.inject({ url: `/v1/logouts/${done.id}`, headers: svc.auth });
    t.notMatch(read.body, alice.webSessionKey, 'nor the report read back');
  });

  t.test('the second pass deletes a session that a request in flight during the logout wrote back', async (t) => {
    const alice = await orders.signIn('alice');
    const sid = `sid-${randomUUID()}`;
    await register(svc, ORDERS, sid, account(), { webSessionKey: alice.webSessionKey });
    const slow = await orders.slow(alice.cookie);
    const { report: first } = await logout(svc, sid);
    t.match(first.webSessions, [{ outcome: 'removed' }]);
    await slow.release();
    t.equal(await orders.me(alice.cookie), 200, 'express-session saved the whole session back when the request ended');
    const passed = await until(async () => {
      const r = await report(svc, first.id);
      return r.secondPass?.at ? r : undefined;
    });
    t.match(passed.secondPass?.webSessions, [{ app: 'orders-web', outcome: 'removed' }], 'removed: it had been written back');
    t.equal(await orders.me(alice.cookie), 401, 'signed out for good');
    const journaled = await svc.stores.journal.get(first.id);
    t.notOk(JSON.stringify(journaled).includes(alice.webSessionKey), 'the key left the journal once the logout had nothing left to do');
  });

  t.test('registration: a key the app needs, and keys that are plain values only (400, nothing registered)', async (t) => {
    const sid = `sid-${randomUUID()}`;
    const refused: [Record<string, unknown>, RegExp][] = [
      [{}, /webSessionKey/],
      [{ webSessionKey: 'sess*' }, /glob/],
      [{ webSessionKey: 'a?b' }, /glob/],
      [{ webSessionKey: '[abc]' }, /glob/],
      [{ webSessionKey: 'two words' }, /printable ASCII without spaces/],
      [{ webSessionKey: 'clé' }, /printable ASCII/],
      [{ webSessionKey: 'x'.repeat(513) }, /at most 512/],
      [{ webSessionKey: '' }, /non-empty/],
      [{ webSessionKey: 'ok', principal: 'al*ce' }, /principal/],
    ];
    for (const [extra, reason] of refused) {
      const res = await register(svc, ORDERS, sid, account(), extra);
      t.equal(res.statusCode, 400, JSON.stringify(extra).slice(0, 60));
      t.match(res.json(), { error: 'invalid_request', error_description: reason });
    }
    const listed = await svc.app.inject({ url: `/v1/sessions?issuer=${encodeURIComponent(ISSUER)}&sid=${sid}`, headers: svc.auth });
    t.same(listed.json(), [], 'nothing was registered');
  });

  t.test('a web-session store that is down: the ending is failed and retried, the answer still 200, the sessions ended', async (t) => {
    const downPrefix = `${prefix}down:`;
    const down = await startRedisService({
      storeUrl: REDIS_URL,
      prefix: downPrefix,
      edit: (f) => void (f.apps[0]!.webSession = { kind: 'redis', url: 'redis://127.0.0.1:1', key: 'sess:{sessionKey}' }),
    });
    t.teardown(() => down.close());
    const sid = `sid-${randomUUID()}`;
    t.equal((await register(down, ORDERS, sid, account(), { webSessionKey: 'k1' })).statusCode, 201);
    const { status, report: first } = await logout(down, sid);
    t.equal(status, 200);
    t.equal(first.state, 'pending', 'a retry is queued');
    t.match(first.webSessions, [{ outcome: 'failed' }]);
    t.equal(first.sessionsEnded, 1, 'the session ended all the same');
    const retried = await until(async () => {
      const r = await report(down, first.id);
      return (r.webSessions?.[0]?.attempts ?? 0) > 1 ? r : undefined;
    });
    t.match(retried.webSessions, [{ outcome: 'failed' }], 'retried, still failing while the store is down');
    t.equal((await down.app.inject({ url: '/readyz' })).json().webSessions['orders-web'], 'down', '/readyz says which');
  });

  if (requirePythonWebApps(t)) {
    const billing = await startPythonWebApp(t, { app: 'flask', redisUrl: REDIS_URL, keyPrefix: billingSessions });

    t.test('Flask-Session: a logout signs the old cookie out; a re-sign-in in the same browser reuses the id, and the second pass leaves it alone (superseded)', async (t) => {
      const homeAccountId = account();
      const old = await billing.signIn('alice');
      const bob = await billing.signIn('bob');
      const sid = `sid-${randomUUID()}`;
      await register(svc, BILLING, sid, homeAccountId, { webSessionKey: old.webSessionKey });
      const { report: first } = await logout(svc, sid);
      t.match(first.webSessions, [{ app: 'billing-web', outcome: 'removed' }]);
      t.equal(await billing.me(old.cookie), 401, "the old cookie's next request is signed out");
      t.equal(await billing.me(bob.cookie), 200, 'bob stays');
      // She signs in again in the same browser: Flask-Session 0.3 keeps the id, and the app registers it again.
      const again = await billing.signIn('alice', old.cookie);
      t.equal(again.webSessionKey, old.webSessionKey);
      t.equal((await register(svc, BILLING, `sid-${randomUUID()}`, homeAccountId, { webSessionKey: again.webSessionKey })).statusCode, 201);
      const passed = await until(async () => {
        const r = await report(svc, first.id);
        return r.secondPass?.at ? r : undefined;
      });
      t.match(passed.secondPass?.webSessions, [{ app: 'billing-web', outcome: 'superseded' }]);
      t.equal(await billing.me(again.cookie), 200, 'the new sign-in stays signed in');
    });
  }
}
