import type { Redis, Cluster } from 'ioredis';
import type { ReplayStore } from '../../core/service-stores.js';
import { defineScript, replies } from '../../redis/script.js';
import { replayKey, type Keyspace } from './keys.js';
import { execAndWait, type Replication } from './replication.js';

/** Deletes a replay record only if the admission that made it is this one. */
const FORGET_OWN = defineScript({
  name: 'lrForgetOwn',
  keys: ['record'],
  args: ['admissionId'],
  lua: `
if redis.call('GET', record) == admissionId then return redis.call('DEL', record) end
return 0
`,
  reply: replies.number,
});

export class RedisReplayStore implements ReplayStore {
  /** Records being forgotten in the background, until the replicas acknowledge it (bounded). */
  private readonly forgetting = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly forgetOwn: ReturnType<typeof FORGET_OWN.on>;
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly ks: Keyspace,
    private readonly replication: Replication,
  ) {
    this.forgetOwn = FORGET_OWN.on(redis);
  }
  /**
   * The admission being undone may have reached a replica that a failover then promotes, while the
   * delete does not: until the replicas acknowledge the delete, it is tried again (every 250 ms, up to a
   * minute), so that the provider's retry gets through. Only this admission's record goes: a later
   * admission of the same token, answered 200, keeps its own.
   */
  async forget(key: string, admissionId: string, until: number): Promise<void> {
    // The key does not say its issuer's bucket: each bucket's record is compared, only the admission's goes.
    const records = this.ks.all().map((bucket) => replayKey(this.ks.of(bucket), key));
    const { replicas, waitMs } = this.replication;
    const forgetOne = async (record: string): Promise<boolean> => {
      const call = { keys: { record }, args: { admissionId } };
      if (replicas === 0) return (await this.forgetOwn.run(call), true);
      const pipeline = this.redis.pipeline();
      this.forgetOwn.queue(pipeline, call);
      return (await execAndWait(pipeline, replicas, waitMs)).acknowledged >= replicas;
    };
    const once = async (): Promise<boolean> => (await Promise.all(records.map(forgetOne))).every(Boolean);
    let failure: unknown;
    if (await once().catch((err: unknown) => ((failure = err), false))) return;
    const deadline = Math.min(until, Date.now() + 60_000);
    // Beyond that many (a long outage) the records are left to expire on their own.
    if (this.forgetting.size < 10_000) this.forgetLater(once, deadline);
    if (failure) throw failure;
  }

  private forgetLater(once: () => Promise<boolean>, deadline: number): void {
    const again = (): void => {
      const timer: NodeJS.Timeout = setTimeout(() => {
        this.forgetting.delete(timer);
        void once()
          .catch(() => false)
          .then((done) => {
            if (!done && !this.stopped && Date.now() < deadline) again();
          });
      }, 250);
      timer.unref();
      this.forgetting.add(timer);
    };
    again();
  }
  stop(): void {
    this.stopped = true;
    for (const timer of this.forgetting) clearTimeout(timer);
    this.forgetting.clear();
  }
}
