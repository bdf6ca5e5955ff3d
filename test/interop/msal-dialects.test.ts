import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { DIALECTS, KNOWN_SECTIONS, cacheArbitrary, entriesOf, type Dialect, type GeneratedCache } from '../../simulators/msal-dialects.js';

// Sanity of test/helpers/msal-dialects.ts: the generated caches are what each library writes, and
// the real msal-node (7, installed) reads them, except where it is known not to (stated below).
const RUNS = 50;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const section = (parsed: Record<string, unknown>, name: string): Record<string, unknown> => {
  const s = parsed[name];
  return isObject(s) ? s : {};
};
const ACCOUNT_SECTIONS = ['IdToken', 'AccessToken', 'RefreshToken'] as const;

/**
 * The key each library computes for a credential entry, from the entry's own fields: an oracle
 * written apart from the generator, from the same sources (see test/helpers/msal-dialects.ts).
 */
function credentialKey(dialect: Dialect, e: Record<string, unknown>): string {
  const f = (name: string) => (typeof e[name] === 'string' ? (e[name] as string) : '');
  const [hid, env, type, cid, realm, target] = [f('home_account_id'), f('environment'), f('credential_type'), f('client_id'), f('realm'), f('target')];
  const family = f('family_id');
  const parts: string[] = (() => {
    switch (dialect) {
      case 'msal-node': {
        const scheme = f('token_type') && f('token_type').toLowerCase() !== 'bearer' ? f('token_type').toLowerCase() : '';
        if (type === 'RefreshToken') return [hid, env, type, family || cid, '', '', ''];
        return [hid, env, type, cid, realm, target, type === 'IdToken' ? '' : scheme];
      }
      case 'msal-dotnet': {
        if (type === 'RefreshToken') return [hid, env, type, family || cid, '', ''];
        if (type === 'IdToken') return [hid, env, type, cid, realm, ''];
        const ext = e.ext as Record<string, string> | undefined;
        const hash = ext
          ? createHash('sha256')
              .update(
                Object.keys(ext)
                  .sort()
                  .map((k) => `${k}${ext[k]}`)
                  .join(''),
              )
              .digest('base64url')
          : undefined;
        if (f('token_type') === 'pop') return [hid, env, 'AccessToken_With_AuthScheme', cid, realm, target, 'pop'];
        if (hash !== undefined) return [hid, env, 'ATExt', cid, realm, target, hash];
        return [hid, env, 'AccessToken', cid, realm, target];
      }
      case 'msal-python':
        if (type === 'RefreshToken') return [hid, env, type, cid, '', target];
        if (type === 'IdToken') return [hid, env, type, cid, realm, ''];
        return [hid, env, type, cid, realm, target];
      case 'msal4j':
        if (type === 'RefreshToken') return [hid, env, type, family || cid, '', ''];
        if (type === 'IdToken') return [hid, env, type, cid, realm, ''];
        return [hid, env, type, cid, realm, target];
    }
  })();
  return parts.join('-').toLowerCase();
}

const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;

function msalNodeCache(clientId: string) {
  return new ConfidentialClientApplication({ auth: { clientId, clientSecret: 'x' } }).getTokenCache();
}

