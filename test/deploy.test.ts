import t from 'tap';
import { execFile } from 'node:child_process';
import { promtoolTest } from './helpers/promtool.js';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { startService } from './helpers/service.js';

// The deploy kit says what the service does: every file parses, and the ports, paths and metric names
// it uses are the service's own.
const root = new URL('..', import.meta.url).pathname;
const deploy = join(root, 'deploy');

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return (await Promise.all(entries.map(async (e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)])))).flat();
}
const files = await filesUnder(deploy);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML of many shapes, read by path in each test
type Doc = Record<string, any>;
const parsed = new Map<string, Doc[]>();
for (const file of files) {
  const text = await readFile(file, 'utf8');
  if (file.endsWith('.json')) parsed.set(relative(deploy, file), [JSON.parse(text) as Doc]);
  else {
    const docs = parseAllDocuments(text);
    for (const doc of docs) if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    parsed.set(
      relative(deploy, file),
      docs.map((d) => d.toJS() as Doc),
    );
  }
}
const docs = (name: string): Doc[] => parsed.get(name) ?? [];
const ENV = { REDIS_URL: 'redis://redis:6379', APP_CACHE_REDIS_URL: 'redis://redis:6379', ENTRA_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47', APP_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e', WEB_API_KEY_SHA256: 'a'.repeat(64) };

t.test('every file in deploy/ parses (YAML, JSON), and there are the compose file, the manifests, the alert rules, their unit tests and the dashboard', async (t) => {
  t.same([...parsed.keys()].sort(), ['compose.yaml', 'config.yaml', 'grafana/dashboard.json', 'kubernetes/logout-receiver.yaml', 'prometheus/alerts.test.yaml', 'prometheus/alerts.yaml']);
});

const config = await loadConfig(['--config', join(deploy, 'config.yaml')], ENV);
const managementPort = String(config.server.managementPort);

t.test('deploy/config.yaml is a valid configuration, with a management port of its own', async (t) => {
  t.equal(config.server.port, 8080);
  t.equal(config.server.managementPort, 9090);
  t.equal(config.store.kind, 'redis');
});

t.test("compose.yaml: the service publishes the config's ports (the management port on loopback only), mounts the config, runs as the image's user, read-only, Redis with AOF", async (t) => {
  const [compose] = docs('compose.yaml');
  const service = compose!.services['logout-receiver'];
  t.equal(service.environment.MANAGEMENT_PORT, managementPort, "MANAGEMENT_PORT is the config's");
  t.same(service.ports, [`${config.server.port}:${config.server.port}`, `127.0.0.1:${managementPort}:${managementPort}`]);
  t.ok(
    service.volumes.some((v: string) => v.endsWith(`:${service.environment.LOGOUT_RECEIVER_CONFIG}:ro`)),
    'the config is mounted where LOGOUT_RECEIVER_CONFIG says',
  );
  const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
  t.equal(service.user, /^USER (\S+)$/m.exec(dockerfile)![1], "the Dockerfile's numeric user");
  t.equal(service.read_only, true);
  t.same(service.cap_drop, ['ALL']);
  t.ok(parseStop(service.stop_grace_period) > config.server.shutdownDelaySeconds + 10, 'time to drain and finish in-flight requests');
  t.match(compose!.services.redis.command.join(' '), /--appendonly yes/);
  t.same(
    Object.keys(service.environment)
      .filter((k) => k !== 'LOGOUT_RECEIVER_CONFIG' && k !== 'MANAGEMENT_PORT')
      .sort(),
    Object.keys(ENV).sort(),
    'it sets every variable the config expands',
  );
});

function parseStop(value: string): number {
  return Number(/^(\d+)s$/.exec(value)![1]);
}

