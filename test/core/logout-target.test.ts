import t from 'tap';
import { InvalidRequest } from '../../src/core/errors.js';
import { logoutTarget } from '../../src/core/logout-target.js';

const issOf = (issuer: string) => `resolved:${issuer}`;

t.test('exactly one of issuer+sid, issuer+sub or homeAccountId names a target; the issuer is resolved', async (t) => {
  t.same(logoutTarget({ issuer: 'i', sid: 's' }, issOf, 'no'), { kind: 'sid', issuer: 'resolved:i', sid: 's' });
  t.same(logoutTarget({ issuer: 'i', sub: 'u' }, issOf, 'no'), { kind: 'sub', issuer: 'resolved:i', sub: 'u' });
  t.same(logoutTarget({ homeAccountId: 'a.b' }, issOf, 'no'), { kind: 'account', homeAccountId: 'a.b' });
});

t.test("any other combination is refused with the caller's text, before the issuer is resolved", async (t) => {
  const never = () => {
    throw new Error('resolved');
  };
  for (const fields of [{}, { issuer: 'i' }, { sid: 's' }, { issuer: 'i', sid: 's', sub: 'u' }, { issuer: 'i', homeAccountId: 'a' }, { sid: 's', homeAccountId: 'a' }, { issuer: 'i', sid: 's', homeAccountId: 'a' }])
    t.throws(() => logoutTarget(fields, never, 'give one'), new InvalidRequest('give one'), JSON.stringify(fields));
});
