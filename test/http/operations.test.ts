import t, { type Test } from 'tap';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { postLogoutToken, startService } from '../helpers/service.js';
import { TOKEN_CACHE_KINDS } from '../../src/token-caches/kinds.js';

const svc = await startService();
t.teardown(() => svc.close());
const { app } = svc;

t.test('GET /healthz answers 200', async (t) => {
  const res = await app.inject({ url: '/healthz' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { status: 'ok' });
});

/** Makes `target.ping` throw (a store outage is a fault the memory stores cannot have) until the test ends. */
function failPing(t: Test, target: { ping(): Promise<void> }): void {
  const ping = target.ping;
  target.ping = async () => {
    throw new Error('connection refused');
  };
  t.teardown(() => {
    target.ping = ping;
  });
}

t.test("GET /readyz answers 200 with each store's state while the service store answers", async (t) => {
  const res = await app.inject({ url: '/readyz' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { status: 'ready', store: 'up', tokenCaches: { 'orders-web': 'up', 'billing-web': 'up' } });
});

t.test('readiness is about the service store: an app token cache down stays 200 (its removals are journaled and retried) and says which', async (t) => {
  failPing(t, svc.caches.get(svc.config.apps[1]!.clientId)!);
  const res = await app.inject({ url: '/readyz' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { status: 'ready', store: 'up', tokenCaches: { 'orders-web': 'up', 'billing-web': 'down' } });
  t.match((await app.inject({ url: '/metrics' })).body, /logout_receiver_store_up\{store="token_cache",app="billing-web"\} 0/, 'and the gauge says so');
});

t.test('GET /readyz answers 503 unavailable while the service store does not answer', async (t) => {
  failPing(t, svc.stores);
  const res = await app.inject({ url: '/readyz' });
  t.equal(res.statusCode, 503);
  t.same(res.json(), { status: 'unavailable', store: 'down', tokenCaches: { 'orders-web': 'up', 'billing-web': 'up' } });
  t.match((await app.inject({ url: '/metrics' })).body, /logout_receiver_store_up\{store="service",app=""\} 0/);
});

t.test('a store probe that hangs counts as down after 2 s rather than hanging /readyz', async (t) => {
  const stores = svc.stores;
  const ping = stores.ping;
  let release!: () => void;
  stores.ping = () => new Promise<void>((resolve) => (release = resolve));
  t.teardown(() => {
    release();
    stores.ping = ping;
  });
  const res = await app.inject({ url: '/readyz' });
  t.same([res.statusCode, res.json().store], [503, 'down']);
});

t.test("after beginShutdown (SIGTERM's first step) /readyz answers 503 stopping while the routes still answer", async (t) => {
  const other = await startService();
  t.teardown(() => other.close());
  other.app.beginShutdown();
  const res = await other.app.inject({ url: '/readyz' });
  t.same([res.statusCode, res.json().status], [503, 'stopping']);
  t.equal((await other.app.inject({ url: '/healthz' })).statusCode, 200, 'alive');
  t.equal((await postLogoutToken(other.app, 'x')).statusCode, 400, 'the back channel still answers');
});

t.test('server.managementPort: /healthz, /readyz and /metrics move to the management listener and leave the main one', async (t) => {
  const managed = await startService((file) => {
    file.server = { ...file.server, managementPort: 0 };
  });
  t.teardown(() => managed.close());
  const management = managed.app.management!;
  t.ok(management, 'a management listener exists');
  for (const url of ['/healthz', '/readyz', '/metrics']) {
    t.equal((await management.inject({ url })).statusCode, 200, `${url} on the management listener`);
    t.equal((await managed.app.inject({ url })).statusCode, 404, `${url} not on the main one`);
  }
  t.equal((await management.inject({ method: 'POST', url: '/logout/backchannel', payload: 'logout_token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).statusCode, 404, 'no public route on the management listener');
  t.equal((await managed.app.inject({ url: '/openapi.yaml' })).statusCode, 200, 'the API document stays on the main port');
  t.equal(app.management, null, 'without the setting there is none');
});

t.test('GET /metrics is Prometheus text with the service counters', async (t) => {
  await app.inject({ url: '/healthz' });
  await app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'logout_token=x' });
  const res = await app.inject({ url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain/);
  t.match(res.body, /logout_receiver_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
  t.match(res.body, /logout_receiver_logout_rejected_total\{channel="backchannel",rule="jws"\} 1/);
  t.match(res.body, /^process_resident_memory_bytes /m, 'the standard process metric names, with no prefix');
});

t.test('GET /metrics has what an operator alerts on: logouts by channel and state, refusals by rule, attempt durations, backlog, JWKS fetches', async (t) => {
  const token = await svc.provider.sign(svc.provider.claims('https://idp.example.test', '6731de76-14a6-49ae-97bc-6eba6914391e'));
  t.equal((await app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${token}` })).statusCode, 200);
  const body = (await app.inject({ url: '/metrics' })).body;
  t.match(body, /logout_receiver_logouts_received_total\{channel="backchannel"\} 1/);
  t.match(body, /logout_receiver_logouts_total\{channel="backchannel",state="completed"\} 1/);
  t.match(body, /logout_receiver_logout_attempt_duration_seconds_count\{channel="backchannel",state="completed"\} 1/);
  t.match(body, /logout_receiver_journal_backlog 0/);
  t.match(body, /logout_receiver_jwks_fetches_total\{issuer="idp",outcome="ok"\} 1/);
});

t.test('GET /openapi.yaml serves the document at the repository root', async (t) => {
  const res = await app.inject({ url: '/openapi.yaml' });
  t.equal(res.statusCode, 200);
  t.equal(res.body, await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8'));
});

t.test('every registered route is in openapi.yaml and every openapi path exists', async (t) => {
  const routes = new Set(app.registeredRoutes.map((r) => `${r.method.toLowerCase()} ${r.url.replace(/:(\w+)/g, '{$1}')}`));
  const doc = parse(await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
  t.ok(routes.size >= 12, `found the routes (${routes.size})`);
  t.same(
    [...routes].filter((r) => !documented.has(r)),
    [],
    'no route is missing from openapi.yaml',
  );
  t.same(
    [...documented].filter((r) => !routes.has(r)),
    [],
    'no openapi path is missing from the server',
  );
});

t.test('unknown routes answer a JSON 404', async (t) => {
  const res = await app.inject({ url: '/nope' });
  t.equal(res.statusCode, 404);
  t.same(Object.keys(res.json()).sort(), ['error', 'error_description']);
});

t.test('security headers are set and the server has no banner', async (t) => {
  const res = await app.inject({ url: '/healthz' });
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.notOk(res.headers['x-powered-by']);
  t.notOk(res.headers.server);
});

t.test('openapi.yaml lists exactly the token-cache kinds the service has', async (t) => {
  const doc = parse(await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as {
    components: { schemas: { App: { properties: { tokenCache: { properties: { kind: { enum: string[] } } } } } } };
  };
  t.same(
    doc.components.schemas.App.properties.tokenCache.properties.kind.enum,
    TOKEN_CACHE_KINDS.map((k) => k.kind),
  );
});

t.test('openapi.yaml is a valid OpenAPI 3.1 document (a maintained validator), every operation with an operationId', async (t) => {
  const { default: SwaggerParser } = await import('@apidevtools/swagger-parser');
  const path = new URL('../../openapi.yaml', import.meta.url).pathname;
  await t.resolves(SwaggerParser.validate(path), 'validates');
  const doc = parse(await readFile(path, 'utf8')) as { paths: Record<string, Record<string, { operationId?: string }>> };
  const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
  t.notOk(ids.includes(undefined), 'every operation has one');
  t.equal(new Set(ids).size, ids.length, 'and they are unique');
});
