import t from 'tap';
import { pino } from 'pino';
import { hashForLog, loggerOptions, REDACTED_PATHS } from '../../src/http/logging.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import { loggedApp, logSink } from '../helpers/logged-service.js';
import { FULL_KEY, ISSUER, ORDERS, until } from '../helpers/service.js';
import { TestProvider } from '../helpers/provider.js';

t.test('one log line per request, and no token, API key, Authorization header or sid in any line', async (t) => {
  const provider = await TestProvider.start();
  t.teardown(() => provider.close());
  const { app, lines } = await loggedApp(t, { jwksUri: provider.jwksUri, level: 'debug' });

  const sid = 'secret-session-id-123';
  const token = await provider.sign(provider.claims(ISSUER, ORDERS, { sid }));
  const bad = await provider.sign(provider.claims(ISSUER, ORDERS, { sid, nonce: 'x' }));
  const requests = [
    () => app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${token}` }),
    () => app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${bad}` }),
    () => app.inject({ url: `/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=${sid}` }),
    () => app.inject({ url: '/v1/apps', headers: { authorization: `Bearer ${FULL_KEY}` } }),
    () => app.inject({ url: '/v1/apps', headers: { authorization: 'Bearer wrong-key-value' } }),
  ];
  for (const request of requests) await request();

  const completed = lines.filter((l) => JSON.parse(l).msg === 'request completed');
  t.equal(completed.length, requests.length, 'one "request completed" line per request');
  for (const line of lines) {
    for (const secret of [token, token.split('.')[2]!, bad.split('.')[1]!, FULL_KEY, 'wrong-key-value', sid]) t.notOk(line.includes(secret), `no secret in: ${line.slice(0, 80)}`);
  }
  t.ok(
    lines.some((l) => /"rule":"nonce"/.test(l)),
    'a refused token is logged with the rule that failed',
  );
  t.ok(
    lines.some((l) => /"msg":"logout carried out"/.test(l)),
    'each logout is logged',
  );
});

t.test('a partition that is not an MSAL cache is reported in the log as well as in the report', async (t) => {
  const { app, lines } = await loggedApp(t, { prepare: (caches, config) => caches.get(config.apps[1]!.clientId)!.set('h.t', 'not an msal cache') });
  const res = await app.inject({ method: 'POST', url: '/v1/logouts', headers: { authorization: `Bearer ${FULL_KEY}` }, payload: { homeAccountId: 'h.t' } });
  t.equal(res.json().removals.find((r: { app: string }) => r.app === 'billing-web').outcome, 'skipped');
  const warning = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'token-cache partition not swept');
  t.match(warning, { app: 'billing-web', partition: hashForLog('h.t'), outcome: 'skipped', detail: /not JSON/ });
});

t.test("no partition key in any log line (it holds the user's object id or an app's session key): a hash of it at most", async (t) => {
  const account = '5f6a9c1e-0000-4000-8000-00000000beef.72f988bf-86f1-41af-91ab-2d7cd011db47';
  const { app, lines } = await loggedApp(t, {
    prepare: async (caches, config) => {
      await caches.get(config.apps[1]!.clientId)!.set(account, 'not an msal cache'); // billing-web's key is {homeAccountId}
      caches.get(config.apps[0]!.clientId)!.get = async () => {
        throw new Error('connection refused');
      };
    },
  });
  const res = await app.inject({ method: 'POST', url: '/v1/logouts', headers: { authorization: `Bearer ${FULL_KEY}` }, payload: { homeAccountId: account } });
  t.same(
    res
      .json()
      .removals.map((r: { outcome: string }) => r.outcome)
      .sort(),
    ['failed', 'skipped'],
    'one skipped, one failed: both logged',
  );
  const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'token-cache partition not swept');
  t.equal(warnings.length, 2);
  for (const line of lines) t.notOk(line.includes(account.split('.')[0]!), `no object id in: ${line.slice(0, 100)}`);
  t.same(warnings.map((w) => w.partition).sort(), [hashForLog(`msal:${ORDERS}:${account}`), hashForLog(account)].sort(), 'each partition as its hash');
});

t.test('logClientAddresses: false leaves the client address out of the request lines', async (t) => {
  for (const [setting, expected] of [
    [undefined, true],
    [false, false],
  ] as const) {
    const { app, lines } = await loggedApp(t, { edit: (file) => void (setting !== undefined && (file.logClientAddresses = setting)) });
    await app.inject({ url: '/healthz', remoteAddress: '198.51.100.7' });
    await app.close();
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request completed');
    t.equal(line.req.remoteAddress === '198.51.100.7', expected, `${setting === undefined ? 'by default' : 'with false'}: ${expected ? 'logged' : 'not logged'}`);
    t.equal(
      lines.some((l) => l.includes('198.51.100.7')),
      expected,
      'in no line at all when off',
    );
  }
});