/** Throws on the first way `c` is not the cache it says it is. */
function checkShape(dialect: Dialect, c: GeneratedCache): void {
  function fail(why: string): never {
    throw new Error(`${dialect}: ${why}`);
  }
  const parsed: unknown = JSON.parse(c.blob);
  if (!isObject(parsed)) fail('the blob is not a JSON object');
  const root = parsed as Record<string, unknown>;
  // The library's own formatting (MSAL Python: json.dumps(indent=4)).
  if (c.blob !== JSON.stringify(root, null, c.toggles.indent || undefined)) fail(`the blob is not indented by ${c.toggles.indent}`);
  if (dialect === 'msal-python' && c.toggles.indent !== 4) fail('MSAL Python indents by 4');
  for (const name of KNOWN_SECTIONS) if (!isObject(root[name])) fail(`no ${name} section`);
  if (c.accounts.length < 1 || c.accounts.length > 4) fail(`${c.accounts.length} accounts`);

  const accounts = section(root, 'Account');
  for (const account of c.accounts) {
    const id = account.homeAccountId;
    if (!/^[0-9a-fA-F-]+\.[0-9a-f-]+$/.test(id)) fail(`${id} does not look like uid.utid`);
    if (dialect !== 'msal-dotnet' && id !== id.toLowerCase()) fail(`${id}: only MSAL.NET keeps upper-case letters`);
    // Exactly one Account entry per environment the account is under, and none elsewhere.
    const mine = Object.entries(accounts).filter(([, v]) => isObject(v) && typeof v.home_account_id === 'string' && v.home_account_id.toLowerCase() === id.toLowerCase());
    if (mine.length !== account.environments.length) fail(`${id} has ${mine.length} Account entries for ${account.environments.length} environments`);
    for (const env of account.environments) {
      const here = mine.filter(([, v]) => isObject(v) && v.home_account_id === id && v.environment === env);
      if (here.length !== 1) fail(`${id} has ${here.length} Account entries under ${env}`);
      const [key, value] = here[0]!;
      const realm = isObject(value) ? String(value.realm) : '';
      // MSAL.NET keeps its Account keys' letter case; the others lower-case them.
      const accountKeyRealm = dialect === 'msal-node' ? account.utid : realm;
      const expected = `${id}-${env}-${accountKeyRealm}`;
      if (key !== (dialect === 'msal-dotnet' ? expected : expected.toLowerCase())) fail(`Account key ${key}, expected ${expected}`);
      for (const name of ACCOUNT_SECTIONS) {
        const entries = Object.entries(section(root, name)).filter(([, v]) => isObject(v) && v.home_account_id === id && v.environment === env);
        if (entries.length < 1) fail(`${id} has no ${name} under ${env}`);
        for (const [k, v] of entries) {
          if (!isObject(v) || k === c.toggles.unknownCredentialType?.key) continue;
          if (k !== credentialKey(dialect, v)) fail(`${name} key ${k}, expected ${credentialKey(dialect, v)}`);
          if (name === 'IdToken') {
            // msal-node and MSAL.NET write the ID token's tid as realm; MSAL Python and msal4j the authority's tenant segment.
            const tid = claimsOf(String(v.secret)).tid;
            const byTid = dialect === 'msal-node' || dialect === 'msal-dotnet';
            if (byTid ? v.realm !== tid : !['organizations', 'common', tid].includes(v.realm)) fail(`IdToken realm ${String(v.realm)} (tid ${String(tid)})`);
          }
        }
      }
    }
    const listed = c.keysByAccount[id.toLowerCase()];
    if (!listed || listed.length === 0) fail(`no keysByAccount for ${id}`);
    if (JSON.stringify(listed) !== JSON.stringify(entriesOf(root, id))) fail(`keysByAccount for ${id} is not the rule's`);
    for (const ref of listed) if (!Object.hasOwn(section(root, ref.section), ref.key)) fail(`keysByAccount names ${ref.section}/${ref.key}, not in the blob`);
  }

  // AppMetadata: MSAL.NET and MSAL Python always write it, msal-node and msal4j only with a family id.
  const environments = new Set(c.accounts.flatMap((a) => a.environments));
  const appMetadata = Object.keys(section(root, 'AppMetadata')).filter((k) => k !== c.toggles.malformed?.key);
  const always = dialect === 'msal-dotnet' || dialect === 'msal-python';
  const expectedKeys = always || c.toggles.familyId ? [...environments].map((env) => `appmetadata-${env}-${c.clientId}`) : [];
  // MSAL Python does not lower-case its AppMetadata key; the others do.
  const want = expectedKeys.map((k) => (dialect === 'msal-python' ? k : k.toLowerCase())).sort();
  if (JSON.stringify(appMetadata.sort()) !== JSON.stringify(want)) fail(`AppMetadata keys ${appMetadata.join(', ')}, expected ${want.join(', ')}`);
}

for (const dialect of DIALECTS) {
  t.test(`${dialect}: ${RUNS} generated caches are well-formed and msal-node reads them`, async (t) => {
    const seen: Record<string, number> = {};
    const count = (what: string) => {
      seen[what] = (seen[what] ?? 0) + 1;
    };
    await fc.assert(
      fc.asyncProperty(cacheArbitrary(dialect), async (c) => {
        checkShape(dialect, c);
        const cache = msalNodeCache(c.clientId);
        if (c.msalNodeDeserializeThrows) {
          // A `null` entry in one of the five sections: msal-node's Deserializer reads `null.home_account_id`.
          let threw: unknown;
          try {
            cache.deserialize(c.blob);
          } catch (e) {
            threw = e;
          }
          if (!(threw instanceof TypeError)) throw new Error(`msal-node's deserialize was expected to throw a TypeError on a null ${c.toggles.malformed?.section} entry`);
          count('msal-node deserialize threw (a null entry)');
          return;
        }
        cache.deserialize(c.blob);
        const infos = await cache.getAllAccounts();
        const listed = new Set(infos.map((i) => `${i.homeAccountId} ${i.environment}`));
        for (const account of c.accounts) for (const env of account.environments) if (!listed.has(`${account.homeAccountId} ${env}`)) throw new Error(`msal-node did not list ${account.homeAccountId} under ${env}`);
        for (const info of infos) if (!c.accounts.some((a) => a.homeAccountId === info.homeAccountId)) throw new Error(`msal-node listed an account that was not generated: ${info.homeAccountId}`);
        count('msal-node listed every account');
        if (c.toggles.twoAliases) count('two aliases');
        if (c.toggles.containedId) count(`contained id (${c.toggles.containedId.form})`);
        if (c.toggles.unknownCredentialType) count('unknown credential type');
        if (c.toggles.unknownSection) count('unknown section');
        if (c.toggles.unknownMember) count('unknown member');
        if (c.toggles.malformed) count(`malformed ${c.toggles.malformed.kind}`);
        if (c.toggles.dotnetSpecialAccessTokens.length) count('MSAL.NET PoP/SSH-cert/ATExt tokens');
        if (c.accounts.some((a) => a.homeAccountId !== a.homeAccountId.toLowerCase())) count('upper-case homeAccountId');
      }),
      { numRuns: RUNS },
    );
    t.comment(
      Object.entries(seen)
        .map(([k, v]) => `${v} × ${k}`)
        .join('; '),
    );
    t.pass(`${RUNS} caches`);
  });
}

