import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyFromStdin, parseCommandLine, UsageError } from '../src/cli.js';
import { withoutCoverage } from './helpers/process.js';
import { testConfigFile } from './helpers/service.js';

// The command line, run as an operator does: the compiled bin (npm test builds dist/ first), without tap's
// hooks (each would cost the process a second of CPU; these paths' coverage is not counted).
const main = new URL('../dist/main.js', import.meta.url).pathname;
const run = (args: string[], input?: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(...withoutCoverage(process.execPath, [main, ...args]), { timeout: 20_000, env: { ...process.env, LOGOUT_RECEIVER_CONFIG: '' } }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    child.stdin!.end(input ?? '');
  });
const dir = await mkdtemp(join(tmpdir(), 'lr-cli-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('--help and --version print and exit 0', async (t) => {
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /usage: logout-receiver/);
  const version = await run(['--version']);
  t.equal(version.code, 0);
  t.equal(version.stdout.trim(), (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version);
});

t.test('an unknown flag is an error, and never starts the development configuration (a typo in --conifg)', async (t) => {
  const typo = await run(['--conifg', 'prod.yaml']);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /Unknown option '--conifg'/);
  t.match(typo.stderr, /usage:/);
  t.equal((await run(['serve-please'])).code, 2, 'an unknown command too');
  t.throws(() => parseCommandLine(['--config']), { message: /argument missing/ }, '--config needs its value');
  t.type(
    (() => {
      try {
        parseCommandLine(['--config']);
      } catch (err) {
        return err;
      }
    })(),
    UsageError,
  );
});

t.test('check-config FILE validates and exits 0 when valid, 2 naming the key when not', async (t) => {
  const good = join(dir, 'good.json');
  await writeFile(good, JSON.stringify(testConfigFile('https://idp.example.test/jwks')));
  const ok = await run(['check-config', good]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /is valid: 2 issuer\(s\), 2 app\(s\), store memory/);
  const bad = join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ ...testConfigFile('https://idp.example.test/jwks'), clockSkewSecond: 1 }));
  const refused = await run(['check-config', bad]);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /configuration error: clockSkewSecond: is not a known setting/);
  t.equal((await run(['check-config'])).code, 2, 'without a file: usage');
});

t.test('hash-key reads the key on stdin and prints the hex SHA-256 the configuration wants, less the newline echo adds', async (t) => {
  const sha = createHash('sha256').update('s3cret-key').digest('hex');
  t.equal((await run(['hash-key'], 's3cret-key')).stdout.trim(), sha, 'printf %s');
  t.equal((await run(['hash-key'], 's3cret-key\n')).stdout.trim(), sha, 'echo: the newline is not part of the key');
  t.equal((await run(['hash-key'], '')).code, 2, 'no key: an error');
  t.equal(keyFromStdin('k\r\n'), 'k');
});

t.test('a 401 for a key whose configured hash is of the key plus a newline (made with echo) is logged as such', async (t) => {
  const { pino } = await import('pino');
  const { loggerOptions } = await import('../src/http/logging.js');
  const { buildApp } = await import('../src/server.js');
  const { startService } = await import('./helpers/service.js');
  const lines: { msg?: string; key?: string }[] = [];
  const logger = pino(loggerOptions('info'), { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) });
  const svc = await startService((f) => {
    f.api!.keys!.push({ name: 'echoed', sha256: createHash('sha256').update('echoed-key\n').digest('hex'), scopes: ['read'] });
  });
  t.teardown(() => svc.close());
  const app = await buildApp({ config: svc.config, stores: svc.stores, tokenCaches: svc.caches, logger });
  t.teardown(() => app.close());
  const res = await app.inject({ url: '/v1/apps', headers: { authorization: 'Bearer echoed-key' } });
  t.equal(res.statusCode, 401, "still refused: the hash is not the key's");
  const warning = lines.find((l) => /plus a newline/.test(l.msg ?? ''));
  t.equal(warning?.key, 'echoed', 'the log says which key and why');
  t.notMatch(JSON.stringify(lines), /echoed-key/, 'and never the key itself');
});
