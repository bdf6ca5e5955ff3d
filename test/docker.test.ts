import t from 'tap';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startProcess } from './helpers/process.js';

const root = new URL('..', import.meta.url).pathname;
const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');

/** The Dockerfile's instructions, stage by stage (continuation lines joined). */
function stages(text: string): { name: string; lines: string[] }[] {
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const result: { name: string; lines: string[] }[] = [];
  for (const line of instructions) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) result.push({ name: from[1] ?? '', lines: [line] });
    else result.at(-1)?.lines.push(line);
  }
  return result;
}

const all = stages(dockerfile);
const runtime = all.at(-1)!;
const find = (re: RegExp) => runtime.lines.filter((l) => re.test(l));

t.test('the Dockerfile is multi-stage: a build stage, then a runtime stage', async (t) => {
  t.ok(all.length >= 2, 'at least two stages');
  t.ok(
    all[0]!.lines.some((l) => /npm run build/.test(l)),
    'the first stage builds',
  );
  t.ok(
    find(/^COPY --from=/).some((l) => /dist/.test(l)),
    'the runtime copies dist from the build stage',
  );
});

t.test('the runtime stage installs production dependencies only and runs as a non-root user', async (t) => {
  t.ok(find(/^RUN .*npm ci .*--omit=dev/).length === 1, 'npm ci --omit=dev');
  t.notOk(find(/^COPY (\.|src)\s/).length, 'no sources copied into the runtime');
  const user = find(/^USER /).at(-1);
  t.ok(user, 'a USER is set');
  t.notMatch(user!, /^USER\s+(root|0)(:|\s|$)/, 'and it is not root');
  t.match(user!, /^USER\s+\d+:\d+$/, "numeric uid:gid, which Kubernetes' runAsNonRoot can check");
});

t.test('the stages run on Node 24 (LTS), as CI tests, and the image carries OCI labels', async (t) => {
  for (const stage of all) t.match(stage.lines[0], /^FROM node:24-bookworm-slim/, `stage ${stage.name}`);
  const labels = runtime.lines.filter((l) => /^LABEL /.test(l)).join(' ');
  for (const label of ['title', 'description', 'licenses', 'version']) t.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${label}=`), label);
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { engines: { node: string }; version: string };
  t.match(labels, `org.opencontainers.image.version="${pkg.version}"`, 'the version label is the package version');
  t.equal(pkg.engines.node, '^20.19.0 || ^24.0.0', 'engines says what CI tests: Node 20 and Node 24');
});

t.test('the runtime stage has a HEALTHCHECK on /healthz, listens on PORT and stops on SIGTERM', async (t) => {
  t.match(find(/^HEALTHCHECK /).join(), /\/healthz/);
  t.match(find(/^ENV /).join(), /PORT=/);
  t.match(find(/^STOPSIGNAL /).join(), /SIGTERM/);
  t.match(find(/^CMD /).join(), /dist\/main\.js/);
});

t.test('replaying the runtime stage: a clean copy, npm ci --omit=dev, the image command answers /healthz and stops on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lr-image-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const item of ['package.json', 'package-lock.json', 'openapi.yaml', 'dist']) await cp(join(root, item), join(dir, item), { recursive: true });
  await promisify(execFile)('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, timeout: 240_000 });
  const cmd = JSON.parse(/^CMD\s+(\[.*\])$/.exec(find(/^CMD /)[0]!)![1]!) as string[];
  const service = await startProcess(cmd[0]!, cmd.slice(1), { cwd: dir, env: { PORT: '0', NODE_ENV: 'production', LOGOUT_RECEIVER_CONFIG: '' } });
  t.teardown(() => service.stop('SIGKILL'));
  const health = await fetch(`${service.address}/healthz`);
  t.equal(health.status, 200);
  t.equal(await service.stop('SIGTERM'), 0, 'exits 0 on SIGTERM');
  t.same((await readdir(dir)).sort(), ['dist', 'node_modules', 'openapi.yaml', 'package-lock.json', 'package.json'], 'it wrote nothing beside its files (a read-only root filesystem works)');
  t.ok(
    service.lines.some((l) => /stopping/.test(l)),
    'says it is stopping',
  );
});
