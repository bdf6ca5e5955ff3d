import type { Redis, Cluster } from 'ioredis';
import { receivedAtMs } from '../../core/model.js';
import { REFUSED_BY_IT, type ServiceStores } from '../../core/service-stores.js';
import { defineScript, replies, type ScriptCall, type ScriptCaller } from '../../redis/script.js';
import { dueQueue, indexKeys, markerKey, pendingSince, replayKey, reportKey, sessionKey, targetIndexKey, type Keyspace } from './keys.js';
import { encodeReport } from './journal.js';
import { execAndWait, notReplicated, type Replication } from './replication.js';

/** A logout taken in: its report queued for a worker and found by its target, its target's marker (when there is one). */
const QUEUE_LOGOUT = `
redis.call('SET', report, reportJson, 'PX', retentionMs)
redis.call('ZADD', dueQueue, dueAt, reportId)
redis.call('ZADD', targetIndex, receivedAt, reportId)
redis.call('PEXPIRE', targetIndex, retentionMs)
redis.call('ZADD', pendingSince, receivedAt, reportId)
if marker then redis.call('SET', marker, '1', 'PXAT', markerExpiresAt) end
return 1
`;
const QUEUE_KEYS = ['report', 'dueQueue', 'targetIndex', 'pendingSince', 'marker?'] as const;
const QUEUE_ARGS = ['reportJson', 'retentionMs', 'dueAt', 'reportId', 'receivedAt', 'markerExpiresAt?'] as const;

/**
 * A back-channel logout taken in: the replay record (refused when it exists: it is then marked refused,
 * so that a failed admission's late forget keeps it, and nothing else is written), then the logout queued.
 * Times are epoch ms, the retention a duration in ms.
 */
const ADMIT_LOGOUT = defineScript({
  name: 'lrAdmitLogout',
  keys: ['replay', ...QUEUE_KEYS],
  args: ['replayExpiresAt', ...QUEUE_ARGS],
  lua: `
if not redis.call('SET', replay, reportId, 'PXAT', replayExpiresAt, 'NX') then
  redis.call('SET', replay, '${REFUSED_BY_IT}', 'KEEPTTL')
  return 0
end
${QUEUE_LOGOUT}`,
  reply: (raw) => replies.number(raw) === 1,
});

/** A front-channel logout taken in (no token, so no replay record): the logout queued. */
const QUEUE_UNREPLAYABLE_LOGOUT = defineScript({
  name: 'lrQueueLogout',
  keys: QUEUE_KEYS,
  args: QUEUE_ARGS,
  lua: QUEUE_LOGOUT,
  reply: (raw) => replies.number(raw) === 1,
});

/**
 * A logout's sessions ended: when every session its first attempt found still exists, they go (with their
 * index entries) and its report is saved, queued at `dueAt` (a retry, its second pass) or, when that is
 * '', dequeued; it stays in pending-since when `pending` is '1' (still pending); else nothing is written
 * (0). Per session, keys: its key and its index keys; arguments: the number of its index keys and its id.
 */
const COMPLETE_LOGOUT = defineScript({
  name: 'lrCompleteLogout',
  keys: ['report', 'dueQueue', 'pendingSince'],
  args: ['reportJson', 'retentionMs', 'reportId', 'dueAt', 'pending'],
  lua: `
local sessions = {}
local k = 4
for a = 6, #ARGV, 2 do
  sessions[#sessions + 1] = { key = k, indexes = tonumber(ARGV[a]), id = ARGV[a + 1] }
  k = k + 1 + tonumber(ARGV[a])
end
for _, s in ipairs(sessions) do
  if redis.call('EXISTS', KEYS[s.key]) == 0 then return 0 end
end
for _, s in ipairs(sessions) do
  redis.call('DEL', KEYS[s.key])
  for j = s.key + 1, s.key + s.indexes do redis.call('SREM', KEYS[j], s.id) end
end
redis.call('SET', report, reportJson, 'PX', retentionMs)
if dueAt == '' then redis.call('ZREM', dueQueue, reportId) else redis.call('ZADD', dueQueue, dueAt, reportId) end
if pending ~= '1' then redis.call('ZREM', pendingSince, reportId) end
return 1
`,
  reply: (raw) => replies.number(raw) === 1,
});

