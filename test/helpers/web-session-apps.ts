import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { PYTHON } from './msal-python.js';
import { startProcess } from './process.js';

const SCRIPT = fileURLToPath(new URL('./web_session_apps.py', import.meta.url));
const INSTALL_HINT = 'apt-get install -y python3-flask-session python3-django python3-psycopg2 python3-redis';

/**
 * For a suite of the Python web apps: true when Debian's Flask-Session, Django, psycopg2 and redis import.
 * Without them the suite is a loudly skipped subtest, except under CI=true, where that fails.
 */
export function requirePythonWebApps(t: Test): boolean {
  const probe = spawnSync(PYTHON, ['-I', '-B', '-c', 'import flask_session, django, psycopg2, redis'], { encoding: 'utf8', timeout: 15_000 });
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
  options: { app: 'flask'; redisUrl: string; keyPrefix: string } | { app: 'django'; postgresUrl: string; schema: string },
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
