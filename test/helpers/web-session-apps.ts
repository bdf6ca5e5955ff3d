import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { PYTHON } from './msal-python.js';
import { startProcess } from './process.js';

const SCRIPT = fileURLToPath(new URL('./web_session_apps.py', import.meta.url));
const INSTALL_HINT = 'apt-get install -y python3-flask-session python3-django python3-django-redis python3-psycopg2 python3-redis';

/**
 * For a suite of the Python web apps: true when Debian's Flask-Session, Django, psycopg2 and redis import.
 * Without them the suite is a loudly skipped subtest, except under CI=true, where that fails.
 */
export function requirePythonWebApps(t: Test): boolean {
  const probe = spawnSync(PYTHON, ['-I', '-B', '-c', 'import flask_session, django, django_redis, psycopg2, redis'], { encoding: 'utf8', timeout: 15_000 });
  if (!probe.error && probe.status === 0) return true;
  const reason = probe.error?.message ?? probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`;
  if (process.env.CI === 'true') {
    t.fail(`the Python web apps are required under CI (${reason}): ${INSTALL_HINT}`);
    return false;
  }
  process.stderr.write(`##### Flask-Session/Django not installed: ${INSTALL_HINT}; skipping (${reason}) #####\n`);
  void t.test('the Python web-app suite', { skip: `not installed: ${reason}` }, async () => {});
  return false;
}

/** A Python web app on a port the OS picked, up once it says where it listens; killed when the test ends. */
export async function startPythonWebApp(
  t: Test,
  options: { app: 'flask'; redisUrl: string; keyPrefix: string } | { app: 'django'; postgresUrl: string; schema: string } | { app: 'django'; redisUrl: string; keyPrefix: string },
): Promise<{ base: string; signIn(user: string, cookie?: string): Promise<{ cookie: string; webSessionKey: string }>; me(cookie: string): Promise<number> }> {
  const app = await startProcess(PYTHON, ['-I', '-B', SCRIPT, JSON.stringify(options)], { cwd: process.cwd(), timeoutMs: 30_000 });
  t.teardown(() => app.stop('SIGKILL'));
  const base = app.address;
  const cookieName = options.app === 'flask' ? 'session' : 'sessionid';
  return {
    base,
    async signIn(user, cookie) {
      const res = await fetch(`${base}/login?user=${user}`, { headers: cookie ? { cookie } : {} });
      const set = res.headers.getSetCookie().find((c) => c.startsWith(`${cookieName}=`));
      const { webSessionKey } = (await res.json()) as { webSessionKey: string };
      return { cookie: set ? set.split(';')[0]! : cookie!, webSessionKey };
    },
    me: (cookie) => fetch(`${base}/me`, { headers: { cookie } }).then(async (r) => (await r.arrayBuffer(), r.status)),
  };
}

/**
 * The real express-session over connect-redis (node-redis client), signing users in as the docs ask (a new
 * session id at sign-in, registered as `webSessionKey`); `/slow` is a request held open until released, which
 * read the session before and saves it when it ends (express-session's save after the response).
 */
export async function startExpressSessionApp(t: Test, options: { redisUrl: string; keyPrefix: string }) {
  const client = createClient({ url: options.redisUrl });
  client.on('error', () => {});
  await client.connect();
  t.teardown(() => client.quit());
  let releaseSlow: () => void = () => {};
  let slowEntered: () => void = () => {};
  const app = express();
  app.use(session({ store: new RedisStore({ client, prefix: options.keyPrefix }), secret: 'test-secret', resave: false, saveUninitialized: false }));
  app.get('/login', (req, res, next) =>
    req.session.regenerate((err) => {
      if (err) return next(err);
      (req.session as unknown as { user: string }).user = String(req.query.user);
      res.json({ webSessionKey: req.sessionID });
    }),
  );
  const userOf = (req: express.Request) => (req.session as unknown as { user?: string }).user;
  app.get('/me', (req, res) => (userOf(req) ? res.json({ user: userOf(req) }) : res.status(401).json({ signedIn: false })));
  app.get('/slow', async (req, res) => {
    (req.session as unknown as { visits: number }).visits = ((req.session as unknown as { visits?: number }).visits ?? 0) + 1;
    await new Promise<void>((resolve) => {
      releaseSlow = resolve;
      slowEntered();
    });
    res.json({ user: userOf(req) });
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    async signIn(user: string): Promise<{ cookie: string; webSessionKey: string }> {
      const res = await fetch(`${base}/login?user=${user}`);
      const cookie = res.headers.getSetCookie()[0]!.split(';')[0]!;
      const { webSessionKey } = (await res.json()) as { webSessionKey: string };
      return { cookie, webSessionKey };
    },
    me: (cookie: string): Promise<number> => fetch(`${base}/me`, { headers: { cookie } }).then(async (r) => (await r.arrayBuffer(), r.status)),
    /** Starts a request that has read the session once this resolves; `release()` lets it end (and save). */
    async slow(cookie: string): Promise<{ release(): Promise<void> }> {
      const entered = new Promise<void>((resolve) => (slowEntered = resolve));
      const request = fetch(`${base}/slow`, { headers: { cookie } });
      await entered;
      return {
        release: async () => {
          releaseSlow();
          await (await request).arrayBuffer();
        },
      };
    },
  };
}
