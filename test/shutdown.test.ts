import t from 'tap';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startProcess } from './helpers/process.js';
import { TestProvider } from './helpers/provider.js';
import { ISSUER, ORDERS, testConfigFile, until } from './helpers/service.js';

const root = new URL('..', import.meta.url).pathname;

t.test('SIGTERM under load: /readyz turns 503 first and requests are still served for shutdownDelaySeconds, then the listener closes, requests in flight finish with 200, exit 0', async (t) => {
  const provider = await TestProvider.start();
  t.teardown(() => provider.close());
  // The logouts wait on the provider's keys well past the delay: they are still in flight when the listener closes.
  provider.jwksDelayMs = 3_000;
  const dir = await mkdtemp(join(tmpdir(), 'lr-shutdown-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = testConfigFile(provider.jwksUri);
  file.server = { ...file.server, shutdownDelaySeconds: 1 };
  const config = join(dir, 'c.yaml');
  await writeFile(config, stringify(file));
  const service = await startProcess('node', ['dist/main.js', '--config', config], { cwd: root, env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' } });
  t.teardown(() => service.stop('SIGKILL'));

  const tokens = await Promise.all(Array.from({ length: 30 }, () => provider.sign(provider.claims(ISSUER, ORDERS))));
  let connected = 0;
  const inFlight = tokens.map(
    (token) =>
      new Promise<number>((resolve, reject) => {
        const body = `logout_token=${token}`;
        const req = request(`${service.address}/logout/backchannel`, { method: 'POST', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('socket', (socket) => socket.once('connect', () => connected++));
        req.on('error', reject);
        req.end(body);
      }),
  );
  await until(async () => provider.jwksFetches > 0 && connected === tokens.length);
  const exited = service.stop('SIGTERM');
  const stopping = await until(async () => {
    const res = await fetch(`${service.address}/readyz`);
    return res.status === 503 && ((await res.json()) as { status: string });
  });
  t.equal(stopping.status, 'stopping', 'during the delay /readyz is served, 503 stopping');
  t.equal((await fetch(`${service.address}/healthz`)).status, 200, 'and other requests are still served');
  await until(async () => service.lines.some((line) => line.includes('no longer accepting')));
  const late = await fetch(`${service.address}/healthz`).then(
    (r) => r.status,
    (err: Error) => err.message,
  );
  t.not(late, 200, `once the delay is over a new request is not served (${late})`);
  t.same([...new Set(await Promise.all(inFlight))], [200], 'every request in flight finished with 200');
  t.equal(await exited, 0, 'exit 0');
});
