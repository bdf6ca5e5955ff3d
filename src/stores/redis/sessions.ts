import type { Redis, Cluster } from 'ioredis';
import { sameRegistration, type NewSession, type Session } from '../../core/model.js';
import type { SessionStore } from '../../core/service-stores.js';
import { defineScript, replies } from '../../redis/script.js';
import { accountIndexKey, byBucket, indexKeys, Keyspace, markerKey, sessionKey, sessionKeyIn, sidIndexKey, subIndexKey, type Placed } from './keys.js';

type Client = Redis | Cluster;

/** A session as its key holds it (also what a claim reads with its report). */
export const decodeSession = (raw: string): Session => JSON.parse(raw) as Session;

/**
 * Lua: `readIndexed(index)` reads the sessions an index lists, from their keys (`sessionPrefix` .. id), and
 * drops the ids of sessions gone from it; nil when it cannot here: an id not of this bucket
 * (`sessionIdTag`: the keys would be on another node of a Cluster) or more than `maxSessions` ids
 * (Lua's unpack has a limit). The script declares those three arguments.
 */
export const READ_INDEXED_SESSIONS = `
local function readIndexed(index)
  local ids = redis.call('SMEMBERS', index)
  if #ids > tonumber(maxSessions) then return nil end
  local keys = {}
  for i, id in ipairs(ids) do
    if string.sub(id, 1, #sessionIdTag) ~= sessionIdTag then return nil end
    keys[i] = sessionPrefix .. id
  end
  local found = {}
  if #keys == 0 then return found end
  local stale = {}
  for i, raw in ipairs(redis.call('MGET', unpack(keys))) do
    if raw then found[#found + 1] = raw else stale[#stale + 1] = ids[i] end
  end
  if #stale > 0 then redis.call('SREM', index, unpack(stale)) end
  return found
end
`;

/** Sessions one lookup or claim reads at most in a script; beyond, they are read in steps. */
export const SESSIONS_READ_AT_MOST = 1_000;

/**
 * A lookup in one round trip: `{ '1', sessions… }`, or `{ '0' }` when the script cannot read them (see
 * READ_INDEXED_SESSIONS); with a `marker` (the front channel's), that `sid` is marked logged out first.
 */
const LOOKUP_SESSIONS = defineScript({
  name: 'lrLookupSessions',
  keys: ['index', 'marker?'],
  args: ['sessionPrefix', 'sessionIdTag', 'maxSessions', 'markerExpiresAt?'],
  lua: `${READ_INDEXED_SESSIONS}
if marker then redis.call('SET', marker, '1', 'PXAT', markerExpiresAt) end
local found = readIndexed(index)
if not found then return { '0' } end
table.insert(found, 1, '1')
return found
`,
  reply: replies.strings,
});

/**
 * Writes sessions and their indexes, atomically (keys of one bucket). Per entry, keys: its session key
 * (when it has one) then its index keys; arguments: whether it has a session key (1 or 0), the number of
 * its index keys, its id, its JSON and its expiry (epoch ms). An index lives as long as its longest-lived
 * session.
 */
const WRITE_SESSIONS = defineScript({
  name: 'lrWriteSessions',
  keys: [],
  args: [],
  lua: `
local k = 1
for a = 1, #ARGV, 5 do
  local withSession, indexes, id, at = ARGV[a] == '1', tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 4]
  if withSession then
    redis.call('SET', KEYS[k], ARGV[a + 3], 'PXAT', at)
    k = k + 1
  end
  for j = k, k + indexes - 1 do
    redis.call('SADD', KEYS[j], id)
    redis.call('PEXPIREAT', KEYS[j], at, 'NX')
    redis.call('PEXPIREAT', KEYS[j], at, 'GT')
  end
  k = k + indexes
end
return #ARGV / 5
`,
  reply: replies.number,
});

/** What WRITE_SESSIONS takes for one session in one bucket: its key there (if any) and its index keys there. */
interface SessionWrite {
  bucket: number;
  session?: string;
  indexes: string[];
  id: string;
  json: string;
  at: number;
}

async function writeSessions(redis: Client, ks: Keyspace, sessions: Session[]): Promise<void> {
  const writes: SessionWrite[] = [];
  for (const session of sessions) {
    const own = sessionKey(ks, session.id);
    const json = JSON.stringify(session);
    const at = Date.parse(session.expiresAt);
    for (const indexes of byBucket([own, ...indexKeys(ks, session)], (k) => k.bucket)) {
      const bucket = indexes[0]!.bucket;
      const keys = indexes.map((k) => k.key);
      writes.push(bucket === own.bucket ? { bucket, session: keys[0]!, indexes: keys.slice(1), id: session.id, json, at } : { bucket, indexes: keys, id: session.id, json: '', at });
    }
  }
  const write = WRITE_SESSIONS.on(redis);
  await Promise.all(
    byBucket(writes, (w) => w.bucket).map((group) =>
      write.run({
        moreKeys: group.flatMap((w) => (w.session ? [w.session, ...w.indexes] : w.indexes)),
        moreArgs: group.flatMap((w) => [w.session ? 1 : 0, w.indexes.length, w.id, w.json, w.at]),
      }),
    ),
  );
}

/**
 * Writes many sessions at once in the store's layout (a bulk import, e.g. a migration or the
 * benchmark's preload), on a single node or Sentinel (one bucket). Unlike `add` it does not look for an
 * identical registration first.
 */
