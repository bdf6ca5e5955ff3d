import t from 'tap';
import { conflictingWebSessions, patternsOverlap } from '../../src/web-sessions/key-overlap.js';
import { fillKeyTemplate, keyTemplateError, resolveKeyTemplate, webSessionValueError } from '../../src/web-sessions/key-template.js';
import { WEB_SESSION_KINDS } from '../../src/web-sessions/kinds.js';

const kind = (name: string) => WEB_SESSION_KINDS.find((k) => k.kind === name)!;
const target = { clientId: 'c1', iss: 'https://op.example', sid: 's1', sub: 'u1', homeAccountId: 'uid.utid', sessionKey: 'k1' };

t.test('a template is filled from the session: every placeholder by its value', async (t) => {
  t.same(fillKeyTemplate('app:{clientId}:{sessionKey}:{sid}:{sub}:{homeAccountId}', target), { key: 'app:c1:k1:s1:u1:uid.utid' });
});

t.test('a placeholder the session has no value for is named, never filled with nothing', async (t) => {
  t.same(fillKeyTemplate('sess:{sessionKey}', { clientId: 'c1', iss: 'i' }), { missing: 'sessionKey' });
  t.same(fillKeyTemplate('ticket:{sid}', { clientId: 'c1', iss: 'i', sid: '' }), { missing: 'sid' });
});

t.test('an unknown placeholder is refused naming the key and the placeholders there are', async (t) => {
  const resolved = resolveKeyTemplate(kind('redis'), 'sess:{sessionId}');
  t.same((resolved as { setting: string }).setting, 'key');
  t.match((resolved as { reason: string }).reason, /unknown placeholder \{sessionId\}; known: \{sessionKey\} \{sid\} \{sub\} \{homeAccountId\} \{clientId\}/);
  t.match(keyTemplateError('sess:{sessionKey', { literalPrefix: true }), /brace/);
});

t.test('a Redis template must begin with a literal prefix: "{sessionKey}" alone is refused, for every Redis kind', async (t) => {
  for (const name of ['redis', 'redis-hash']) {
    t.match(resolveKeyTemplate(kind(name), '{sessionKey}'), { setting: 'key', reason: /literal prefix/ }, name);
    t.match(resolveKeyTemplate(kind(name), '{clientId}:{sessionKey}'), { setting: 'key', reason: /literal prefix/ }, name);
    t.same(resolveKeyTemplate(kind(name), 'sess:{sessionKey}'), { key: 'sess:{sessionKey}' }, name);
  }
  t.match(resolveKeyTemplate(kind('redis'), undefined), { setting: 'key', reason: /required/ }, 'a Redis kind has no default key');
});

t.test('a template without a placeholder is refused (every session would be one record)', async (t) => {
  t.match(resolveKeyTemplate(kind('redis'), 'sess:everyone'), { setting: 'key', reason: /no placeholder/ });
});

t.test('postgres keys by {sessionKey} unless told; a bare placeholder is fine there (the table is its own)', async (t) => {
  t.same(resolveKeyTemplate(kind('postgres'), undefined), { key: '{sessionKey}' });
  t.same(resolveKeyTemplate(kind('postgres'), '{sid}'), { key: '{sid}' });
});

t.test('spring-session-redis and eoc-marker take no key: the library fixes their keys', async (t) => {
  for (const name of ['spring-session-redis', 'eoc-marker']) {
    t.same(resolveKeyTemplate(kind(name), undefined), {}, name);
    t.match(resolveKeyTemplate(kind(name), 'x:{sessionKey}'), { setting: 'key', reason: /not a setting/ }, name);
  }
});

