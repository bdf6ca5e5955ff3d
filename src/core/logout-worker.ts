import { setTimeout as delay } from 'node:timers/promises';
import type { ClaimedLogout, LogoutJournal } from './service-stores.js';
import type { LogoutAttempt } from './logout-attempt.js';

/** Due logouts claimed at once (one store round trip, their sessions with them). */
const BATCH = 256;
/**
 * Logouts a worker has under way at most: it claims more as they end, so that removals from a shared
 * partition keep joining its next rewrite (a large partition's rewrite takes long, and then takes many).
 */
const MAX_IN_FLIGHT = 1_024;
/** With logouts under way and the queue drained, how soon it is looked at again. */
const RECLAIM_MS = 50;

export interface LogoutWorkerOptions {
  journal: LogoutJournal;
  attempt: LogoutAttempt;
  now: () => number;
  /** How long a claimed logout is this worker's before another may take it over. */
  leaseMs: number;
  /** Told when a round went through (the store answered): an outage it met is over. */
  onRound?: () => void;
  onError?: (err: unknown, context: string) => void;
}

/** Works off the queued logouts that are due (retries, and a receiver's logouts): claims them in batches and works on many at once. */
export class LogoutWorker {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly options: LogoutWorkerOptions) {}

  /** One round: claims up to `limit` due logouts (one store round trip) and attempts them concurrently; returns how many it claimed. */
  async runDue(limit = BATCH): Promise<number> {
    const { journal, now, leaseMs } = this.options;
    const claimed = await journal.claimDue(now(), limit, leaseMs);
    await Promise.all(claimed.map((report) => this.work(report)));
    return claimed.length;
  }

  private work({ report, sessions }: ClaimedLogout): Promise<unknown> {
    return this.options.attempt.hasWorkLeft(report) ? this.options.attempt.run(report, sessions) : this.options.journal.dequeue(report.id);
  }

  /** Starts looking every `intervalMs`; each look goes on while logouts are under way (see drain). */
  start(intervalMs: number): void {
    if (this.timer) return;
    this.stopped = false;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.drain().finally(() => {
        this.running = undefined;
      });
    }, intervalMs).unref();
  }

  /**
   * Claims due logouts while any are under way, up to MAX_IN_FLIGHT: a full batch is followed by the next
   * as soon as there is room, a partial one by another look after RECLAIM_MS or once all have ended.
   */
  private async drain(): Promise<void> {
    const { journal, now, leaseMs } = this.options;
    const inFlight = new Set<Promise<unknown>>();
    try {
      while (!this.stopped) {
        const claimed = await journal.claimDue(now(), BATCH, leaseMs);
        for (const logout of claimed) {
          const work: Promise<unknown> = this.work(logout)
            .catch((err: unknown) => this.options.onError?.(err, 'worker'))
            .finally(() => inFlight.delete(work));
          inFlight.add(work);
        }
        if (claimed.length === BATCH) while (inFlight.size > MAX_IN_FLIGHT - BATCH) await Promise.race(inFlight);
        else if (inFlight.size === 0) break;
        else await Promise.race([Promise.all(inFlight), delay(RECLAIM_MS, undefined, { ref: false })]);
      }
      await Promise.all(inFlight);
      this.options.onRound?.();
    } catch (err) {
      await Promise.all(inFlight);
      this.options.onError?.(err, 'worker');
    }
  }

  /** Stops, and waits for the round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
