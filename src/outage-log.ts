/** Where a log line goes: pino's two levels the outage lines use. */
export interface OutageLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/**
 * An outage logged once when it begins and once when it ends, whatever the failures between (a worker
 * asks every second, ioredis reconnects, probes come every few seconds). Keyed by where: `store`,
 * `token cache of <app>`, `worker`.
 */
export class OutageLog {
  private readonly open = new Map<string, { since: number; failures: number }>();
  constructor(
    private readonly log: OutageLogger,
    private readonly now: () => number = Date.now,
  ) {}

  failed(where: string, reason: string): void {
    const outage = this.open.get(where);
    if (outage) {
      outage.failures++;
      return;
    }
    this.open.set(where, { since: this.now(), failures: 1 });
    this.log.warn({ where, reason }, 'outage began: retrying (logged again when it ends)');
  }

  recovered(where: string): void {
    const outage = this.open.get(where);
    if (!outage) return;
    this.open.delete(where);
    this.log.info({ where, seconds: Math.round((this.now() - outage.since) / 100) / 10, failures: outage.failures }, 'outage ended');
  }
}
