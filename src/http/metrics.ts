import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LogoutReport } from '../core/model.js';

/** The Prometheus metrics of one service instance (own registry, so several apps can live in one process). */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'logout_receiver_http_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'logout_receiver_http_request_duration_seconds',
    help: 'Time to answer an HTTP request',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly received = new Counter({
    name: 'logout_receiver_logouts_received_total',
    help: 'Logouts received and journaled, by channel',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly logouts = new Counter({
    name: 'logout_receiver_logouts_total',
    help: 'Logouts carried out, by channel and final state',
    labelNames: ['channel', 'state'] as const,
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'logout_receiver_logout_rejected_total',
    help: 'Logout notifications refused, by channel and the rule that failed',
    labelNames: ['channel', 'rule'] as const,
    registers: [this.registry],
  });
  readonly removals = new Counter({
    name: 'logout_receiver_account_removals_total',
    help: 'Account removals from app token caches, by app and outcome',
    labelNames: ['app', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly sweepDuration = new Histogram({
    name: 'logout_receiver_logout_attempt_duration_seconds',
    help: 'Time one attempt at a logout took (sessions, markers, every app token cache)',
    labelNames: ['channel', 'state'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly jwksFetches = new Counter({
    name: 'logout_receiver_jwks_fetches_total',
    help: 'Requests for issuer signing keys and discovery documents, by issuer and outcome',
    labelNames: ['issuer', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'logout_receiver_store_errors_total',
    help: 'Errors talking to a store (connection drops, timeouts), by where',
    labelNames: ['where'] as const,
    registers: [this.registry],
  });
  readonly backlog = new Gauge({
    name: 'logout_receiver_journal_backlog',
    help: 'Logouts queued in the journal (pending, or being attempted)',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'logout_receiver_' });
  }

  /** The backlog is read from the journal when scraped (shared across instances with Redis). */
  measureBacklog(read: () => Promise<number>): void {
    const gauge = this.backlog as unknown as { collect?: () => Promise<void> };
    gauge.collect = async () => {
      try {
        this.backlog.set(await read());
      } catch {
        this.storeErrors.inc({ where: 'journal' });
      }
    };
  }

  recordLogout(report: LogoutReport): void {
    this.logouts.inc({ channel: report.channel, state: report.state });
    for (const r of report.removals) this.removals.inc({ app: r.app, outcome: r.outcome });
  }
}
