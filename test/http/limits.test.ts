import t from 'tap';
import { connect } from 'node:net';
import { once } from 'node:events';
import { FULL_KEY, ISSUER, ORDERS, READ_KEY, startService } from '../helpers/service.js';

const svc = await startService((f) => {
  f.limits = { publicRequestsPerMinute: 3, apiRequestsPerMinute: 3, headersTimeoutSeconds: 0.5 };
});
t.teardown(() => svc.close());
const { app } = svc;

t.test('a body over the limit gets 413 on every route that takes one, and changes nothing', async (t) => {
  const big = 'x'.repeat(300 * 1024);
  const cases = [
    { url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${'a'.repeat(70 * 1024)}`, remoteAddress: '10.9.0.1' },
    { url: '/v1/sessions', headers: { 'content-type': 'application/json', authorization: `Bearer ${FULL_KEY}` }, payload: JSON.stringify({ clientId: ORDERS, issuer: ISSUER, sub: big, homeAccountId: 'a.b' }) },
    { url: '/v1/logouts', headers: { 'content-type': 'application/json', authorization: `Bearer ${FULL_KEY}` }, payload: JSON.stringify({ homeAccountId: big }) },
  ];
  for (const c of cases) {
    const res = await app.inject({ method: 'POST', ...c });
    t.equal(res.statusCode, 413, c.url);
    t.equal(res.json().error, 'request_too_large', c.url);
  }
  t.same(await svc.stores.sessions.byHomeAccountId('a.b'), []);
});

t.test('public routes are rate-limited per client IP: 429 with Retry-After, other clients unaffected', async (t) => {
  const hit = (remoteAddress: string) => app.inject({ url: '/logout/frontchannel/idp?sid=x', remoteAddress });
  for (let i = 0; i < 3; i++) t.equal((await hit('10.0.0.1')).statusCode, 200);
  const limited = await hit('10.0.0.1');
  t.equal(limited.statusCode, 429);
  t.ok(Number(limited.headers['retry-after']) > 0, `Retry-After: ${limited.headers['retry-after']}`);
  t.same(Object.keys(limited.json()).sort(), ['error', 'error_description']);
  t.equal(limited.json().error, 'too_many_requests');
  t.equal((await hit('10.0.0.2')).statusCode, 200, 'another IP is not limited');
  const backchannel = await app.inject({ method: 'POST', url: '/logout/backchannel', remoteAddress: '10.0.0.1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'logout_token=x' });
  t.equal(backchannel.statusCode, 400, 'each public route counts on its own');
});

t.test('the API is rate-limited per caller, wherever it calls from', async (t) => {
  const call = (key: string, remoteAddress: string) => app.inject({ url: '/v1/apps', headers: { authorization: `Bearer ${key}` }, remoteAddress });
  for (const ip of ['10.1.0.1', '10.1.0.2', '10.1.0.3']) t.equal((await call(READ_KEY, ip)).statusCode, 200);
  const limited = await call(READ_KEY, '10.1.0.4');
  t.equal(limited.statusCode, 429, 'the fourth call of the same key from a new IP is limited');
  t.ok(limited.headers['retry-after']);
  t.equal((await call(FULL_KEY, '10.1.0.4')).statusCode, 200, 'another key is not');
});

t.test('CORS is closed: no Access-Control-Allow-Origin, preflights are not answered', async (t) => {
  const pre = await app.inject({ method: 'OPTIONS', url: '/v1/sessions', headers: { origin: 'https://evil.example.test', 'access-control-request-method': 'POST' }, remoteAddress: '10.2.0.1' });
  t.not(pre.statusCode, 204);
  t.notOk(pre.headers['access-control-allow-origin']);
  const get = await app.inject({ url: '/healthz', headers: { origin: 'https://evil.example.test' } });
  t.notOk(get.headers['access-control-allow-origin']);
  t.notOk(get.headers['access-control-allow-credentials']);
});

t.test('a client that trickles its headers is cut off (headers timeout)', async (t) => {
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const socket = connect(Number(new URL(address).port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // never finishes its headers
  const started = Date.now();
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk));
  await once(socket, 'close');
  const waited = Date.now() - started;
  t.ok(waited < 5_000, `closed after ${waited} ms`);
  t.match(answer, /^$|408/, 'with nothing or a 408');
});
