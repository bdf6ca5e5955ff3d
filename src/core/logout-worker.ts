import type { LogoutJournal } from './service-stores.js';
import type { LogoutAttempt } from './logout-attempt.js';

/** Due logouts claimed and worked on at once per round (as many as the first attempts run at once): their partitions are batched together, and the more at once, the fewer rewrites of a shared partition. */
const BATCH = 256;

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

/** Works off the queued logouts that are due (retries, and a receiver's logouts): claims a batch, works on it at once. */
export class LogoutWorker {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly options: LogoutWorkerOptions) {}

  /** One round: claims up to `limit` due logouts (one store round trip) and attempts them concurrently; returns how many it claimed. */
  async runDue(limit = BATCH): Promise<number> {
    const { journal, now, leaseMs } = this.options;
    const claimed = await journal.claimDue(now(), limit, leaseMs);
    await Promise.all(claimed.map((report) => (report.state === 'pending' ? this.options.attempt.run(report) : journal.dequeue(report.id))));
    return claimed.length;
  }

  /** Starts looking every `intervalMs`; a full round is followed by the next at once, until the queue has no more due. */
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

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && (await this.runDue()) >= BATCH);
      this.options.onRound?.();
    } catch (err) {
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