// What msal-node 7 does with what the arbitrary draws, for the property test to account for.
t.test('msal-node with the toggles: what it lists, drops and cannot rewrite', async (t) => {
  const keysOf = (blob: string, name: string) => Object.keys(section(JSON.parse(blob) as Record<string, unknown>, name));
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...DIALECTS).chain((d) => cacheArbitrary(d)),
      async (c) => {
        if (c.msalNodeDeserializeThrows) return;
        const cache = msalNodeCache(c.clientId);
        cache.deserialize(c.blob);
        const malformed = c.toggles.malformed;
        const primitiveInAccountOrAppMetadata = malformed && (malformed.kind === 'string' || malformed.kind === 'number') && (malformed.section === 'Account' || malformed.section === 'AppMetadata');
        let out: string;
        try {
          out = cache.serialize();
        } catch (e) {
          // A string or number entry in Account or AppMetadata: msal-node's mergeUpdates sets fields on the primitive.
          if (primitiveInAccountOrAppMetadata && e instanceof TypeError) return;
          throw e;
        }
        if (primitiveInAccountOrAppMetadata) throw new Error('msal-node rewrote a blob with a primitive Account/AppMetadata entry');
        const gone = (ref: { section: string; key: string }) => !keysOf(out, ref.section).includes(ref.key);
        // Credential types msal-node does not know are dropped when it rewrites a blob: MSAL.NET's ATExt and the unknown types.
        for (const at of c.toggles.dotnetSpecialAccessTokens) if (gone(at) !== (at.kind === 'ext')) throw new Error(`msal-node ${gone(at) ? 'dropped' : 'kept'} an MSAL.NET ${at.kind} token`);
        if (c.toggles.unknownCredentialType && !gone(c.toggles.unknownCredentialType)) throw new Error('msal-node kept an unknown credential type');
        // A string or number entry in a credential section is dropped; an object missing fields is kept.
        if (malformed && malformed.section !== c.toggles.unknownSection?.name && gone(malformed) !== (malformed.kind !== 'missing-fields')) throw new Error(`msal-node ${gone(malformed) ? 'dropped' : 'kept'} a malformed ${malformed.kind} ${malformed.section} entry`);
        // Unknown sections and members are kept as they were.
        const before = JSON.parse(c.blob) as Record<string, unknown>;
        const after = JSON.parse(out) as Record<string, unknown>;
        if (c.toggles.unknownSection && JSON.stringify(after[c.toggles.unknownSection.name]) !== JSON.stringify(before[c.toggles.unknownSection.name])) throw new Error('msal-node changed the unknown section');
        if (c.toggles.unknownMember && JSON.stringify(after[c.toggles.unknownMember.name]) !== JSON.stringify(before[c.toggles.unknownMember.name])) throw new Error('msal-node changed the unknown member');
        // Its getAllAccounts, for an account under two aliases, finds two ID tokens for one tenant profile and deletes both.
        if (c.toggles.twoAliases) {
          const id = c.toggles.twoAliases.homeAccountId;
          const listed = await cache.getAllAccounts();
          const idTokens = keysOf(cache.serialize(), 'IdToken').filter((k) => k.startsWith(`${id.toLowerCase()}-`));
          if (idTokens.length !== 0) throw new Error(`msal-node's getAllAccounts kept ${idTokens.length} ID tokens of the two-alias account`);
          if (listed.filter((i) => i.homeAccountId === id).some((i) => i.idTokenClaims)) throw new Error('msal-node listed the two-alias account with ID token claims');
        }
        checked++;
      },
    ),
    { numRuns: 4 * RUNS },
  );
  t.ok(checked > 0, `${checked} caches rewritten by msal-node`);
});
