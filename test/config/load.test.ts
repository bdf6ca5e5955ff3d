import t, { type Test } from 'tap';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, resolveConfig } from '../../src/config/load.js';
import { testConfigFile } from '../helpers/service.js';

const dir = await mkdtemp(join(tmpdir(), 'lr-config-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a file edited into every wrong shape: any is its honest type
type File = Record<string, any>;
const valid = () => structuredClone(testConfigFile('https://idp.example.test/jwks')) as File;

/** The error a broken file produces, checked to name the key. */
function keyOf(t: Test, edit: (c: File) => void): string {
  const file = valid();
  edit(file);
  try {
    resolveConfig(file);
  } catch (err) {
    t.type(err, ConfigError);
    return (err as ConfigError).key;
  }
  t.fail('the configuration was accepted');
  return '';
}

/** A loadConfig that must fail with a ConfigError naming `key`. */
async function rejectsNaming(t: Test, promise: Promise<unknown>, key: string, message?: RegExp): Promise<void> {
  try {
    await promise;
    t.fail(`accepted, expected an error naming ${key}`);
  } catch (err) {
    t.type(err, ConfigError);
    t.equal((err as ConfigError).key, key);
    if (message) t.match((err as Error).message, message);
  }
}

t.test('a valid file resolves with defaults', async (t) => {
  const config = resolveConfig(valid());
  t.equal(config.server.port, 8080);
  t.equal(config.server.host, '0.0.0.0');
  t.equal(config.clockSkewSeconds, 120);
  t.same(config.store, { kind: 'memory' });
  t.equal(config.apps[1]!.tokenCache.key, '{homeAccountId}', 'default key template');
  t.equal(config.issuers[1]!.isTemplate, true);
});

t.test('a bad file names the offending key', async (t) => {
  t.equal(
    keyOf(t, (c) => (c.server = { port: 'eighty' })),
    'server.port',
  );
  t.equal(
    keyOf(t, (c) => (c.server = { prot: 80 })),
    'server.prot',
  );
  t.equal(
    keyOf(t, (c) => (c.colckSkewSeconds = 1)),
    'colckSkewSeconds',
  );
  t.equal(
    keyOf(t, (c) => (c.apps[1].clientId = 7)),
    'apps[1].clientId',
  );
  t.equal(
    keyOf(t, (c) => (c.apps[0].issuers = ['nope'])),
    'apps[0].issuers[0]',
  );
  t.equal(
    keyOf(t, (c) => (c.apps[1].clientId = c.apps[0].clientId)),
    'apps[1].clientId',
  );
  t.equal(
    keyOf(t, (c) => (c.apps[0].tokenCache.key = 'msal:{userId}')),
    'apps[0].tokenCache.key',
  );
  t.equal(
    keyOf(t, (c) => (c.issuers[0].algorithms = ['HS256'])),
    'issuers[0].algorithms[0]',
  );
  t.equal(
    keyOf(t, (c) => (c.issuers[0].algorithms = ['none'])),
    'issuers[0].algorithms[0]',
  );
  t.equal(
    keyOf(t, (c) => (c.issuers[1].tenants = [])),
    'issuers[1].tenants',
  );
  t.equal(
    keyOf(t, (c) => (c.issuers[0].tenants = ['x'])),
    'issuers[0].tenants',
  );
  t.equal(
    keyOf(t, (c) => (c.issuers[1].name = c.issuers[0].name)),
    'issuers[1].name',
  );
  t.equal(
    keyOf(t, (c) => (c.issuers[0].frontchannelOrigins = ['https://login.example/path'])),
    'issuers[0].frontchannelOrigins[0]',
  );
  t.equal(
    keyOf(t, (c) => (c.api.keys[0].sha256 = 'not-a-hash')),
    'api.keys[0].sha256',
  );
  t.equal(
    keyOf(t, (c) => (c.api.keys[0].scopes = ['admin'])),
    'api.keys[0].scopes[0]',
  );
  t.equal(
    keyOf(t, (c) => delete c.apps),
    'apps',
  );
});

t.test('a redis store needs exactly one of url, sentinel or cluster, and redis URLs', async (t) => {
  t.equal(
    keyOf(t, (c) => (c.store = { kind: 'redis' })),
    'store',
  );
  t.equal(
    keyOf(t, (c) => (c.store = { kind: 'redis', url: 'redis://a', cluster: { nodes: ['b:6379'] } })),
    'store',
  );
  t.equal(
    keyOf(t, (c) => (c.store = { kind: 'redis', url: 'http://a' })),
    'store.url',
  );
  t.equal(
    keyOf(t, (c) => (c.apps[0].tokenCache = { url: 'https://cache', key: '{homeAccountId}' })),
    'apps[0].tokenCache.url',
  );
  const sentinel = valid();
  sentinel.store = { kind: 'redis', sentinel: { name: 'mymaster', nodes: ['10.0.0.1:26379', '10.0.0.2:26379'] }, keyPrefix: 'x:' };
  t.same(resolveConfig(sentinel).store, { kind: 'redis', keyPrefix: 'x:', replicas: 0, replicaWaitMs: 500, sentinel: { name: 'mymaster', nodes: ['10.0.0.1:26379', '10.0.0.2:26379'] } });
  const cluster = valid();
  cluster.store = { kind: 'redis', cluster: { nodes: ['redis://10.0.0.1:7000'] } };
  t.same(resolveConfig(cluster).store, { kind: 'redis', keyPrefix: 'lr:', replicas: 0, replicaWaitMs: 500, cluster: { nodes: ['redis://10.0.0.1:7000'] } });
});

t.test('jwksUri and discovery over plain http only for loopback hosts', async (t) => {
  t.equal(
    keyOf(t, (c) => (c.issuers[0].jwksUri = 'http://idp.example.test/jwks')),
    'issuers[0].jwksUri',
  );
  t.equal(
    keyOf(t, (c) => (c.issuers[0].jwksUri = 'http://10.0.0.1/jwks')),
    'issuers[0].jwksUri',
  );
  t.equal(
    keyOf(t, (c) => (c.issuers[0].jwksUri = 'ftp://idp.example.test/jwks')),
    'issuers[0].jwksUri',
  );
  t.equal(
    keyOf(t, (c) => {
      delete c.issuers[0].jwksUri;
      c.issuers[0].issuer = 'http://idp.example.test';
    }),
    'issuers[0].issuer',
  );
  t.equal(
    keyOf(t, (c) => {
      delete c.issuers[0].jwksUri;
      c.issuers[0].discoveryUrl = 'http://idp.example.test/.well-known/openid-configuration';
    }),
    'issuers[0].discoveryUrl',
  );
  for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '[::1]']) {
    const file = valid();
    file.issuers[0].jwksUri = `http://${host}:8443/jwks`;
    t.doesNotThrow(() => resolveConfig(file), `http://${host} is accepted`);
  }
  const discovery = valid();
  delete discovery.issuers[0].jwksUri;
  t.equal(resolveConfig(discovery).issuers[0]!.discoveryUrl, 'https://idp.example.test/.well-known/openid-configuration');
});