export async function importSessions(redis: Client, keyPrefix: string, sessions: Session[]): Promise<void> {
  for (let i = 0; i < sessions.length; i += 500) await writeSessions(redis, new Keyspace(keyPrefix, 1), sessions.slice(i, i + 500));
}

export class RedisSessionStore implements SessionStore {
  private readonly lookupScript: ReturnType<typeof LOOKUP_SESSIONS.on>;
  constructor(
    private readonly redis: Client,
    private readonly ks: Keyspace,
    private readonly now: () => number,
  ) {
    this.lookupScript = LOOKUP_SESSIONS.on(redis);
  }

  async add(input: NewSession): Promise<Session> {
    const same = (await this.lookup(indexKeys(this.ks, input)[0]!)).find((s) => sameRegistration(s, input));
    const session: Session = same ? { ...same, expiresAt: input.expiresAt } : { ...input, id: this.ks.newSessionId(this.ks.bucketOf(input.issuer)), createdAt: new Date(this.now()).toISOString() };
    await writeSessions(this.redis, this.ks, [session]);
    return session;
  }

  async get(id: string): Promise<Session | null> {
    const raw = await this.redis.get(sessionKey(this.ks, id).key);
    return raw ? decodeSession(raw) : null;
  }

  /** The sessions an index lists (after marking `marker`): in one script when they are all of the index's bucket, else in steps. */
  private async lookup(index: Placed, marker?: { key: string; expiresAt: number }): Promise<Session[]> {
    const [read, ...found] = await this.lookupScript.run({
      keys: { index: index.key, ...(marker ? { marker: marker.key } : {}) },
      args: { sessionPrefix: sessionKeyIn(this.ks.of(index.bucket), ''), sessionIdTag: this.ks.sessionIdTag(index.bucket), maxSessions: SESSIONS_READ_AT_MOST, ...(marker ? { markerExpiresAt: marker.expiresAt } : {}) },
    });
    return read === '1' ? found.map(decodeSession) : this.lookupInSteps(index.key);
  }

  /** `(issuer, sid)` marked logged out until `expiresAt`, then its sessions, in one script (see ServiceStores.markAndFindBySid). */
  markAndFindBySid(issuer: string, sid: string, expiresAt: number): Promise<Session[]> {
    const bucket = this.ks.bucketOf(issuer);
    return this.lookup({ key: sidIndexKey(this.ks.of(bucket), issuer, sid), bucket }, { key: markerKey(this.ks.of(bucket), issuer, sid), expiresAt });
  }

  private async lookupInSteps(indexKey: string): Promise<Session[]> {
    const ids = await this.redis.smembers(indexKey);
    if (ids.length === 0) return [];
    // One MGET per bucket (an account's sessions may be at several issuers).
    const raws = new Map<string, string | null>();
    await Promise.all(
      byBucket(ids, (id) => sessionKey(this.ks, id).bucket).map(async (group) => {
        const values = await this.redis.mget(group.map((id) => sessionKey(this.ks, id).key));
        group.forEach((id, i) => raws.set(id, values[i] ?? null));
      }),
    );
    const stale = ids.filter((id) => raws.get(id) === null);
    if (stale.length) await this.redis.srem(indexKey, ...stale);
    return ids
      .map((id) => raws.get(id))
      .filter((r): r is string => typeof r === 'string')
      .map(decodeSession);
  }

  bySid(issuer: string, sid: string): Promise<Session[]> {
    const bucket = this.ks.bucketOf(issuer);
    return this.lookup({ key: sidIndexKey(this.ks.of(bucket), issuer, sid), bucket });
  }

  bySub(issuer: string, sub: string): Promise<Session[]> {
    const bucket = this.ks.bucketOf(issuer);
    return this.lookup({ key: subIndexKey(this.ks.of(bucket), issuer, sub), bucket });
  }

  byHomeAccountId(homeAccountId: string): Promise<Session[]> {
    const account = homeAccountId.toLowerCase();
    const bucket = this.ks.bucketOf(account);
    return this.lookup({ key: accountIndexKey(this.ks.of(bucket), account), bucket });
  }

  async remove(id: string): Promise<boolean> {
    const session = await this.get(id);
    if (!session) return false;
    return (await this.removeFound([session])).length === 1;
  }

  /** One transaction per bucket (one for all on a single node): no read first, the lookup's copies name their index keys. */
  async removeFound(sessions: Session[]): Promise<string[]> {
    if (sessions.length === 0) return [];
    // The DELs first, so that in each bucket the i-th reply is its i-th session's.
    const dels = sessions.map((s) => ({ ...sessionKey(this.ks, s.id), id: s.id, del: true }));
    const srems = sessions.flatMap((s) => indexKeys(this.ks, s).map((index) => ({ ...index, id: s.id, del: false })));
    const removed = new Set<string>();
    await Promise.all(
      byBucket([...dels, ...srems], (op) => op.bucket).map(async (ops) => {
        const tx = this.redis.multi();
        for (const op of ops)
          if (op.del) tx.del(op.key);
          else tx.srem(op.key, op.id);
        const results = await tx.exec();
        if (!results) throw new Error('the session removal was not carried out');
        for (const [err] of results) if (err) throw err;
        ops.forEach((op, i) => op.del && results[i]?.[1] === 1 && removed.add(op.id));
      }),
    );
    return sessions.filter((s) => removed.has(s.id)).map((s) => s.id);
  }
}
