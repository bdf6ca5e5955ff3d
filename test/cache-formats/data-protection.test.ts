import t from 'tap';
import { CACHE_FORMATS } from '../../src/cache-formats/formats.js';
import { dataProtectionFormat } from '../../src/cache-formats/data-protection.js';

// The first bytes of an ASP.NET Core Data Protection payload (magic header 0x09F0C9F0, then the key id), as
// Microsoft.Identity.Web's distributed token cache writes a partition with `Encrypt = true`.
const payload = Buffer.concat([Buffer.from([0x09, 0xf0, 0xc9, 0xf0]), Buffer.from('3f1c9e2a7b4d4e5f8a9b0c1d2e3f4a5b', 'hex'), Buffer.alloc(64, 7)]);

t.test('an encrypted partition is recognized by its magic header, before MSAL JSON is tried', async (t) => {
  t.equal(
    CACHE_FORMATS.find((f) => f.recognizes(payload)),
    dataProtectionFormat,
  );
  t.notOk(dataProtectionFormat.recognizes(Buffer.from('{"Account":{}}')), 'JSON is not');
  t.notOk(dataProtectionFormat.recognizes(Buffer.from([0x09, 0xf0, 0xc9])), 'three bytes of the header are not');
});

t.test("encrypted, one account's partition (the key template names {homeAccountId}): deleted whole, reported removed with its detail", async (t) => {
  const result = await dataProtectionFormat.removeAccounts(payload, ['a.b', 'c.d'], { oneAccountPerPartition: true });
  t.equal(result.next, null, 'delete the partition');
  t.same(
    result.accounts.map((a) => [a.outcome, a.detail]),
    [
      ['removed', 'encrypted partition deleted'],
      ['removed', 'encrypted partition deleted'],
    ],
  );
});

t.test('encrypted, a partition that may hold other accounts: skipped, nothing written', async (t) => {
  const result = await dataProtectionFormat.removeAccounts(payload, ['a.b'], { oneAccountPerPartition: false });
  t.equal(result.next, undefined, 'nothing to write');
  t.equal(result.accounts[0]!.outcome, 'skipped');
  t.match(result.accounts[0]!.detail, /encrypted partition/);
});
