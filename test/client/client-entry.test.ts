import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { registerSession, sessionFromSignIn, SessionRegistrationError, SessionRegistrationQueue, type SessionRegistration } from '../../src/client/index.js';
import { FakeEntra, MsalWebApp } from '../../simulators/msal-app.js';
import { FULL_KEY, ISSUER, ORDERS, TENANT_A, startService, until } from '../helpers/service.js';

// The client helper as its own entry: logout-receiver/client, a path prefix kept, a timeout, and a way
// for the app to fail open while the service is down.
const root = new URL('../..', import.meta.url).pathname;

/** An HTTP server answering each request with `handle`, on a free loopback port. */
async function server(t: Test, handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handle);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.teardown(() => {
    s.closeAllConnections();
    s.close();
  });
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** A loopback URL nothing listens on. */
async function deadUrl(): Promise<string> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const registration: SessionRegistration = { clientId: ORDERS, issuer: ISSUER, sid: 's', sub: 'u', homeAccountId: `${randomUUID()}.${TENANT_A}` };

t.test('logout-receiver/client is a subpath export that loads nothing of the server and no package', async (t) => {
  const { stderr } = await promisify(execFile)('node', ['--import', new URL('../helpers/record-imports.mjs', import.meta.url).href, '--input-type=module', '-e', "await import('logout-receiver/client')"], { cwd: root });
  const loaded = stderr
    .split('\n')
    .filter((l) => l.startsWith('loaded file:'))
    .map((l) => l.slice('loaded file://'.length).replace(root, ''));
  t.same(loaded.filter((path) => !path.endsWith('record-imports.mjs')).sort(), ['dist/client/index.js', 'dist/client/register-session.js', 'dist/client/registration-queue.js']);
});

t.test('a path prefix of the service URL is kept, with or without its trailing slash', async (t) => {
  const paths: string[] = [];
  const url = await server(t, (req, res) => {
    paths.push(req.url!);
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'id-1' }));
  });
  t.equal(await registerSession(`${url}/logout-receiver/`, FULL_KEY, registration), 'id-1');
  await registerSession(`${url}/logout-receiver`, FULL_KEY, registration);
  await registerSession(url, FULL_KEY, registration);
  t.same(paths, ['/logout-receiver/v1/sessions', '/logout-receiver/v1/sessions', '/v1/sessions']);
});