t.test('loadConfig reads YAML or JSON from --config or LOGOUT_RECEIVER_CONFIG, env overrides', async (t) => {
  const yamlPath = join(dir, 'c.yaml');
  await writeFile(yamlPath, 'issuers: []\napps: []\nserver: { port: 9000 }\n');
  const fromFlag = await loadConfig(['--config', yamlPath], {});
  t.equal(fromFlag.server.port, 9000);
  t.equal(fromFlag.development, false);
  const jsonPath = join(dir, 'c.json');
  await writeFile(jsonPath, JSON.stringify({ issuers: [], apps: [], logLevel: 'warn' }));
  const fromEnv = await loadConfig([], { LOGOUT_RECEIVER_CONFIG: jsonPath, PORT: '7000', HOST: '127.0.0.1', LOG_LEVEL: 'debug' });
  t.equal(fromEnv.server.port, 7000);
  t.equal(fromEnv.server.host, '127.0.0.1');
  t.equal(fromEnv.logLevel, 'debug');
  const redis = await loadConfig(['--config=' + jsonPath], { REDIS_URL: 'redis://127.0.0.1:6379' });
  t.same(redis.store, { kind: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: 'lr:', replicas: 0, replicaWaitMs: 500 });
});

t.test('loadConfig errors name the file, the variable or the key', async (t) => {
  await rejectsNaming(t, loadConfig(['--config', join(dir, 'missing.yaml')], {}), join(dir, 'missing.yaml'));
  const broken = join(dir, 'broken.yaml');
  await writeFile(broken, 'issuers: [\n');
  await rejectsNaming(t, loadConfig(['--config', broken], {}), broken, /cannot be parsed/);
  const dup = join(dir, 'dup.yaml');
  await writeFile(dup, 'issuers: []\napps: []\napps: []\n');
  await rejectsNaming(t, loadConfig(['--config', dup], {}), dup);
  const list = join(dir, 'list.yaml');
  await writeFile(list, '- 1\n');
  await rejectsNaming(t, loadConfig(['--config', list], {}), list);
  await rejectsNaming(t, loadConfig(['--config'], {}), '--config');
  await rejectsNaming(t, loadConfig([], { PORT: 'http' }), 'PORT');
  await rejectsNaming(t, loadConfig([], { LOG_LEVEL: 'loud' }), 'LOG_LEVEL');
});

