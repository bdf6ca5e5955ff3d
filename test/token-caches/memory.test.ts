import t from 'tap';
import { CACHE_FORMATS } from '../../src/cache-formats/formats.js';
import type { AppConfig } from '../../src/core/registrations.js';
import { TokenCacheSweeper } from '../../src/core/token-cache-sweeper.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { DOTNET_CLIENT_ID, dotnetCache, dotnetHomeAccountId } from '../helpers/msal-dotnet.js';

const ALICE = { uid: 'aaaaaaaa-0000-4000-8000-00000000000a', utid: '72f988bf-86f1-41af-91ab-2d7cd011db47', name: 'Alice' };
const BOB = { uid: 'bbbbbbbb-0000-4000-8000-00000000000b', utid: '72f988bf-86f1-41af-91ab-2d7cd011db47', name: 'Bob' };
const alice = dotnetHomeAccountId(ALICE);
const app: AppConfig = { clientId: DOTNET_CLIENT_ID, name: 'memory-web', issuers: ['entra'], tokenCache: { kind: 'memory', key: 'shared' } };

t.test('memory: a partition that has no UTF-8 form (a lone surrogate), begins with a BOM or has text after its JSON is skipped with the reason, and left as it was', async (t) => {
  const blob = dotnetCache([ALICE, BOB]);
  const cases: [string, string, RegExp][] = [
    ['a lone surrogate', blob.replace('"Bob"', '"B\uD800b"'), /not valid UTF-8/],
    ['a byte order mark', `\uFEFF${blob}`, /byte order mark/],
    ['text after the JSON text', `${blob} x`, /bytes after its JSON text/],
  ];
  for (const [what, text, reason] of cases) {
    t.not(text, blob, `${what}: the partition is damaged`);
    const store = new MemoryTokenCacheStore();
    await store.set('shared', text);
    const [removal] = await new TokenCacheSweeper([{ app, store }], { formats: CACHE_FORMATS }).sweep([{ homeAccountId: alice, cacheKeys: new Map() }]);
    t.match(removal, { outcome: 'skipped', detail: reason }, what);
    t.equal(await store.get('shared'), text, `${what}: untouched`);
  }
  const store = new MemoryTokenCacheStore();
  await store.set('shared', blob);
  const [removal] = await new TokenCacheSweeper([{ app, store }], { formats: CACHE_FORMATS }).sweep([{ homeAccountId: alice, cacheKeys: new Map() }]);
  t.equal(removal!.outcome, 'removed', 'the same partition undamaged: removed');
});