t.test('a service that does not answer within timeoutMs, or cannot be reached, is a retryable error; a refusal is not', async (t) => {
  const silent = await server(t, () => {});
  const started = Date.now();
  const slow = await registerSession(silent, FULL_KEY, registration, { timeoutMs: 200 }).catch((e: unknown) => e);
  t.type(slow, SessionRegistrationError);
  t.same([(slow as SessionRegistrationError).status, (slow as SessionRegistrationError).retryable], [0, true]);
  t.match((slow as Error).message, /no answer within 200 ms/);
  t.ok(Date.now() - started < 4_000, 'it gave up at the timeout, not the default');
  const away = await registerSession(await deadUrl(), FULL_KEY, registration).catch((e: unknown) => e);
  t.same([(away as SessionRegistrationError).status, (away as SessionRegistrationError).retryable], [0, true], 'unreachable');
  const busy = await server(t, (_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}'));
  t.equal(((await registerSession(busy, FULL_KEY, registration).catch((e: unknown) => e)) as SessionRegistrationError).retryable, true, '503');
  const refusing = await server(t, (_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}'));
  t.equal(((await registerSession(refusing, FULL_KEY, registration).catch((e: unknown) => e)) as SessionRegistrationError).retryable, false, '401: a mistake, not an outage');
});

t.test('SessionRegistrationQueue fails open: a sign-in goes on while the service is down, and its registration lands once it is back', async (t) => {
  const svc = await startService();
  t.teardown(() => svc.close());
  const address = await svc.app.listen({ host: '127.0.0.1', port: 0 });
  let url = await deadUrl();
  const queue = new SessionRegistrationQueue({ send: (r) => registerSession(url, FULL_KEY, r), baseDelayMs: 20, maxDelayMs: 50 });
  t.teardown(() => queue.close());
  const sid = `sid-${randomUUID()}`;
  t.equal(await queue.register({ ...registration, sid }), undefined, 'the service is down: resolved, not thrown');
  t.equal(queue.size, 1, 'queued');
  url = address;
  await until(async () => queue.size === 0);
  t.equal((await svc.stores.sessions.bySid(ISSUER, sid)).length, 1, 'registered once the service was back');
  t.equal(await queue.register({ ...registration, sid: `sid-${randomUUID()}` }).then((id) => typeof id), 'string', 'up: registered at once, with its id');
});

t.test('SessionRegistrationQueue: a retry that finds the user signed out meanwhile is told as onAlreadyLoggedOut; a refusal is thrown at once', async (t) => {
  const svc = await startService();
  t.teardown(() => svc.close());
  const address = await svc.app.listen({ host: '127.0.0.1', port: 0 });
  let url = await deadUrl();
  const loggedOut: SessionRegistration[] = [];
  const queue = new SessionRegistrationQueue({ send: (r) => registerSession(url, FULL_KEY, r), baseDelayMs: 20, onAlreadyLoggedOut: (r) => loggedOut.push(r) });
  t.teardown(() => queue.close());
  const sid = `sid-${randomUUID()}`;
  await queue.register({ ...registration, sid });
  await svc.app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { issuer: ISSUER, sid } });
  url = address;
  await until(async () => loggedOut.length === 1);
  t.equal(loggedOut[0]!.sid, sid);
  const refused = new SessionRegistrationQueue({ send: (r) => registerSession(address, 'wrong-key', r) });
  t.teardown(() => refused.close());
  t.equal(((await refused.register(registration).catch((e: unknown) => e)) as SessionRegistrationError).status, 401, 'a refusal is thrown');
  t.equal(refused.size, 0, 'nothing queued for a mistake');
});

t.test('SessionRegistrationQueue is bounded: past maxQueued the oldest is given up and said so', async (t) => {
  const url = await deadUrl();
  const givenUp: string[] = [];
  const queue = new SessionRegistrationQueue({ send: (r) => registerSession(url, FULL_KEY, r), maxQueued: 2, baseDelayMs: 60_000, onGiveUp: (r) => givenUp.push(r.sid!) });
  t.teardown(() => queue.close());
  for (const sid of ['a', 'b', 'c']) await queue.register({ ...registration, sid });
  t.equal(queue.size, 2);
  t.same(givenUp, ['a']);
});

t.test('a sign-in without a sid warns that the front channel cannot end its session', async (t) => {
  const web = new MsalWebApp(ORDERS, 'msal:{clientId}:{homeAccountId}', new (await import('../../src/token-caches/memory.js')).MemoryTokenCacheStore(), new FakeEntra());
  const result = await web.signInResult({ oid: randomUUID(), homeTenant: TENANT_A, name: 'NoSid', sid: '' });
  delete (result.idTokenClaims as { sid?: string }).sid;
  const warnings: string[] = [];
  sessionFromSignIn(ORDERS, result, { onWarning: (m) => warnings.push(m) });
  t.equal(warnings.length, 1);
  t.match(warnings[0], /no sid.*front-channel logout cannot end/);
  sessionFromSignIn(ORDERS, result, { sessionState: 'state', onWarning: (m) => warnings.push(m) });
  t.equal(warnings.length, 1, 'none with session_state');
});

t.test('npm pack ships dist/ and the docs only', async (t) => {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
  const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  t.ok(files.includes('dist/client/index.js') && files.includes('dist/main.js'), 'dist is in');
  t.ok(files.includes('docs/apps.md'), 'the docs README links to are in');
  t.same(
    files.filter((f) => !f.startsWith('dist/') && !f.startsWith('docs/') && !['package.json', 'README.md', 'LICENSE', 'openapi.yaml'].includes(f)),
    [],
    'nothing else',
  );
  t.notOk(
    files.some((f) => f.endsWith('.test.js') || f.includes('/test/')),
    'no tests',
  );
});