t.test('a refused logout token logs the facts that help debug a provider (iss, kid, alg, typ) and nothing about the user', async (t) => {
  const provider = await TestProvider.start();
  t.teardown(() => provider.close());
  const { app, lines } = await loggedApp(t, { jwksUri: provider.jwksUri });
  const sub = 'the-users-subject-42';
  const token = await provider.sign(provider.claims(ISSUER, ORDERS, { sub, sid: 'the-users-sid-42', nonce: 'n' }));
  t.equal((await app.inject({ method: 'POST', url: '/logout/backchannel', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `logout_token=${token}` })).statusCode, 400);
  const refused = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'logout token refused');
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string; alg: string; typ?: string };
  t.match(refused, { rule: 'nonce', iss: ISSUER, kid: header.kid, alg: header.alg });
  if (header.typ) t.equal(refused.typ, header.typ);
  for (const line of lines) for (const personal of [sub, 'the-users-sid-42']) t.notOk(line.includes(personal), `no ${personal} in: ${line.slice(0, 80)}`);
});

t.test('an outage is logged once when it begins and once when it ends, not on every worker round', async (t) => {
  const stores = createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 });
  const claimDue = stores.journal.claimDue;
  let rounds = 0;
  let failing = true;
  stores.journal.claimDue = async (now, limit, leaseMs) => {
    rounds++;
    if (failing) throw new Error('connection refused');
    return claimDue.call(stores.journal, now, limit, leaseMs);
  };
  const { app, lines } = await loggedApp(t, { stores, workerIntervalMs: 5 });
  await app.ready();
  await until(async () => rounds >= 10);
  failing = false;
  const ended = await until(async () => lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'outage ended'));
  const began = lines.map((l) => JSON.parse(l)).filter((l) => /^outage began/.test(l.msg));
  t.equal(began.length, 1, `one line as it began, after ${rounds} failed rounds`);
  t.match(began[0], { where: 'worker', reason: 'connection refused' });
  t.match(ended, { where: 'worker' });
  t.ok(ended.failures >= 10, `the line as it ended counts the failures (${ended.failures})`);
});

t.test('every redacted path is censored in a line that carries it', async (t) => {
  const { lines, sink } = logSink();
  const log = pino(loggerOptions('info'), sink);
  for (const path of REDACTED_PATHS) {
    const line: Record<string, unknown> = {};
    const parts = path.split('.');
    let at = line;
    for (const part of parts.slice(0, -1)) at = (at[part] = {}) as Record<string, unknown>;
    at[parts.at(-1)!] = 'SECRET-VALUE';
    log.info(line, path); // a `req` goes through the request serializer, which keeps no headers nor body anyway
  }
  t.equal(lines.length, REDACTED_PATHS.length);
  for (const line of lines) t.notOk(line.includes('SECRET-VALUE'), `censored: ${JSON.parse(line).msg}`);
  t.ok(
    lines.some((l) => l.includes('[redacted]')),
    'by redaction, not only by the serializers',
  );
});

t.test("a registered web-session key (as secret as the app's cookie) is in no log line, even at debug, through registration, logout and a failed ending", async (t) => {
  const key = 'SECRET-web-session-key-4242';
  const asked: string[] = [];
  // A web-session store that is down (a fault the memory stores cannot have), noting the keys it is asked to end.
  const down = {
    end: async (target: { sessionKey?: string }) => {
      asked.push(target.sessionKey ?? '');
      return { outcome: 'failed' as const, detail: 'the store is unreachable: ECONNREFUSED' };
    },
    ping: async () => {},
    close: async () => {},
  };
  const { app, lines } = await loggedApp(t, {
    level: 'debug',
    edit: (f) => void (f.apps[0]!.webSession = { kind: 'redis', url: 'redis://127.0.0.1:1', key: 'sess:{sessionKey}' }),
    webSessions: new Map([[ORDERS, [down]]]),
  });
  const headers = { authorization: `Bearer ${FULL_KEY}` };
  const registered = await app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { clientId: ORDERS, issuer: ISSUER, sid: 'ws-sid', sub: 'u', homeAccountId: 'h.t', webSessionKey: key } });
  t.equal(registered.statusCode, 201);
  const refused = await app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { clientId: ORDERS, issuer: ISSUER, sid: 'ws-sid-2', sub: 'u', homeAccountId: 'h.t', webSessionKey: `${key}*` } });
  t.equal(refused.statusCode, 400);
  const res = await app.inject({ method: 'POST', url: '/v1/logouts', headers, payload: { issuer: ISSUER, sid: 'ws-sid' } });
  t.match(res.json(), { state: 'pending', webSessions: [{ app: 'orders-web', outcome: 'failed' }] });
  t.same(asked, [key], 'the store was asked to end the registered key');
  t.ok(
    lines.some((l) => /"msg":"web session not ended"/.test(l) && /"app":"orders-web"/.test(l)),
    'the failed ending is logged, by app',
  );
  for (const line of lines) t.notOk(line.includes(key), `no web-session key in: ${line.slice(0, 100)}`);
});
