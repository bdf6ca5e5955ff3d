import t from 'tap';
import { eocMarkerKey } from '../../src/web-sessions/eoc-marker.js';
import { javaSerializedString, springSessionKeys } from '../../src/web-sessions/spring-session-redis.js';
import { freePort, redisForTest, REDIS_URL } from '../helpers/redis.js';
import { openWebSession } from '../helpers/web-sessions.js';

const context = await redisForTest(t);
if (context) {
  const { redis, prefix } = context;
  const session = (sessionKey?: string) => ({ clientId: 'c1', iss: 'https://op.example', sid: 'sid-1', sub: 'user-1', ...(sessionKey ? { sessionKey } : {}) });

  for (const kind of ['redis', 'redis-hash'] as const) {
    t.test(`${kind}: the session's key is deleted (removed) and a bystander's stays`, async (t) => {
      const { store } = await openWebSession(t, kind, { url: REDIS_URL, key: `${prefix}${kind}:{sessionKey}` });
      const write = (id: string) => (kind === 'redis' ? redis.set(`${prefix}${kind}:${id}`, '{}') : redis.hset(`${prefix}${kind}:${id}`, 'absexp', '-1', 'sldexp', '-1', 'data', 'x'));
      await write('alice');
      await write('bob');
      t.same(await store.end(session('alice')), { outcome: 'removed' });
      t.equal(await redis.exists(`${prefix}${kind}:alice`), 0);
      t.equal(await redis.exists(`${prefix}${kind}:bob`), 1, "bob's session stays");
    });

    t.test(`${kind}: a session already gone is not_present`, async (t) => {
      const { store } = await openWebSession(t, kind, { url: REDIS_URL, key: `${prefix}${kind}:{sessionKey}` });
      t.same(await store.end(session('nobody')), { outcome: 'not_present' });
    });
  }

  t.test('redis-hash: an ASP.NET Core ticket-store entry goes whole, so the app reads a miss and rejects the cookie (fixture)', async (t) => {
    // Stands for: ITicketStore over IDistributedCache (StackExchangeRedis) keyed InstanceName + "AuthSessionStore-" + id, as Microsoft's sample
    // store does; the cache's Get of a key without a hash is null, RetrieveAsync returns null, and cookie authentication fails the request.
    const key = `${prefix}billing:AuthSessionStore-1f2e3d4c`;
    await redis.hset(key, 'absexp', '639012345678901234', 'sldexp', '12000000000', 'data', Buffer.from([1, 2, 3]));
    await redis.expire(key, 1200);
    const { store } = await openWebSession(t, 'redis-hash', { url: REDIS_URL, key: `${prefix}billing:AuthSessionStore-{sessionKey}` });
    t.same(await store.end(session('1f2e3d4c')), { outcome: 'removed' });
    t.equal(await redis.exists(key), 0, 'no hash left, not even the expiry fields');
  });

  t.test('redis: a template naming {sessionKey} skips a session registered without one, saying which value it lacked', async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${prefix}s:{sessionKey}` });
    t.same(await store.end(session()), { outcome: 'skipped', detail: 'no {sessionKey} for this session' });
  });

  t.test('redis: a ticket store keyed by the provider sid needs no registered key', async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${prefix}ticket:{sid}` });
    await redis.set(`${prefix}ticket:sid-1`, 't');
    t.same(await store.end(session()), { outcome: 'removed' });
  });

  t.test('every Redis kind: a Redis that is down gives failed with a short detail, and never throws', async (t) => {
    const down = `redis://127.0.0.1:${await freePort()}`;
    const kinds = [
      ['redis', { key: 'sess:{sessionKey}' }],
      ['redis-hash', { key: 'ticket:{sessionKey}' }],
      ['spring-session-redis', {}],
      ['eoc-marker', {}],
    ] as const;
    const stores = await Promise.all(kinds.map(([kind, extra]) => openWebSession(t, kind, { url: down, ...extra })));
    for (const [n, [kind]] of kinds.entries()) {
      const { store } = stores[n]!;
      const ending = await store.end(session('alice'));
      t.equal(ending.outcome, 'failed', kind);
      t.ok(ending.detail && ending.detail.length <= 200 && !ending.detail.includes('alice'), `${kind}: ${ending.detail}`);
      await t.rejects(store.ping(), `${kind}: ping says it is away`);
    }
  });

  t.test('every Redis kind: ping is a write and passes on a reachable Redis', async (t) => {
    for (const [kind, extra] of [
      ['redis', { key: 'sess:{sessionKey}' }],
      ['redis-hash', { key: 'ticket:{sessionKey}' }],
      ['spring-session-redis', {}],
      ['eoc-marker', {}],
    ] as const)
      await t.resolves((await openWebSession(t, kind, { url: REDIS_URL, ...extra })).store.ping(), kind);
  });

  t.test('bad settings are refused naming the setting', async (t) => {
    await t.rejects(openWebSession(t, 'redis', { url: REDIS_URL, key: '{sessionKey}' }), /^key: must begin with a literal prefix/);
    await t.rejects(openWebSession(t, 'redis', { url: REDIS_URL, key: 'sess:{session}' }), /^key: unknown placeholder \{session\}/);
    await t.rejects(openWebSession(t, 'redis', { url: REDIS_URL }), /^key: is required/);
    await t.rejects(openWebSession(t, 'redis', { key: 'sess:{sessionKey}' }), /exactly one of url, sentinel or cluster/);
    await t.rejects(openWebSession(t, 'redis', { url: 'http://127.0.0.1', key: 'sess:{sessionKey}' }), /^url: is not a redis/);
    await t.rejects(openWebSession(t, 'redis', { url: REDIS_URL, key: 's:{sessionKey}', field: 'data' }), /field/);
    await t.rejects(openWebSession(t, 'eoc-marker', { url: REDIS_URL, ttlSeconds: 'a day' }), /^ttlSeconds:/);
    await t.rejects(openWebSession(t, 'eoc-marker', { url: REDIS_URL, prefix: '' }), /^prefix:/);
    await t.rejects(openWebSession(t, 'spring-session-redis', { url: REDIS_URL, key: 'x:{sessionKey}' }), /^key: is not a setting/);
  });

  t.test('attacker-shaped keys end at most the one key they name, inside the app prefix (DEL takes no pattern)', async (t) => {
    const { store } = await openWebSession(t, 'redis', { url: REDIS_URL, key: `${prefix}app:{sessionKey}` });
    await redis.set(`${prefix}app:victim`, 'v');
    await redis.set(`${prefix}other`, 'o');
    for (const shaped of ['*', 'vic*', '../other', `\r\nDEL ${prefix}other`]) t.equal((await store.end(session(shaped))).outcome, 'not_present', JSON.stringify(shaped));
    t.equal(await redis.exists(`${prefix}app:victim`, `${prefix}other`), 2, 'nothing else went');
  });

  t.test('spring-session-redis: the session hash and its expires key go; the id leaves the principal index as Spring wrote it', async (t) => {
    // Fixture: RedisIndexedSessionRepository's documented layout (HMSET sessions:<id>, APPEND sessions:expires:<id>, SADD index:…:<principal>) under a namespace of this test's own.
    const namespace = `${prefix}spring:session`;
    const { store } = await openWebSession(t, 'spring-session-redis', { url: REDIS_URL, namespace });
    const alice = springSessionKeys(namespace, 'a11ce-id');
    const bob = springSessionKeys(namespace, 'b0b-id');
    for (const keys of [alice, bob]) {
      await redis.hset(keys.session, 'creationTime', '1', 'maxInactiveInterval', '1800', 'lastAccessedTime', '1');
      await redis.set(keys.expires, '');
    }
    // The default JdkSerializationRedisSerializer writes members as Java-serialized Strings; another app's serializer may write them plain.
    await redis.sadd(alice.principalIndex('alice'), javaSerializedString('a11ce-id'), javaSerializedString('a11ce-other'));
    t.same(await store.end({ ...session('a11ce-id'), principal: 'alice' }), { outcome: 'removed' });
    t.equal(await redis.exists(alice.session, alice.expires), 0, 'hash and expires key gone');
    t.same(await redis.smembersBuffer(alice.principalIndex('alice')), [javaSerializedString('a11ce-other')], "the id left the index; the user's other session stays in it");
    t.equal(await redis.exists(bob.session, bob.expires), 2, "bob's session stays");
    await redis.sadd(bob.principalIndex('bob'), 'b0b-id');
    t.same(await store.end({ ...session('b0b-id'), principal: 'bob' }), { outcome: 'removed' });
    t.equal(await redis.exists(bob.principalIndex('bob')), 0, 'a plain member (StringRedisSerializer) goes too');
    t.same(await store.end({ ...session('b0b-id'), principal: 'bob' }), { outcome: 'not_present' });
  });

  t.test('spring-session-redis: the namespace defaults to spring:session', async (t) => {
    const { settings } = await openWebSession(t, 'spring-session-redis', { url: REDIS_URL });
    t.equal(settings.namespace, 'spring:session');
  });

  t.test('javaSerializedString writes what ObjectOutputStream.writeObject(String) writes', async (t) => {
    // new ObjectOutputStream(out).writeObject("abc"): magic AC ED, version 00 05, TC_STRING 74, length 00 03, bytes.
    t.equal(javaSerializedString('abc').toString('hex'), 'aced00057400036162' + '63');
  });

  t.test('eoc-marker: writes the sid marker with the value and TTL express-openid-connect writes; by sub for a logout of the user', async (t) => {
    const { store } = await openWebSession(t, 'eoc-marker', { url: REDIS_URL, prefix: `${prefix}sess:`, ttlSeconds: 3600 });
    const before = Date.now();
    t.same(await store.end(session()), { outcome: 'removed' });
    const sidKey = eocMarkerKey(`${prefix}sess:`, 'https://op.example', 'sid-1');
    t.equal(sidKey, `${prefix}sess:https://op.example|sid-1`);
    const value = JSON.parse((await redis.get(sidKey))!) as { cookie: { expires: number; maxAge: number } };
    t.equal(value.cookie.maxAge, 3_600_000);
    t.ok(value.cookie.expires >= before + 3_600_000 && value.cookie.expires <= Date.now() + 3_600_000, 'expires = now + maxAge, in ms');
    t.ok((await redis.ttl(sidKey)) > 3590);
    const subKey = eocMarkerKey(`${prefix}sess:`, 'https://op.example', 'user-1');
    t.equal(await redis.exists(subKey), 0, 'a logout of one session writes no sub marker');
    t.same(await store.end({ ...session(), bySub: true }), { outcome: 'removed' });
    t.equal(await redis.exists(subKey), 1, 'a logout by sub writes the sub marker');
    t.same(await store.end({ clientId: 'c1', iss: 'https://op.example' }), { outcome: 'skipped', detail: 'no sid or sub for this session' });
  });

  t.test("eoc-marker: ttlSeconds defaults to a day and the prefix to connect-redis's sess:", async (t) => {
    const { settings } = await openWebSession(t, 'eoc-marker', { url: REDIS_URL });
    t.same([settings.prefix, settings.ttlSeconds], ['sess:', 86400]);
  });
}
