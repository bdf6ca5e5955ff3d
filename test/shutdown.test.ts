import t from 'tap';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startProcess } from './helpers/process.js';
import { TestProvider } from './helpers/provider.js';
import { ISSUER, ORDERS, testConfigFile } from './helpers/service.js';

const root = new URL('..', import.meta.url).pathname;

t.test('SIGTERM under load: requests in flight finish with 200, new ones are not accepted, exit 0', async (t) => {
  const provider = await TestProvider.start();
  t.teardown(() => provider.close());
  provider.jwksDelayMs = 700; // the first logouts wait on the provider's keys: they are in flight when SIGTERM comes
  const dir = await mkdtemp(join(tmpdir(), 'lr-shutdown-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = testConfigFile(provider.jwksUri);
  const config = join(dir, 'c.yaml');
  await writeFile(config, stringify(file));
  const service = await startProcess('node', ['dist/main.js', '--config', config], { cwd: root, env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' } });
  t.teardown(() => service.stop('SIGKILL'));

  const tokens = await Promise.all(Array.from({ length: 30 }, () => provider.sign(provider.claims(ISSUER, ORDERS))));
  // Each request on a connection of its own, so that it is known to have reached the service before SIGTERM.
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
  // SIGTERM once the service has taken every request in (and is fetching the keys for them).
  await new Promise<void>((resolve) => {
    const check = () => (provider.jwksFetches > 0 && connected === tokens.length ? resolve() : setTimeout(check, 10));
    check();
  });
  const exited = service.stop('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const late = await fetch(`${service.address}/healthz`).then((r) => r.status, (err: Error) => err.message);
  t.not(late, 200, `a new request after SIGTERM is not served (${late})`);
  t.same([...new Set(await Promise.all(inFlight))], [200], 'every request in flight finished with 200');
  t.equal(await exited, 0, 'exit 0');
});