/** A logout's admission and completion, each one script over its target's bucket. */
export function redisLogoutSteps(redis: Redis | Cluster, ks: Keyspace, retentionMs: number, replication: Replication): Pick<ServiceStores, 'admitLogout' | 'completeLogout'> {
  const withReplay = ADMIT_LOGOUT.on(redis);
  const withoutReplay = QUEUE_UNREPLAYABLE_LOGOUT.on(redis);
  const complete = COMPLETE_LOGOUT.on(redis);
  /** Runs an admission script; with replicas, script and WAIT in one round trip, on the node of the admission's keys. */
  async function admitted<K extends string, A extends string>(script: ScriptCaller<K, A, boolean>, call: ScriptCall<K, A>): Promise<boolean> {
    if (replication.replicas === 0) return script.run(call);
    const pipeline = redis.pipeline();
    script.queue(pipeline, call);
    const {
      replies: [reply],
      acknowledged,
    } = await execAndWait(pipeline, replication.replicas, replication.waitMs);
    if (!script.reply(reply)) return false;
    if (acknowledged < replication.replicas) throw notReplicated(acknowledged, replication);
    return true;
  }
  return {
    async admitLogout({ replay, report, dueAt, marker }) {
      // Every key in the target's issuer's bucket (the marker is the target's own).
      const prefix = ks.of(ks.bucketOfTarget(report.target));
      const queued = {
        keys: {
          report: reportKey(prefix, report.id),
          dueQueue: dueQueue(prefix),
          targetIndex: targetIndexKey(prefix, report.target),
          pendingSince: pendingSince(prefix),
          ...(marker ? { marker: markerKey(ks.of(ks.bucketOf(marker.issuer)), marker.issuer, marker.sid) } : {}),
        },
        args: { reportJson: encodeReport(report), retentionMs, dueAt, reportId: report.id, receivedAt: receivedAtMs(report), ...(marker ? { markerExpiresAt: marker.expiresAt } : {}) },
      };
      if (!replay) return admitted(withoutReplay, queued);
      return admitted(withReplay, { keys: { replay: replayKey(prefix, replay.key), ...queued.keys }, args: { replayExpiresAt: replay.expiresAt, ...queued.args } });
    },
    async completeLogout(report, found, dueAt) {
      const bucket = ks.bucketOfTarget(report.target);
      const prefix = ks.of(bucket);
      // One script over the report's bucket; a session at another issuer than the target's (a logout by
      // account) is not (false: the attempt then removes and saves in steps).
      if (found.some((s) => sessionKey(ks, s.id).bucket !== bucket)) return false;
      const moreKeys: string[] = [];
      const moreArgs: (string | number)[] = [];
      const elsewhere: [string, string][] = [];
      for (const s of found) {
        const indexes = indexKeys(ks, s);
        const here = indexes.filter((i) => i.bucket === bucket).map((i) => i.key);
        moreKeys.push(sessionKey(ks, s.id).key, ...here);
        moreArgs.push(here.length, s.id);
        for (const other of indexes.filter((i) => i.bucket !== bucket)) elsewhere.push([other.key, s.id]);
      }
      const done = await complete.run({
        keys: { report: reportKey(prefix, report.id), dueQueue: dueQueue(prefix), pendingSince: pendingSince(prefix) },
        args: { reportJson: encodeReport(report), retentionMs, reportId: report.id, dueAt: dueAt ?? '', pending: dueAt !== undefined && report.state === 'pending' ? '1' : '0' },
        moreKeys,
        moreArgs,
      });
      // The account index, in the account's bucket: after the script (a stale id there is dropped when read).
      if (done) await Promise.all(elsewhere.map(([key, id]) => redis.srem(key, id)));
      return done;
    },
  };
}
