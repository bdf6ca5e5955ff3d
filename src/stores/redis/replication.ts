import type { ChainableCommander } from 'ioredis';
import { StoreUnavailable } from '../../core/errors.js';

/** What must reach this many replicas (WAIT) within `waitMs` before it counts as recorded; 0 waits for none. */
export interface Replication {
  replicas: number;
  waitMs: number;
}

/** A pipeline's or transaction's first failed command, thrown (ioredis resolves them with per-command errors). */
export function failOn(results: [Error | null, unknown][] | null): void {
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
}

/** Sends `batch` and a WAIT behind it in one round trip: its commands' replies, and how many replicas acknowledged them. */
export async function execAndWait(batch: ChainableCommander, replicas: number, waitMs: number): Promise<{ replies: unknown[]; acknowledged: number }> {
  batch.wait(replicas, waitMs);
  const results = await batch.exec();
  failOn(results);
  const replies = results!.map(([, reply]) => reply);
  return { replies: replies.slice(0, -1), acknowledged: replies.at(-1) as number };
}

/**
 * The write did not reach enough replicas in time: a failover could discard it, so it does not count as
 * recorded (the provider's retry, or the caller's, goes through instead).
 */
export const notReplicated = (acknowledged: number, { replicas, waitMs }: Replication): StoreUnavailable => new StoreUnavailable(`the write reached ${acknowledged} of ${replicas} replicas within ${waitMs} ms`);