t.test("kubernetes: receivers and workers on one Redis; ports and probes are the service's own (probes on the management port), non-root, read-only, no capabilities, a PodDisruptionBudget over the receivers", async (t) => {
  const all = docs('kubernetes/logout-receiver.yaml');
  const deployments = all.filter((d) => d.kind === 'Deployment');
  const envOf = (container: Doc, name: string) => container.env.find((e: { name: string }) => e.name === name)?.value as string | undefined;
  t.same(deployments.map((d) => envOf(d.spec.template.spec.containers[0], 'LOGOUT_RECEIVER_ROLE')).sort(), ['receiver', 'worker'], 'a Deployment per role');
  const managed = await startService((file) => {
    file.server = { ...file.server, managementPort: 0 };
  });
  t.teardown(() => managed.close());
  const portsOf = new Map<Doc, Record<string, number>>();
  for (const deployment of deployments) {
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const role = envOf(container, 'LOGOUT_RECEIVER_ROLE')!;
    const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    portsOf.set(deployment, ports);
    t.same(ports, role === 'worker' ? { management: config.server.managementPort } : { http: config.server.port, management: config.server.managementPort }, `${role}: its ports (a worker serves the management port only)`);
    t.equal(envOf(container, 'MANAGEMENT_PORT'), managementPort);
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      t.equal(container[probe].httpGet.port, 'management', `${role} ${probe} on the management port`);
      t.equal((await managed.app.management!.inject({ url: container[probe].httpGet.path })).statusCode, 200, `${role} ${probe}: ${container[probe].httpGet.path} is served there`);
    }
    t.equal(deployment.spec.template.metadata.annotations['prometheus.io/port'], managementPort);
    t.equal((await managed.app.management!.inject({ url: deployment.spec.template.metadata.annotations['prometheus.io/path'] })).statusCode, 200, 'the scrape path');
    t.equal(pod.securityContext.runAsNonRoot, true);
    t.equal(pod.securityContext.runAsUser, 1000);
    t.same([container.securityContext.readOnlyRootFilesystem, container.securityContext.allowPrivilegeEscalation, container.securityContext.capabilities.drop], [true, false, ['ALL']]);
    t.ok(pod.terminationGracePeriodSeconds > config.server.shutdownDelaySeconds + 10, 'the grace period covers the delay and the in-flight requests');
    t.equal(`${container.volumeMounts[0].mountPath}/config.yaml`, envOf(container, 'LOGOUT_RECEIVER_CONFIG'));
    t.match(deployment.spec.template.metadata.labels, deployment.spec.selector.matchLabels, 'its selector matches its pods');
  }
  for (const other of all.filter((d) => d.kind === 'Service' || d.kind === 'PodDisruptionBudget')) {
    const selector = other.spec.selector.matchLabels ?? other.spec.selector;
    const selected = deployments.filter((d) => Object.entries(selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
    t.ok(selected.length > 0, `${other.kind} ${other.metadata.name} selects pods`);
    for (const port of other.spec.ports ?? []) for (const d of selected) t.ok(port.targetPort in portsOf.get(d)!, `${other.metadata.name}: targetPort ${port.targetPort} is a port of ${d.metadata.name}`);
  }
  t.ok(all.some((d) => d.kind === 'PodDisruptionBudget'));
});

t.test('every metric the alert rules and the dashboard read is one the service exposes', async (t) => {
  const svc = await startService();
  t.teardown(() => svc.close());
  const scrape = (await svc.app.inject({ url: '/metrics' })).body;
  const exposed = new Map([...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const known = (name: string) => exposed.has(name) || [/_bucket$/, /_sum$/, /_count$/].some((suffix) => suffix.test(name) && exposed.get(name.replace(suffix, '')) === 'histogram');
  const exprs = [...docs('prometheus/alerts.yaml')[0]!.groups.flatMap((g: Doc) => g.rules.map((r: Doc) => r.expr as string)), ...docs('grafana/dashboard.json')[0]!.panels.flatMap((p: Doc) => p.targets.map((x: Doc) => x.expr as string))];
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:logout_receiver|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!)));
  t.ok(used.size >= 10, `the rules and panels read ${used.size} metrics`);
  t.same(
    [...used].filter((name) => !known(name)),
    [],
    'none unknown',
  );
  for (const labels of exprs.flatMap((e) => [...e.matchAll(/logout_receiver_store_up\{store="(\w+)"\}/g)].map((m) => m[1]!))) t.match(labels, /^(service|token_cache)$/);
});

promtoolTest('promtool check rules passes on deploy/prometheus/alerts.yaml', async (t) => {
  const { stdout } = await promisify(execFile)('promtool', ['check', 'rules', join(deploy, 'prometheus/alerts.yaml')]);
  t.match(stdout, /SUCCESS: \d+ rules found/);
});

promtoolTest('a logout that reaches maxAttempts (state failed) fires LogoutReceiverLogoutsFailed (promtool test rules)', async (t) => {
  const { stdout } = await promisify(execFile)('promtool', ['test', 'rules', join(deploy, 'prometheus/alerts.test.yaml')]);
  t.match(stdout, /SUCCESS/);
});
