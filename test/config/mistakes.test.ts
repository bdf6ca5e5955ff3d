import t from 'tap';
import { ConfigError, loadConfig, resolveConfig } from '../../src/config/load.js';
import { testConfigFile } from '../helpers/service.js';

// Config mistakes name the right key: one row per mistake an operator makes, with the exact message.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a file edited into every wrong shape: any is its honest type
type File = Record<string, any>;
const valid = (): File => structuredClone(testConfigFile('https://idp.example.test/jwks')) as File;
const PG = 'postgres://app@127.0.0.1:5432/test';

const FILE_MISTAKES: [string, (c: File) => void, string][] = [
  ['a typo at the top', (c) => (c.clockSkewSecond = 60), 'clockSkewSecond: is not a known setting (did you mean clockSkewSeconds?)'],
  ['a typo in server', (c) => (c.server = { prot: 8080 }), 'server.prot: is not a known setting (did you mean port?)'],
  ['a port as text', (c) => (c.server = { port: 'eighty' }), 'server.port: must be integer'],
  ['a port out of range', (c) => (c.server = { port: 70000 }), 'server.port: must be <= 65535'],
  ['trustProxy true', (c) => (c.server = { trustProxy: true }), "server.trustProxy: true is refused: every address in X-Forwarded-For would then be the client's to write; list the proxies' addresses or CIDRs"],
  ['the management port is the main port', (c) => (c.server = { port: 8080, managementPort: 8080 }), 'server.managementPort: is server.port (8080); give the probes a port of their own, or leave it out to serve them on the main port'],
  ['a shutdown delay past two minutes', (c) => (c.server = { shutdownDelaySeconds: 600 }), 'server.shutdownDelaySeconds: must be <= 120'],
  ['a receiver on the memory store', (c) => (c.role = 'receiver'), 'role: a receiver needs a store the receivers and workers share (store.kind: redis); on the memory store one process of role all does both'],
  ['a role that does not exist', (c) => (c.role = 'Worker'), 'role: must be one of all, receiver, worker'],
  ['a log level that does not exist', (c) => (c.logLevel = 'verbose'), 'logLevel: must be one of fatal, error, warn, info, debug, trace, silent'],
  ['a store kind in capitals', (c) => (c.store = { kind: 'Redis', url: 'redis://a' }), 'store.kind: must be one of memory, redis (did you mean redis?)'],
  ['a store password key', (c) => (c.store = { kind: 'redis', url: 'redis://a', password: 'x' }), 'store.password: is not a setting of a redis store'],
  ['a store prefix key', (c) => (c.store = { kind: 'redis', url: 'redis://a', prefix: 'x:' }), 'store.prefix: is not a setting of a redis store (did you mean keyPrefix?)'],
  ['a store without a location', (c) => (c.store = { kind: 'redis' }), 'store: a Redis location needs exactly one of url, sentinel or cluster'],
  ['a store with two locations', (c) => (c.store = { kind: 'redis', url: 'redis://a', cluster: { nodes: ['b:7000'] } }), 'store: a Redis location needs exactly one of url, sentinel or cluster'],
  ['a store URL of another scheme', (c) => (c.store = { kind: 'redis', url: 'http://a' }), 'store.url: is not a redis:// or rediss:// URL'],
  ['a Sentinel without its name', (c) => (c.store = { kind: 'redis', sentinel: { nodes: ['a:26379'] } }), 'store.sentinel.name: is required'],
  ['replicas below zero', (c) => (c.store = { kind: 'redis', url: 'redis://a', replicas: -1 }), 'store.replicas: must be >= 0'],
  ['a web-session key with an unknown placeholder', (c) => (c.apps[0].webSession = { kind: 'redis', url: 'redis://a', key: 'sess:{userId}' }), 'apps[0].webSession.key: unknown placeholder {userId}; known: {sessionKey} {sid} {sub} {homeAccountId} {clientId}'],
  ['a Redis web-session key that is only a placeholder', (c) => (c.apps[0].webSession = { kind: 'redis', url: 'redis://a', key: '{sessionKey}' }), 'apps[0].webSession.key: must begin with a literal prefix before any placeholder (e.g. "sess:{sessionKey}")'],
  ['a Redis web session without its key', (c) => (c.apps[0].webSession = { kind: 'redis', url: 'redis://a' }), 'apps[0].webSession.key: is required for a redis web session'],
  ['a postgres web session without its table', (c) => (c.apps[0].webSession = { kind: 'postgres', url: PG, column: 'session_key' }), 'apps[0].webSession.table: is required'],
  [
    'the second web session of a list without its column',
    (c) =>
      (c.apps[0].webSession = [
        { kind: 'redis', url: 'redis://a', key: 'a:{sessionKey}' },
        { kind: 'postgres', url: PG, table: 't' },
      ]),
    'apps[0].webSession[1].column: is required',
  ],
  ['a web-session kind that does not exist', (c) => (c.apps[0].webSession = { kind: 'memcached', url: 'redis://a', key: 'a:{sessionKey}' }), 'apps[0].webSession.kind: must be one of redis, redis-hash, postgres, spring-session-redis, eoc-marker'],
  ['a key on a kind whose keys the library fixes', (c) => (c.apps[0].webSession = { kind: 'eoc-marker', url: 'redis://a', key: 'x:{sid}' }), 'apps[0].webSession.key: is not a setting of a eoc-marker web session (the library fixes its keys)'],
  ['a web session without a location', (c) => (c.apps[0].webSession = { kind: 'redis', key: 'a:{sessionKey}' }), 'apps[0].webSession: a Redis location needs exactly one of url, sentinel or cluster'],
  ['a web session as text', (c) => (c.apps[0].webSession = 'redis'), 'apps[0].webSession: must be a web session ({kind, …}) or a non-empty list of them'],
  ['an empty list of web sessions', (c) => (c.apps[0].webSession = []), 'apps[0].webSession: must be a web session ({kind, …}) or a non-empty list of them'],
  [
    "two apps whose web-session keys could name the same record (one app's key could end the other's sessions)",
    (c) => {
      c.apps[0].webSession = { kind: 'redis', url: 'redis://a', key: 'sess:{sessionKey}' };
      c.apps[1].webSession = { kind: 'redis', url: 'redis://a:6379/0', key: 'sess:{sid}' };
    },
    'apps[1].webSession: billing-web and orders-web could name the same redis record on the same store; give each app a key prefix of its own',
  ],
  ['a negative second pass', (c) => (c.retention = { secondPassSeconds: -1 }), 'retention.secondPassSeconds: must be >= 0'],
  ['a second pass in fractions of a second', (c) => (c.retention = { secondPassSeconds: 1.5 }), 'retention.secondPassSeconds: must be integer'],
  ['a second pass as text', (c) => (c.retention = { secondPassSeconds: '60s' }), 'retention.secondPassSeconds: must be integer'],
  ['a token-cache kind that does not exist', (c) => (c.apps[0].tokenCache = { kind: 'sqlserver', url: 'x' }), 'apps[0].tokenCache.kind: must be one of memory, redis, redis-hash, postgres'],
  ['a token-cache kind misspelt', (c) => (c.apps[0].tokenCache = { kind: 'redis_hash', url: 'redis://a' }), 'apps[0].tokenCache.kind: must be one of memory, redis, redis-hash, postgres (did you mean redis-hash?)'],
  ['a hash field on a string cache', (c) => (c.apps[0].tokenCache = { kind: 'redis', url: 'redis://a', field: 'data' }), 'apps[0].tokenCache.field: is not a setting of a redis token cache'],
  ['a hash field misspelt', (c) => (c.apps[0].tokenCache = { kind: 'redis-hash', url: 'redis://a', feild: 'data' }), 'apps[0].tokenCache.feild: is not a setting of a redis-hash token cache (did you mean field?)'],
  ['a token cache without a location', (c) => (c.apps[0].tokenCache = { key: '{homeAccountId}' }), 'apps[0].tokenCache: a Redis location needs exactly one of url, sentinel or cluster'],
  ['a token-cache URL of another scheme', (c) => (c.apps[0].tokenCache = { url: 'https://cache' }), 'apps[0].tokenCache.url: is not a redis:// or rediss:// URL'],
  ['a postgres cache without its table', (c) => (c.apps[0].tokenCache = { kind: 'postgres', url: PG }), 'apps[0].tokenCache.table: is required'],
  ['a postgres provider that does not exist', (c) => (c.apps[0].tokenCache = { kind: 'postgres', url: PG, table: 't', provider: 'npgsql' }), 'apps[0].tokenCache.provider: must be one of microsoft, community'],
  ['a postgres table name with a space', (c) => (c.apps[0].tokenCache = { kind: 'postgres', url: PG, table: 'token cache' }), 'apps[0].tokenCache.table: must match pattern "^[A-Za-z_][A-Za-z0-9_]{0,62}$"'],
  ['a memory cache with a URL', (c) => (c.apps[0].tokenCache = { kind: 'memory', url: 'redis://a' }), 'apps[0].tokenCache.url: is not a setting of a memory token cache'],
  ['a key template placeholder that does not exist', (c) => (c.apps[0].tokenCache.key = 'msal:{userId}'), 'apps[0].tokenCache.key: unknown placeholder {userId}; known: {homeAccountId} {clientId} {tenantId} {oid} {cacheKey}'],
  ['an app naming an issuer that does not exist', (c) => (c.apps[0].issuers = ['entr']), 'apps[0].issuers[0]: no issuer is named "entr"'],
  ['two apps with one clientId', (c) => (c.apps[1].clientId = c.apps[0].clientId), `apps[1].clientId: duplicate clientId "${valid().apps[0].clientId}"`],
  ['an HMAC algorithm', (c) => (c.issuers[0].algorithms = ['HS256']), 'issuers[0].algorithms[0]: must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519'],
  ['a template without its tenants', (c) => delete c.issuers[1].tenants, 'issuers[1].tenants: a {tenantid} issuer template needs its list of allowed tenants'],
  ['a plain-http JWKS beyond loopback', (c) => (c.issuers[0].jwksUri = 'http://idp.example.test/jwks'), 'issuers[0].jwksUri: must be https (plain http only for loopback hosts)'],
  ['an origin with a path', (c) => (c.issuers[0].frontchannelOrigins = ['https://login.example/path']), 'issuers[0].frontchannelOrigins[0]: must be an https origin (scheme://host[:port], no path)'],
  ['an API scope that does not exist', (c) => (c.api.keys[0].scopes = ['admin']), 'api.keys[0].scopes[0]: must be one of sessions:write, logouts:write, read'],
  ['an API key hash that is not hex', (c) => (c.api.keys[0].sha256 = 'not-a-hash'), 'api.keys[0].sha256: must match pattern "^[0-9a-fA-F]{64}$"'],
  ['an API key bound to an app that does not exist', (c) => (c.api.keys[0].apps = ['orders']), 'api.keys[0].apps[0]: no app is named "orders"'],
  ['a typo in retention', (c) => (c.retention = { sessionSecond: 60 }), 'retention.sessionSecond: is not a known setting (did you mean sessionSeconds?)'],
  ['a typo in limits', (c) => (c.limits = { apiRequestPerMinute: 10 }), 'limits.apiRequestPerMinute: is not a known setting (did you mean apiRequestsPerMinute?)'],
];

