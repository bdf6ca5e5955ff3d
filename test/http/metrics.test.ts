import t from 'tap';
import { execFile } from 'node:child_process';
import { promtoolTest } from '../helpers/promtool.js';
import { ISSUER, ORDERS, postLogoutToken, startService } from '../helpers/service.js';

// Metrics that stock dashboards read: standard process names, every labelled counter at 0 from the start,
// the build, each store, the backlog's age; and promtool finds nothing to say about the exposition.
const svc = await startService();
t.teardown(() => svc.close());
const { app } = svc;
const scrape = async () => (await app.inject({ url: '/metrics' })).body;

t.test('labelled counters exist at 0 from the start, so that the first failure shows in increase()', async (t) => {
  const body = await scrape();
  t.match(body, /^logout_receiver_logouts_total\{channel="api",state="failed"\} 0$/m);
  t.match(body, /^logout_receiver_logout_rejected_total\{channel="backchannel",rule="signature"\} 0$/m);
  t.match(body, /^logout_receiver_account_removals_total\{app="billing-web",outcome="failed"\} 0$/m);
  t.match(body, /^logout_receiver_jwks_fetches_total\{issuer="entra",outcome="error"\} 0$/m);
  t.match(body, /^logout_receiver_store_errors_total\{where="token cache of orders-web"\} 0$/m);
  t.match(body, /^logout_receiver_logouts_received_total\{channel="frontchannel"\} 0$/m);
});

t.test('the default process and Node metrics keep their standard names; build_info carries the version', async (t) => {
  const body = await scrape();
  t.match(body, /^process_cpu_seconds_total /m);
  t.match(body, /^nodejs_eventloop_lag_p99_seconds /m);
  t.notMatch(body, /logout_receiver_process_|logout_receiver_nodejs_/, 'no app prefix on them');
  const { version } = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };
  t.match(body, new RegExp(`^logout_receiver_build_info\\{version="${version.replace(/\./g, '\\.')}"\\} 1$`, 'm'));
});

t.test('logout_receiver_oldest_pending_logout_age_seconds: the age of the oldest queued logout, 0 when none', async (t) => {
  t.match(await scrape(), /^logout_receiver_oldest_pending_logout_age_seconds 0$/m, 'none queued');
  const journal = svc.stores.journal;
  const oldestPending = journal.oldestPending;
  journal.oldestPending = async () => Date.now() - 90_000;
  t.teardown(() => {
    journal.oldestPending = oldestPending;
  });
  const age = Number(/^logout_receiver_oldest_pending_logout_age_seconds ([\d.]+)$/m.exec(await scrape())?.[1]);
  t.ok(age >= 90 && age < 100, `about 90 s (${age})`);
});

promtoolTest('promtool check metrics finds nothing to say, after logouts, refusals and requests of every kind', async (t) => {
  t.equal((await postLogoutToken(app, await svc.provider.sign(svc.provider.claims(ISSUER, ORDERS)))).statusCode, 200);
  await postLogoutToken(app, 'not-a-token');
  await app.inject({ url: `/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=s` });
  await app.inject({ url: '/readyz' });
  const body = await scrape();
  const result = await new Promise<{ code: number; output: string }>((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }));
    child.stdin!.end(body);
  });
  t.equal(result.output.trim(), '', 'no lint findings');
  t.equal(result.code, 0, 'exit 0');
});
