import type { Cluster, Redis } from 'ioredis';
import { ForeignPartitionError } from '../core/token-cache.js';
import { defineScript } from '../redis/script.js';

/** Larger partitions are judged by the service: decoding them in Lua would hold Redis, and every client of it, meanwhile. */
const MAX_JUDGED_BYTES = 256 * 1024;

/**
 * Deletes the partition in Redis when it holds nothing but the accounts' entries, as MSAL's JSON (no BOM)
 * decodes: entries whose fields are strings or lists of strings, every entry outside AppMetadata the
 * accounts' (by `home_account_id` or by key prefix, any ASCII letter case), as many `"home_account_id"`
 * in the bytes as the decoder kept (none hidden by a repeat) and as many `[` as lists it kept. Bytes are
 * not checked one by one (Lua's patterns would cost Redis more than the GET and compare-and-set saved):
 * invalid UTF-8 or a control byte inside a string changes no parser's reading of whose entries these are,
 * and a partition of one account is deleted even unread when encrypted. Anything else (another account's
 * entry, a number, an empty section, a larger partition, an encrypted blob) comes back for the byte-exact
 * removal in the service. Replies: `{0}` no such partition; `{1, bytes}` not judged here; `{2, n…}`
 * deleted, with each account's entry count; `{3}` the key is not such a partition. `read` sets `value`
 * from `partition` (and `field`).
 */
const soleAccountScript = (name: string, read: string) =>
  defineScript({
    name,
    keys: ['partition'],
    args: ['maxBytes', 'field'],
    buffers: true,
    lua:
      read +
      String.raw`
if not value then return {0} end
local function give() return {1, value} end
if #value > tonumber(maxBytes) or string.sub(value, 1, 3) == '\239\187\191' then return give() end
local ok, cache = pcall(cjson.decode, value)
if not ok or type(cache) ~= 'table' then return give() end
local ids, counts = {}, {}
for i = 3, #ARGV do ids[#ids + 1] = string.lower(ARGV[i]); counts[#counts + 1] = 0 end
local function owner(key, named)
  local lowerKey = string.lower(key)
  for i, id in ipairs(ids) do
    if named == id or string.sub(lowerKey, 1, #id + 1) == id .. '-' then return i end
  end
end
local owners, found, lists = 0, 0, 0
for section, entries in pairs(cache) do
  if type(section) ~= 'string' or type(entries) ~= 'table' then return give() end
  for key, entry in pairs(entries) do
    if type(key) ~= 'string' or type(entry) ~= 'table' then return give() end
    for f, v in pairs(entry) do
      if type(f) ~= 'string' then return give() end
      if type(v) == 'table' then
        lists = lists + 1
        for i, item in pairs(v) do
          if type(i) ~= 'number' or type(item) ~= 'string' then return give() end
        end
      elseif type(v) ~= 'string' then return give() end
    end
    local named = entry.home_account_id
    if named ~= nil then
      if type(named) ~= 'string' then return give() end
      owners = owners + 1
    end
    if section ~= 'AppMetadata' then
      local i = owner(key, named and string.lower(named))
      if not i then return give() end
      counts[i] = counts[i] + 1
      found = found + 1
    end
  end
end
if found == 0 then return give() end
local function count(text)
  local n, from = 0, 1
  while true do
    local s, e = string.find(value, text, from, true)
    if not s then return n end
    n, from = n + 1, e + 1
  end
end
if count('"home_account_id"') ~= owners or count('[') ~= lists then return give() end
redis.call('DEL', partition)
return {2, unpack(counts)}
`,
    reply: (raw): SoleAccountRemoval | 'foreign' => {
      if (!Array.isArray(raw) || typeof raw[0] !== 'number') throw new TypeError(`${name} replied other than a list`);
      const [kind, ...rest] = raw as [number, ...unknown[]];
      if (kind === 0) return { value: null };
      if (kind === 1 && Buffer.isBuffer(rest[0])) return { value: rest[0] };
      if (kind === 2 && rest.every((n): n is number => typeof n === 'number')) return { removedEntries: rest };
      if (kind === 3) return 'foreign';
      throw new TypeError(`${name} replied ${kind}`);
    },
  });

/** The partition deleted (each account's entry count, in the order given), or read: its bytes, null when absent. */
export type SoleAccountRemoval = { removedEntries: number[] } | { value: Buffer | null };

/** Removes the accounts where their partition holds nothing else; otherwise reads it. */
export type RemoveWhereSole = (key: string, homeAccountIds: readonly string[]) => Promise<SoleAccountRemoval>;

const STRING_SCRIPT = soleAccountScript('lrRemoveSoleAccountString', `local value = redis.call('GET', partition)\n`);
const HASH_SCRIPT = soleAccountScript('lrRemoveSoleAccountHashField', `local value = redis.call('HGET', partition, field)\nif not value and redis.call('EXISTS', partition) == 1 then return {3} end\n`);

/** The script's caller on a connection; `field` is the hash field read ('' for a string). */
const callerOf =
  (script: typeof STRING_SCRIPT, field: string) =>
  (client: Redis | Cluster): RemoveWhereSole => {
    const caller = script.on(client);
    return async (key, homeAccountIds) => {
      const result = await caller.run({ keys: { partition: key }, args: { maxBytes: MAX_JUDGED_BYTES, field }, moreArgs: homeAccountIds });
      if (result === 'foreign') throw new ForeignPartitionError(`the hash has no ${field} field`);
      return result;
    };
  };

/** For a partition that is a string at its key (a key of another type fails in GET, as a foreign partition). */
export const removeWhereSoleInString = callerOf(STRING_SCRIPT, '');

/** For a partition that is a field of a hash at its key. */
export const removeWhereSoleInHashField = (field: string): ((client: Redis | Cluster) => RemoveWhereSole) => callerOf(HASH_SCRIPT, field);