t.test('attacker-shaped webSessionKey and principal values are refused; an ordinary session id passes', async (t) => {
  for (const ok of ['s%3Aabc.def', 'f1a2b3c4-0000-4000-8000-000000000000', 'KrX9_-~.!', 'a'.repeat(512)]) t.equal(webSessionValueError(ok), undefined, ok);
  const refused: [unknown, RegExp][] = [
    ['', /non-empty/],
    [42, /non-empty string/],
    ['a'.repeat(513), /512/],
    ['sess:*', /glob/],
    ['abc?', /glob/],
    ['[a-z]', /glob/],
    ['has space', /printable ASCII/],
    ['line\nbreak', /printable ASCII/],
    ['nul\u0000', /printable ASCII/],
    ['café', /printable ASCII/],
  ];
  for (const [value, reason] of refused) t.match(webSessionValueError(value), reason, JSON.stringify(value));
});

t.test('two templates overlap when some placeholder values make them one key', async (t) => {
  t.ok(patternsOverlap('sess:{sessionKey}', 'sess:{sessionKey}'));
  t.ok(patternsOverlap('app1:{sessionKey}', 'app1:x:{sessionKey}'), 'a longer prefix is inside the shorter one');
  t.ok(patternsOverlap('{sid}:a', 'b:{sid}'));
  t.notOk(patternsOverlap('sess:{sessionKey}', 'session:{sessionKey}'), "'sess:' and 'sessi' part at the fifth character");
  t.notOk(patternsOverlap('orders:{sessionKey}', 'billing:{sessionKey}'));
  t.notOk(patternsOverlap('a:{sid}', 'a:'), 'a placeholder is never empty');
  t.ok(patternsOverlap('a:{sid}:b', 'a:x:{sub}'));
  t.notOk(patternsOverlap('a:{sid}:b', 'a:{sub}:c'));
});

t.test('two apps whose templates could name the same key on the same store are found, naming both', async (t) => {
  const redisAt = (url: string, key: string) => ({ url, key });
  const orders = { app: 'orders-web', kind: 'redis', settings: redisAt('redis://127.0.0.1:6379', 'sess:{sessionKey}') };
  const billing = { app: 'billing-web', kind: 'redis', settings: redisAt('redis://127.0.0.1:6379/0', 'sess:{sessionKey}') };
  t.same(conflictingWebSessions([orders, billing]), [orders, billing]);
  t.equal(conflictingWebSessions([orders, { ...billing, settings: redisAt('redis://127.0.0.1:6379/1', 'sess:{sessionKey}') }]), undefined, 'another database is another store');
  t.equal(conflictingWebSessions([orders, { ...billing, settings: redisAt('redis://127.0.0.1:6379', 'billing:{sessionKey}') }]), undefined, 'prefixes of their own');
  t.equal(conflictingWebSessions([orders, { ...orders, kind: 'redis-hash' }]), undefined, 'one app may name its own keys twice');
  const markers = { app: 'eoc-web', kind: 'eoc-marker', settings: { url: 'redis://127.0.0.1:6379', prefix: 'sess:', ttlSeconds: 86400 } };
  t.same(conflictingWebSessions([orders, markers]), [orders, markers], "markers in another app's session prefix are found across kinds");
  const spring = { app: 'spring-web', kind: 'spring-session-redis', settings: { url: 'redis://127.0.0.1:6379', namespace: 'spring:session' } };
  const springish = { app: 'other', kind: 'redis', settings: redisAt('redis://127.0.0.1:6379', 'spring:{sessionKey}') };
  t.same(conflictingWebSessions([spring, springish]), [spring, springish]);
  const pgAt = (table: string, key = '{sessionKey}') => ({ url: 'postgresql://app@127.0.0.1:5432/test', schema: 'public', table, column: 'session_key', key });
  t.ok(
    conflictingWebSessions([
      { app: 'a', kind: 'postgres', settings: pgAt('django_session') },
      { app: 'b', kind: 'postgres', settings: pgAt('django_session') },
    ]),
    'one table, two apps',
  );
  t.equal(
    conflictingWebSessions([
      { app: 'a', kind: 'postgres', settings: pgAt('django_session') },
      { app: 'b', kind: 'postgres', settings: pgAt('other_session') },
    ]),
    undefined,
  );
});
