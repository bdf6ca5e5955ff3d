import t from 'tap';
import fc from 'fast-check';
import { createHmac, randomUUID, sign as rsaSign, constants } from 'node:crypto';
import { exportPKCS8 } from 'jose';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/core/verify-logout-token.js';
import { BILLING, ISSUER, ORDERS, STRANGER, startService } from '../helpers/service.js';

// Property: whatever is done to a valid logout token or its body, the answer is 200 exactly when the
// result is still valid by DESIGN.md's rules (checked here by an independent oracle), 400 otherwise;
// never a 5xx, and an invalid one changes nothing.
const SKEW = 120;
const svc = await startService((f) => {
  f.issuers[0]!.algorithms = ['RS256'];
  f.clockSkewSeconds = SKEW;
  f.limits = { publicRequestsPerMinute: 1_000_000 }; // every case comes from one client
});
t.teardown(() => svc.close());
const { app, provider } = svc;
const pem = await exportPKCS8(provider.privateKey);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const ABSENT = Symbol('absent');
type Maybe<T> = T | typeof ABSENT;

const now = () => Math.floor(Date.now() / 1000);
const CONFUSABLE_NAMES = ['ѕid', 'sid\u200b', 'SID', 'Sub', 'nоnce', 'n\u00adonce', 'evеnts', 'jti ', 'Iss', 'aud\u0000'];

// Mostly good values, so that about a third of the cases stay valid and each mutation is seen alone.
const GOOD = 40;
const claimValue = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>) => fc.oneof({ weight: GOOD, arbitrary: good }, { weight: 1, arbitrary: fc.constant(ABSENT) }, { weight: 2, arbitrary: bad });
const mostly = <T>(good: T, ...others: fc.Arbitrary<unknown>[]) => fc.oneof({ weight: GOOD, arbitrary: fc.constant<unknown>(good) }, ...others.map((arbitrary) => ({ weight: 1, arbitrary })));

const mutation = fc.record({
  alg: fc.oneof({ weight: GOOD, arbitrary: fc.constant('RS256') }, { weight: 3, arbitrary: fc.constantFrom('none', 'None', 'HS256', 'PS256', 'RS512', 'ES256', 'EdDSA', '') }, fc.string()),
  typ: fc.oneof(
    { weight: GOOD, arbitrary: fc.constantFrom<Maybe<unknown>>(ABSENT, 'JWT', 'jwt', 'logout+jwt', 'Logout+JWT', 'application/logout+jwt', 'application/jwt') },
    { weight: 3, arbitrary: fc.constantFrom('at+jwt', 'dpop+jwt', 'secevent+jwt', 'JOSE', 'application/at+jwt') },
    fc.jsonValue(),
  ),
  kid: fc.oneof({ weight: GOOD, arbitrary: fc.constant<Maybe<unknown>>('REAL') }, fc.constant(ABSENT), fc.string(), fc.integer()),
  crit: mostly(ABSENT, fc.constant(['exp']), fc.jsonValue()),
  iss: claimValue(fc.constant(ISSUER), fc.oneof(fc.constantFrom(`${ISSUER}/`, 'https://evil.example.test', ISSUER.toUpperCase()), fc.jsonValue())),
  aud: claimValue(fc.constantFrom<unknown>(ORDERS, BILLING, [ORDERS], [ORDERS, BILLING]), fc.oneof(fc.constantFrom(STRANGER, [ORDERS, STRANGER], [], ORDERS.toUpperCase()), fc.jsonValue())),
  iat: claimValue(
    fc.integer({ min: -3600, max: 60 }).map((d) => now() + d),
    fc.oneof(
      fc.integer({ min: 200, max: 10 ** 9 }).map((d) => now() + d),
      fc.integer({ min: 3800, max: 10 ** 9 }).map((d) => now() - d),
      fc.jsonValue(),
    ),
  ),
  exp: claimValue(
    fc.integer({ min: -60, max: 3600 }).map((d) => now() + d),
    fc.oneof(
      fc.integer({ min: 200, max: 10 ** 6 }).map((d) => now() - d),
      fc.jsonValue(),
    ),
  ),
  jti: claimValue(fc.uuid(), fc.oneof(fc.constant(''), fc.jsonValue())),
  events: claimValue(fc.constant({ [BACKCHANNEL_LOGOUT_EVENT]: {} }), fc.oneof(fc.constantFrom({ [BACKCHANNEL_LOGOUT_EVENT]: [] }, { [BACKCHANNEL_LOGOUT_EVENT]: null }, { 'http://schemas.openid.net/event/other': {} }, [BACKCHANNEL_LOGOUT_EVENT]), fc.jsonValue())),
  sid: claimValue(
    fc.uuid().map((u) => `sid-${u}`),
    fc.oneof(fc.constant(''), fc.jsonValue()),
  ),
  sub: fc.oneof({ weight: 10, arbitrary: fc.constant<Maybe<unknown>>(ABSENT) }, { weight: 10, arbitrary: fc.string({ minLength: 1 }) }, fc.constant(''), fc.jsonValue()),
  nonce: mostly(ABSENT, fc.jsonValue()),
  extra: fc.dictionary(fc.oneof(fc.constantFrom(...CONFUSABLE_NAMES), fc.string()), fc.jsonValue(), { maxKeys: 4 }),
  signature: fc.oneof({ weight: GOOD, arbitrary: fc.constant('keep') }, { weight: 4, arbitrary: fc.constantFrom('flip', 'truncate', 'empty', 'swap-payload') }),
  body: fc.oneof({ weight: GOOD, arbitrary: fc.constantFrom('form', 'extra-param', 'charset') }, { weight: 4, arbitrary: fc.constantFrom('duplicate', 'json', 'text', 'no-token') }),
});

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;
const REGISTERED = new Set(['iss', 'aud', 'iat', 'exp', 'jti', 'events', 'sid', 'sub', 'nonce']);
const seen = new Set<string>();

