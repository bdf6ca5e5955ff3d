import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import t from 'tap';
import { redisForTest, REDIS_URL } from '../helpers/redis.js';
import { openWebSession } from '../helpers/web-sessions.js';

declare module 'express-session' {
  interface SessionData {
    user?: string;
    visits?: number;
  }
}

/**
 * The real express-session over connect-redis (node-redis client): the `redis` kind with the app's own
 * key, `<prefix>{sessionKey}`, signs the user out at the next request with the old cookie.
 */
const context = await redisForTest(t);
if (context) {
  const { prefix } = context;
  const client = createClient({ url: REDIS_URL });
  client.on('error', () => {});
  await client.connect();
  t.teardown(() => client.quit());
  const sessionPrefix = `${prefix}sess:`;

  let releaseSlow: () => void = () => {};
  let slowEntered: () => void = () => {};
  const app = express();
  app.use(session({ store: new RedisStore({ client, prefix: sessionPrefix }), secret: 'test-secret', resave: false, saveUninitialized: false }));
  // Sign-in as the README asks: a new session id at sign-in, then that id registered as webSessionKey.
  app.get('/login', (req, res, next) =>
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = String(req.query.user);
      res.json({ webSessionKey: req.sessionID });
    }),
  );
  app.get('/me', (req, res) => (req.session.user ? res.json({ user: req.session.user }) : res.status(401).json({ signedIn: false })));
  // A request in flight during the logout: it read the session before, and express-session saves it when it ends.
  app.get('/slow', async (req, res) => {
    req.session.visits = (req.session.visits ?? 0) + 1;
    await new Promise<void>((resolve) => {
      releaseSlow = resolve;
      slowEntered();
    });
    res.json({ user: req.session.user });
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const signIn = async (user: string) => {
    const res = await fetch(`${base}/login?user=${user}`);
    const cookie = res.headers.getSetCookie()[0]!.split(';')[0]!;
    const { webSessionKey } = (await res.json()) as { webSessionKey: string };
    return { cookie, webSessionKey };
  };
  const me = (cookie: string) => fetch(`${base}/me`, { headers: { cookie } }).then((r) => r.status);
  const target = (sessionKey: string) => ({ clientId: 'orders-web', iss: 'https://op.example', sid: 's', sub: 'u', sessionKey });

  t.test("express-session + connect-redis: after the redis kind's DEL, the old cookie's next request is signed out; a bystander stays signed in", async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${sessionPrefix}{sessionKey}` });
    const alice = await signIn('alice');
    const bob = await signIn('bob');
    t.equal(await me(alice.cookie), 200, 'alice signed in');
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' });
    t.equal(await me(alice.cookie), 401, "alice's next request with the old cookie is signed out");
    t.equal(await me(bob.cookie), 200, 'bob stays signed in');
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'not_present' }, 'express-session wrote nothing back for an unknown id (saveUninitialized: false)');
  });

  t.test('express-session: a request in flight during the logout writes the session back; the second pass deletes it again', async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${sessionPrefix}{sessionKey}` });
    const alice = await signIn('alice');
    const entered = new Promise<void>((resolve) => (slowEntered = resolve));
    const slow = fetch(`${base}/slow`, { headers: { cookie: alice.cookie } });
    await entered; // the request has read the session
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' });
    releaseSlow();
    await (await slow).json();
    t.equal(await me(alice.cookie), 200, 'the in-flight save wrote the whole session back: alice is signed in again (what the contract did not expect of a DEL)');
    t.same(await store.end(target(alice.webSessionKey)), { outcome: 'removed' }, 'the second pass finds it written back');
    t.equal(await me(alice.cookie), 401, 'and signs her out for good');
  });

  t.test('express-session: a re-sign-in after the logout is a new session id, which the logout of the old one never touches', async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${sessionPrefix}{sessionKey}` });
    const old = await signIn('alice');
    await store.end(target(old.webSessionKey));
    const again = await signIn('alice');
    t.not(again.webSessionKey, old.webSessionKey);
    t.same(await store.end(target(old.webSessionKey)), { outcome: 'not_present' }, 'a second pass of the old logout');
    t.equal(await me(again.cookie), 200, 'the new sign-in stays');
  });
}
