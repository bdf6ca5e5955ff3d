import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess } from './helpers/process.js';
import { freePort } from './helpers/redis.js';
import { testConfigFile, until } from './helpers/service.js';
import { stringify } from 'yaml';

const root = new URL('..', import.meta.url).pathname;
const main = join(root, 'dist/main.js');
const dir = await mkdtemp(join(tmpdir(), 'lr-main-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** Runs the service expecting it to refuse to start. */
function refuse(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [main, ...args], { env: { ...process.env, LOGOUT_RECEIVER_CONFIG: '', ...env }, timeout: 20_000 }, (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
  });
}

t.test('with no configuration it starts on the memory store, on loopback, and warns about both', async (t) => {
  const service = await startProcess('node', [main], { cwd: root, env: { PORT: '0', LOGOUT_RECEIVER_CONFIG: '' } });
  t.teardown(() => service.stop('SIGKILL'));
  t.match(service.address, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.ok(
    service.lines.some((l) => /memory.*lost on restart/.test(l)),
    'warns that memory is lost on restart',
  );
  t.ok(
    service.lines.some((l) => /no configuration file/.test(l)),
    'says it runs the development configuration',
  );
  const apps = await fetch(`${service.address}/v1/apps`, { headers: { authorization: 'Bearer dev-only-key' } });
  t.equal(apps.status, 200, 'the development key from the README works');
  t.equal(await service.stop('SIGTERM'), 0, 'SIGTERM stops it cleanly');
});

t.test('a bad configuration file stops the start with one line naming the key', async (t) => {
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'issuers: []\napps:\n  - clientId: abc\n    name: web\n    issuers: [missing]\n    tokenCache: { kind: memory }\n');
  const result = await refuse(['--config', file]);
  t.equal(result.code, 2);
  t.equal(result.stderr.trim().split('\n').length, 1, 'one line');
  t.match(result.stderr, /apps\[0\]\.issuers\[0\]: no issuer is named "missing"/);
});

t.test('with its Redis unreachable the service still starts, says so, and answers /readyz 503 without crashing', async (t) => {
  const port = await freePort();
  const file = join(dir, 'redis-down.yaml');
  await writeFile(file, `store: { kind: redis, url: "redis://127.0.0.1:${port}" }\nissuers: []\napps: []\n`);
  const service = await startProcess('node', [main, '--config', file], { cwd: root, env: { PORT: '0', HOST: '127.0.0.1' } });
  t.teardown(() => service.stop('SIGKILL'));
  t.equal((await fetch(`${service.address}/healthz`)).status, 200, 'alive');
  t.equal((await fetch(`${service.address}/readyz`)).status, 503, 'not ready');
  t.ok(
    service.lines.some((l) => /outage began/.test(l)),
    'logs that Redis is unreachable',
  );
  t.match(await (await fetch(`${service.address}/metrics`)).text(), /logout_receiver_store_errors_total\{where="store"\} [1-9]/, 'and counts it');
  t.notOk(
    service.lines.some((l) => /redis:\/\/[^"]*@/.test(l)),
    'no credentials in the log',
  );
  t.equal(await service.stop('SIGTERM'), 0);
});

t.test('the development key is never served beyond loopback', async (t) => {
  const result = await refuse([], { HOST: '0.0.0.0' });
  t.equal(result.code, 2);
  t.match(result.stderr, /HOST/);
});

t.test('server.managementPort: the probes and metrics listen there, the main port serves the routes without them', async (t) => {
  const file = testConfigFile('http://127.0.0.1:9/jwks');
  file.server = { managementPort: 0, shutdownDelaySeconds: 0 };
  const config = join(dir, 'management.yaml');
  await writeFile(config, stringify(file));
  const service = await startProcess('node', [main, '--config', config], { cwd: root, env: { PORT: '0', HOST: '127.0.0.1' } });
  t.teardown(() => service.stop('SIGKILL'));
  const line = await until(async () => service.lines.map((l) => /probes and metrics listening on (http:\/\/[^"\s]+)/.exec(l)?.[1]).find(Boolean));
  t.not(line, service.address, 'a port of its own');
  t.equal((await fetch(`${line}/readyz`)).status, 200, '/readyz on the management port');
  t.equal((await fetch(`${line}/metrics`)).status, 200, '/metrics on the management port');
  t.equal((await fetch(`${service.address}/metrics`)).status, 404, 'not on the main port');
  t.equal((await fetch(`${service.address}/openapi.yaml`)).status, 200, 'the main port serves the rest');
  t.equal(await service.stop('SIGTERM'), 0, 'SIGTERM closes both');
});

t.test('bad input: an HTTPS_PROXY that is not a URL stops the start with one line naming the variable', async (t) => {
  const result = await refuse([], { HTTPS_PROXY: 'proxy internal 3128', PORT: '0' });
  t.equal(result.code, 1);
  t.match(result.stderr, /cannot start: HTTPS_PROXY: is not a URL/);
  t.notMatch(result.stderr, /at .*\.js/, 'no stack');
});