t.test('without a file: the development configuration, on loopback only', async (t) => {
  const dev = await loadConfig([], {});
  t.equal(dev.development, true);
  t.equal(dev.server.host, '127.0.0.1');
  t.same(dev.store, { kind: 'memory' });
  t.equal(dev.apps.length, 1);
  await rejectsNaming(t, loadConfig([], { HOST: '0.0.0.0' }), 'HOST');
});

/** The whole message a broken file produces. */
function messageOf(edit: (c: File) => void): string {
  const file = valid();
  edit(file);
  try {
    resolveConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return 'accepted';
}

t.test('token-cache kinds: each is checked against its own settings, and a mistake names the setting and the kinds', async (t) => {
  t.equal(
    messageOf((c) => (c.apps[0].tokenCache = { kind: 'Redis', url: 'redis://a' })),
    'apps[0].tokenCache.kind: must be one of memory, redis, redis-hash, postgres (did you mean redis?)',
  );
  t.equal(
    messageOf((c) => (c.apps[0].tokenCache = { kind: 'redis', url: 'redis://a', field: 'data' })),
    'apps[0].tokenCache.field: is not a setting of a redis token cache',
  );
  t.equal(
    messageOf((c) => (c.apps[0].tokenCache = { kind: 'redis-hash', url: 'redis://a', feild: 'data' })),
    'apps[0].tokenCache.feild: is not a setting of a redis-hash token cache (did you mean field?)',
  );
  t.equal(
    messageOf((c) => (c.apps[0].tokenCache = { kind: 'redis-hash', url: 'postgres://a' })),
    'apps[0].tokenCache.url: is not a redis:// or rediss:// URL',
  );
  t.equal(
    messageOf((c) => (c.apps[0].tokenCache = { kind: 'postgres', url: 'postgres://a/db' })),
    'apps[0].tokenCache.table: is required',
  );
  t.match(
    messageOf((c) => (c.apps[0].tokenCache = { kind: 'postgres', url: 'postgres://a/db', table: 't', provider: 'npgsql' })),
    /^apps\[0\]\.tokenCache\.provider: /,
  );
  t.match(
    messageOf((c) => (c.apps[0].tokenCache = { kind: 'postgres', url: 'postgres://a/db', table: 'token cache' })),
    /^apps\[0\]\.tokenCache\.table: /,
  );
  t.match(
    messageOf((c) => (c.apps[0].tokenCache = { kind: 'postgres', url: 'redis://a', table: 't' })),
    /^apps\[0\]\.tokenCache\.url: /,
  );
  t.equal(
    messageOf((c) => (c.apps[0].tokenCache = { kind: 'memory', url: 'redis://a' })),
    'apps[0].tokenCache.url: is not a setting of a memory token cache',
  );
  t.equal(
    messageOf((c) => (c.store = { kind: 'postgres' })),
    'store.kind: must be one of memory, redis',
  );
  t.equal(
    messageOf((c) => (c.store = { kind: 'redis', url: 'redis://a', prefix: 'x' })),
    'store.prefix: is not a setting of a redis store (did you mean keyPrefix?)',
  );
});

t.test('token-cache kinds: url alone means redis, and each kind fills in its defaults', async (t) => {
  const file = valid();
  file.apps[0].tokenCache = { url: 'redis://127.0.0.1:6379' };
  file.apps[1].tokenCache = { kind: 'redis-hash', url: 'redis://127.0.0.1:6379', key: 'billing:{homeAccountId}' };
  file.apps.push({ clientId: '3b9d2f1a-7c4e-4a5b-8d6e-2f1a3b4c5d6e', name: 'reports-web', issuers: ['entra'], tokenCache: { kind: 'postgres', url: 'postgres://app@127.0.0.1:5432/test', table: 'token_cache' } });
  const apps = resolveConfig(file).apps;
  t.same(apps[0]!.tokenCache, { kind: 'redis', key: '{homeAccountId}', url: 'redis://127.0.0.1:6379' });
  t.same(apps[1]!.tokenCache, { kind: 'redis-hash', key: 'billing:{homeAccountId}', field: 'data', url: 'redis://127.0.0.1:6379' });
  t.same(apps[2]!.tokenCache, { kind: 'postgres', key: '{homeAccountId}', provider: 'microsoft', schema: 'public', url: 'postgres://app@127.0.0.1:5432/test', table: 'token_cache' });
});

t.test("server.trustProxy: a list of the proxies' addresses or CIDRs; true and hop counts are refused, saying why", async (t) => {
  const file = valid();
  file.server = { trustProxy: ['10.0.0.1', '10.1.0.0/16', '::1', 'fd00::/8', 'loopback'] };
  t.same(resolveConfig(file).server.trustProxy, ['10.0.0.1', '10.1.0.0/16', '::1', 'fd00::/8', 'loopback']);
  t.same(resolveConfig(valid()).server.trustProxy, [], 'none by default: the peer is the client');
  t.match(
    messageOf((c) => (c.server = { trustProxy: true })),
    /^server\.trustProxy: true is refused: every address in X-Forwarded-For would then be the client's to write/,
  );
  t.match(
    messageOf((c) => (c.server = { trustProxy: 1 })),
    /^server\.trustProxy: a hop count is refused: it cannot check that the peer is your proxy/,
  );
  t.equal(
    messageOf((c) => (c.server = { trustProxy: ['10.0.0.1', 'proxy.internal'] })),
    'server.trustProxy[1]: is not an IP address, a CIDR or one of loopback, linklocal, uniquelocal',
  );
  t.equal(
    messageOf((c) => (c.server = { trustProxy: ['10.0.0.0/33'] })),
    'server.trustProxy[0]: is not an IP address, a CIDR or one of loopback, linklocal, uniquelocal',
  );
});

t.test('REDIS_URL beside a Sentinel or Cluster store is refused at start, with one clear line', async (t) => {
  for (const store of [
    { kind: 'redis', sentinel: { name: 'm', nodes: ['127.0.0.1:26379'] } },
    { kind: 'redis', cluster: { nodes: ['127.0.0.1:7000'] } },
  ]) {
    const path = join(dir, `ha-${Object.keys(store)[1]}.json`);
    await writeFile(path, JSON.stringify({ ...valid(), store }));
    await rejectsNaming(t, loadConfig(['--config', path], { REDIS_URL: 'redis://127.0.0.1:6379' }), 'REDIS_URL', /would replace the configured (Sentinel|Cluster) store with a single node/);
  }
});

t.test('secrets: ${NAME} in the file is the environment variable, or the content of NAME_FILE (a mounted secret); $$ is a literal $', async (t) => {
  const file = valid();
  file.store = { kind: 'redis', url: 'redis://:${REDIS_PASSWORD}@cache.internal:6379', keyPrefix: 'lr$$:' };
  file.api.keys[0].sha256 = '${ORDERS_KEY_SHA256}';
  const path = join(dir, 'secrets.yaml');
  await writeFile(path, JSON.stringify(file));
  const hash = 'a'.repeat(64);
  const fromEnv = await loadConfig(['--config', path], { REDIS_PASSWORD: 'pa$$word', ORDERS_KEY_SHA256: hash });
  t.equal(fromEnv.store.url, 'redis://:pa$$word@cache.internal:6379', 'from the variable, its value as it is');
  t.equal(fromEnv.store.keyPrefix, 'lr$:', '$$ is a literal $');
  t.equal(fromEnv.apiKeys[0]!.sha256, hash);
  const secret = join(dir, 'redis-password');
  await writeFile(secret, 's3cret\n');
  const fromFile = await loadConfig(['--config', path], { REDIS_PASSWORD_FILE: secret, ORDERS_KEY_SHA256: hash });
  t.equal(fromFile.store.url, 'redis://:s3cret@cache.internal:6379', 'from the file, less its trailing newline');
  await rejectsNaming(t, loadConfig(['--config', path], { ORDERS_KEY_SHA256: hash }), 'store.url', /\$\{REDIS_PASSWORD\}: neither REDIS_PASSWORD nor REDIS_PASSWORD_FILE is set/);
  await rejectsNaming(t, loadConfig(['--config', path], { REDIS_PASSWORD_FILE: join(dir, 'absent'), ORDERS_KEY_SHA256: hash }), 'store.url', /REDIS_PASSWORD_FILE cannot be read \(ENOENT\)/);
});