for (const [what, edit, message] of FILE_MISTAKES)
  t.test(`config mistake: ${what}`, async (t) => {
    const file = valid();
    edit(file);
    const err = (() => {
      try {
        resolveConfig(file);
      } catch (e) {
        return e;
      }
    })();
    t.type(err, ConfigError);
    t.equal((err as Error).message, message);
  });

const ENV_MISTAKES: [string, Record<string, string>, string][] = [
  ['PORT that is not a number', { PORT: 'http' }, 'PORT: must be a port number'],
  ['MANAGEMENT_PORT that is not a number', { MANAGEMENT_PORT: '9090x' }, 'MANAGEMENT_PORT: must be a port number'],
  ['MANAGEMENT_PORT that is PORT', { PORT: '8080', MANAGEMENT_PORT: '8080' }, 'MANAGEMENT_PORT: is server.port (8080); give the probes a port of their own, or leave it out to serve them on the main port'],
  ['LOGOUT_RECEIVER_ROLE that does not exist', { LOGOUT_RECEIVER_ROLE: 'both' }, 'LOGOUT_RECEIVER_ROLE: must be one of all, receiver, worker'],
  ['LOGOUT_RECEIVER_ROLE worker without a configuration file (the memory store)', { LOGOUT_RECEIVER_ROLE: 'worker' }, 'LOGOUT_RECEIVER_ROLE: a worker needs a store the receivers and workers share (store.kind: redis); on the memory store one process of role all does both'],
  ['LOG_LEVEL that does not exist', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent'],
  ['REDIS_URL of another scheme', { REDIS_URL: 'http://cache' }, 'REDIS_URL: is not a redis:// or rediss:// URL'],
];

for (const [what, env, message] of ENV_MISTAKES)
  t.test(`config mistake from the environment: ${what} names the variable`, async (t) => {
    await t.rejects(loadConfig([], env), { message });
  });