function build(m: Mutation): { token: string; header: Record<string, unknown>; claims: Record<string, unknown> } {
  const header: Record<string, unknown> = { alg: m.alg };
  if (m.typ !== ABSENT) header.typ = m.typ;
  if (m.kid !== ABSENT) header.kid = m.kid === 'REAL' ? provider.kid : m.kid;
  if (m.crit !== ABSENT) header.crit = m.crit;
  const claims: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(m.extra)) if (!REGISTERED.has(name)) claims[name] = value;
  for (const name of REGISTERED) {
    const value = m[name as keyof Mutation] as unknown;
    if (value !== ABSENT) claims[name] = value;
  }
  const input = `${b64(header)}.${b64(claims)}`;
  let signature: string;
  if (m.alg === 'RS256') signature = rsaSign('sha256', Buffer.from(input), pem).toString('base64url');
  else if (m.alg === 'PS256') signature = rsaSign('sha256', Buffer.from(input), { key: pem, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString('base64url');
  else if (m.alg === 'HS256') signature = createHmac('sha256', JSON.stringify(provider.publicJwk)).update(input).digest('base64url');
  else if (m.alg.toLowerCase() === 'none') signature = '';
  else signature = Buffer.from(randomUUID()).toString('base64url');
  const middle = Math.floor(signature.length / 2);
  if (m.signature === 'flip' && signature) signature = `${signature.slice(0, middle)}${signature[middle] === 'A' ? 'B' : 'A'}${signature.slice(middle + 1)}`;
  if (m.signature === 'truncate') signature = signature.slice(0, middle);
  if (m.signature === 'empty') signature = '';
  const token = m.signature === 'swap-payload' ? `${b64(header)}.${b64({ ...claims, sid: 'swapped' })}.${signature}` : `${input}.${signature}`;
  return { token, header, claims };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** The rules of DESIGN.md, written again from the text, independent of src/. */
function oracle(m: Mutation, header: Record<string, unknown>, c: Record<string, unknown>): boolean {
  if (!['form', 'extra-param', 'charset'].includes(m.body)) return false;
  if (m.signature !== 'keep' || m.alg !== 'RS256') return false;
  if ('crit' in header) return false;
  if (!(header.kid === undefined || header.kid === provider.kid)) return false;
  if ('typ' in header && !(typeof header.typ === 'string' && /^(application\/)?(jwt|logout\+jwt)$/i.test(header.typ))) return false;
  if (c.iss !== ISSUER) return false;
  const audiences = typeof c.aud === 'string' ? [c.aud] : c.aud;
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every((a) => a === ORDERS || a === BILLING)) return false;
  // At most maxTokenAgeSeconds (3600 by default) old, beyond the skew.
  if (typeof c.iat !== 'number' || c.iat > now() + SKEW || c.iat < now() - 3600 - SKEW) return false;
  if (typeof c.exp !== 'number' || c.exp < now() - SKEW) return false;
  if (!nonEmptyString(c.jti) || seen.has(c.jti)) return false;
  if (!isObject(c.events) || !isObject(c.events[BACKCHANNEL_LOGOUT_EVENT])) return false;
  if ('sid' in c && !nonEmptyString(c.sid)) return false;
  if ('sub' in c && !nonEmptyString(c.sub)) return false;
  if (!('sid' in c) && !('sub' in c)) return false;
  if ('nonce' in c) return false;
  return true;
}

function post(m: Mutation, token: string) {
  const form = `logout_token=${encodeURIComponent(token)}`;
  const headers = { 'content-type': m.body === 'charset' ? 'application/x-www-form-urlencoded; charset=UTF-8' : 'application/x-www-form-urlencoded' };
  const payload: Record<string, [Record<string, string>, string]> = {
    form: [headers, form],
    charset: [headers, form],
    'extra-param': [headers, `${form}&ignored_parameter=${encodeURIComponent('x')}`],
    duplicate: [headers, `${form}&${form}`],
    json: [{ 'content-type': 'application/json' }, JSON.stringify({ logout_token: token })],
    text: [{ 'content-type': 'text/plain' }, form],
    'no-token': [headers, 'other=1'],
  };
  const [h, body] = payload[m.body]!;
  return app.inject({ method: 'POST', url: '/logout/backchannel', headers: h, payload: body });
}

t.test('every mutation of a valid logout token or body: 200 iff still valid, else 400 and nothing changed; never 5xx', async (t) => {
  let tried = 0;
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(mutation, async (m) => {
      tried++;
      const { token, header, claims } = build(m);
      const sid = typeof claims.sid === 'string' && claims.sid ? claims.sid : `unused-${randomUUID()}`;
      const session = await svc.stores.sessions.add({ clientId: ORDERS, issuer: ISSUER, sid, sub: 'property', homeAccountId: `${randomUUID()}.t`, expiresAt: new Date(Date.now() + 60_000).toISOString() });
      const valid = oracle(m, header, claims);
      const res = await post(m, token);
      if (res.statusCode >= 500) throw new Error(`5xx for ${JSON.stringify({ header, claims })}`);
      if (valid) {
        seen.add(claims.jti as string);
        accepted++;
        if (res.statusCode !== 200) throw new Error(`expected 200, got ${res.statusCode} ${res.body} for ${JSON.stringify({ header, claims, body: m.body })}`);
      } else {
        if (res.statusCode !== 400) throw new Error(`expected 400, got ${res.statusCode} ${res.body} for ${JSON.stringify({ header, claims, body: m.body, signature: m.signature })}`);
        if (!(await svc.stores.sessions.get(session.id))) throw new Error(`an invalid token ended a session: ${JSON.stringify({ header, claims })}`);
        if (await svc.stores.markers.isMarked(ISSUER, sid)) throw new Error('an invalid token left a logged-out marker');
      }
      await svc.stores.sessions.remove(session.id);
    }),
    { numRuns: 600 },
  );
  t.comment(`property cases tried: ${tried} (${accepted} valid, ${tried - accepted} invalid)`);
  t.ok(accepted > 20 && tried - accepted > 200, `both kinds were exercised (${accepted} valid, ${tried - accepted} invalid)`);
});
