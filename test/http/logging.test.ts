import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { resolveConfig } from '../../src/config/load.js';
import { buildApp } from '../../src/http/app.js';
import { loggerOptions, REDACTED_PATHS } from '../../src/http/logging.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { FULL_KEY, ISSUER, ORDERS, testConfigFile } from '../helpers/service.js';
import { TestProvider } from '../helpers/provider.js';

/** A pino destination that keeps the lines written to it. */
function logSink(): { lines: string[]; sink: Writable } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, sink };
}

t.test('one log line per request, and no token, API key, Authorization header or sid in any line', async (t) => {
  const { lines, sink } = logSink();
  const provider = await TestProvider.start();
  t.teardown(() => provider.close());
  const config = resolveConfig(testConfigFile(provider.jwksUri));
  const caches = new Map(config.apps.map((a) => [a.clientId, new MemoryTokenCacheStore()]));
  const app = await buildApp({
    config,
    stores: createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 }),
    tokenCaches: caches,
    logger: pino(loggerOptions('debug'), sink),
  });
  t.teardown(() => app.close());

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
    for (const secret of [token, token.split('.')[2]!, bad.split('.')[1]!, FULL_KEY, 'wrong-key-value', sid])
      t.notOk(line.includes(secret), `no secret in: ${line.slice(0, 80)}`);
  }
  t.ok(lines.some((l) => /"rule":"nonce"/.test(l)), 'a refused token is logged with the rule that failed');
  t.ok(lines.some((l) => /"msg":"logout carried out"/.test(l)), 'each logout is logged');
});

t.test('a partition that is not an MSAL cache is reported in the log as well as in the report', async (t) => {
  const { lines, sink } = logSink();
  const config = resolveConfig(testConfigFile('https://idp.example.test/jwks'));
  const caches = new Map(config.apps.map((a) => [a.clientId, new MemoryTokenCacheStore()]));
  await caches.get(config.apps[1]!.clientId)!.set('h.t', 'not an msal cache');
  const app = await buildApp({ config, stores: createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 }), tokenCaches: caches, logger: pino(loggerOptions('info'), sink) });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/v1/logouts', headers: { authorization: `Bearer ${FULL_KEY}` }, payload: { homeAccountId: 'h.t' } });
  t.equal(res.json().removals.find((r: { app: string }) => r.app === 'billing-web').outcome, 'skipped');
  const warning = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'token-cache partition not swept');
  t.match(warning, { app: 'billing-web', partitionKey: 'h.t', outcome: 'skipped', detail: /not JSON/ });
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
  t.ok(lines.some((l) => l.includes('[redacted]')), 'by redaction, not only by the serializers');
});
