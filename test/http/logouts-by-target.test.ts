import t from 'tap';
import { randomUUID } from 'node:crypto';
import { ISSUER, ORDERS, postLogoutToken, startService } from '../helpers/service.js';

// Find a logout: by its target through the API, and by its id from the back-channel answer's log line.
const lines: Record<string, unknown>[] = [];
const { pino } = await import('pino');
const { loggerOptions } = await import('../../src/http/logging.js');
const logger = pino(loggerOptions('info'), { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
const svc = await startService();
t.teardown(() => svc.close());
const { app, provider } = svc;

t.test('GET /v1/logouts?issuer=&sid= (or sub=) lists the reports of that target, newest first', async (t) => {
  const sid = `sid-${randomUUID()}`;
  const first = (await app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { issuer: ISSUER, sid } })).json() as { id: string };
  await postLogoutToken(app, await provider.sign(provider.claims(ISSUER, ORDERS, { sid })));
  const res = await app.inject({ url: `/v1/logouts?issuer=${encodeURIComponent(ISSUER)}&sid=${sid}`, headers: svc.auth });
  t.equal(res.statusCode, 200);
  const reports = res.json() as { id: string; channel: string; target: { sid: string } }[];
  t.same(
    reports.map((r) => r.channel),
    ['backchannel', 'api'],
    'both, newest first',
  );
  t.equal(reports[1]!.id, first.id);
  t.ok(reports.every((r) => r.target.sid === sid));
  const sub = `sub-${randomUUID()}`;
  await app.inject({ method: 'POST', url: '/v1/logouts', headers: svc.auth, payload: { issuer: 'idp', sub } });
  const bySub = await app.inject({ url: `/v1/logouts?issuer=idp&sub=${sub}`, headers: svc.auth });
  t.equal((bySub.json() as unknown[]).length, 1, 'by sub, with the issuer by its configured name');
  t.same((await app.inject({ url: `/v1/logouts?issuer=idp&sid=nothing-${randomUUID()}`, headers: svc.auth })).json(), [], 'none: an empty list');
  for (const query of ['', `?issuer=idp`, `?sid=${sid}`, `?issuer=idp&sid=a&sub=b`, `?issuer=https%3A%2F%2Fevil.example.test&sid=a`]) t.equal((await app.inject({ url: `/v1/logouts${query}`, headers: svc.auth })).statusCode, 400, `bad query ${query || '(none)'}`);
});

t.test("the back-channel answer's log line carries the logout id", async (t) => {
  const logged = await startService();
  t.teardown(() => logged.close());
  const { buildApp } = await import('../../src/server.js');
  const app2 = await buildApp({ config: logged.config, stores: logged.stores, tokenCaches: logged.caches, logger });
  t.teardown(() => app2.close());
  const sid = `sid-${randomUUID()}`;
  const res = await postLogoutToken(app2, await logged.provider.sign(logged.provider.claims(ISSUER, ORDERS, { sid })));
  t.equal(res.statusCode, 200);
  const line = lines.find((l) => l.msg === 'request completed' && (l.req as { route?: string })?.route === '/logout/backchannel');
  t.type(line?.logoutId, 'string', 'the line names the logout');
  const report = await app2.inject({ url: `/v1/logouts/${String(line!.logoutId)}`, headers: logged.auth });
  t.equal(report.json().target.sid, sid, 'and it is that logout');
  t.equal(report.json().target.issuer, ISSUER);
});
