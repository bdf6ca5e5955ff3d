import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LOGOUT_CHANNELS, REMOVAL_OUTCOMES, type LogoutReport } from '../core/model.js';
import type { AttemptDone } from '../core/logout-attempt.js';
import { LOGOUT_TOKEN_RULES } from '../core/verify-logout-token.js';

type Labels<L extends string> = Partial<Record<L, string>>;
type CounterChild = { inc(value?: number): void };
type HistogramChild = { observe(value: number): void };

/** One HTTP label set: its request count (added to the counter when collected) and its duration histogram child. */
interface HttpSeries {
  labels: Labels<'method' | 'route' | 'status'>;
  count: number;
  duration: HistogramChild;
}

/** A value per key, made on first use (prom-client children: their labels are validated once, not per call). */
function memo<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let value = cache.get(key);
  if (value === undefined) cache.set(key, (value = make()));
  return value;
}

/** The Prometheus metrics of one service instance (own registry, so several apps can live in one process). */
export class ServiceMetrics {
  readonly registry = new Registry();
  /** Per request only a map lookup and an add: the counts reach the counter when it is collected (scraped). */
  private readonly http = new Map<string, HttpSeries>();
  private readonly children = new Map<string, CounterChild | HistogramChild>();
  readonly httpRequests = new Counter({
    name: 'logout_receiver_http_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
    collect: () => {
      for (const series of this.http.values())
        if (series.count > 0) {
          this.httpRequests.inc(series.labels, series.count);
          series.count = 0;
        }
    },
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
  readonly secondPassRemovals = new Counter({
    name: 'logout_receiver_second_pass_removals_total',
    help: 'Removals of the second pass, by app and outcome (removed: the app had written the account back)',
    labelNames: ['app', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly webSessionEndings = new Counter({
    name: 'logout_receiver_web_session_endings_total',
    help: "Apps' own web sessions ended by logouts (first attempts and retries), by app and outcome",
    labelNames: ['app', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly secondPassWebSessionEndings = new Counter({
    name: 'logout_receiver_second_pass_web_session_endings_total',
    help: 'Web sessions ended again by the second pass, by app and outcome (removed: the app had written the session back)',
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

  /** `apps` and `issuers` by name: each labelled counter has its series at 0 from the start, so the first failure shows in `increase()`. */
  constructor(about: { version: string; apps: string[]; webSessionApps?: string[]; issuers: string[] }) {
    // The standard names (process_*, nodejs_*), which stock dashboards read.
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which promtool refuses; each is the sum of nodejs_active_{handles,requests,resources}.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    new Gauge({ name: 'logout_receiver_build_info', help: 'Always 1: the running version', labelNames: ['version'] as const, registers: [this.registry] }).set({ version: about.version }, 1);
    for (const channel of LOGOUT_CHANNELS) {
      this.received.inc({ channel }, 0);
      for (const state of ['completed', 'failed']) this.logouts.inc({ channel, state }, 0);
    }
    for (const rule of [...LOGOUT_TOKEN_RULES, 'request']) this.rejected.inc({ channel: 'backchannel', rule }, 0);
    for (const app of about.apps)
      for (const outcome of REMOVAL_OUTCOMES) {
        this.removals.inc({ app, outcome }, 0);
        this.secondPassRemovals.inc({ app, outcome }, 0);
      }
    for (const app of about.webSessionApps ?? [])
      for (const outcome of REMOVAL_OUTCOMES) {
        this.webSessionEndings.inc({ app, outcome }, 0);
        this.secondPassWebSessionEndings.inc({ app, outcome }, 0);
      }
    for (const issuer of about.issuers) for (const outcome of ['ok', 'error']) this.jwksFetches.inc({ issuer, outcome }, 0);
    for (const where of ['request', 'journal', 'worker', 'store', ...about.apps.map((app) => `token cache of ${app}`)]) this.storeErrors.inc({ where }, 0);
  }

  /** Live entries a bounded store dropped to stay within its bound, by map (replay, markers, reports). */
  measureEvictions(read: () => Record<string, number>): void {
    new Counter({
      name: 'logout_receiver_store_evictions_total',
      help: 'Live entries the in-memory store evicted, oldest first, to stay within its bound',
      labelNames: ['map'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [map, count] of Object.entries(read())) this.inc({ map }, count);
      },
    });
  }

  /** Each store's state, probed when scraped: `store="service"`, or `store="token_cache"` / `"web_session"` with the app's name. */
  measureStores(read: () => Promise<{ store: 'up' | 'down'; tokenCaches: Record<string, 'up' | 'down'>; webSessions?: Record<string, 'up' | 'down'> }>): void {
    new Gauge({
      name: 'logout_receiver_store_up',
      help: 'Whether a store answers a write probe (1) or not (0): the service store, each app token cache and web-session stores',
      labelNames: ['store', 'app'] as const,
      registers: [this.registry],
      async collect() {
        const states = await read();
        this.reset();
        this.set({ store: 'service', app: '' }, states.store === 'up' ? 1 : 0);
        for (const [app, state] of Object.entries(states.tokenCaches)) this.set({ store: 'token_cache', app }, state === 'up' ? 1 : 0);
        for (const [app, state] of Object.entries(states.webSessions ?? {})) this.set({ store: 'web_session', app }, state === 'up' ? 1 : 0);
      },
    });
  }

  /** The backlog and its age are read from the journal when scraped (shared across instances with Redis). */
  measureBacklog(read: () => Promise<number>, oldestPending: () => Promise<number | null>, now: () => number): void {
    const errors = this.storeErrors;
    new Gauge({
      name: 'logout_receiver_journal_backlog',
      help: 'Logouts pending in the journal (queued for a first attempt or a retry, or being attempted)',
      registers: [this.registry],
      async collect() {
        try {
          this.set(await read());
        } catch {
          errors.inc({ where: 'journal' });
        }
      },
    });
    new Gauge({
      name: 'logout_receiver_oldest_pending_logout_age_seconds',
      help: 'How long ago the oldest logout still queued (pending, or being attempted) was received; 0 when none is',
      registers: [this.registry],
      async collect() {
        try {
          const at = await oldestPending();
          this.set(at === null ? 0 : Math.max(0, (now() - at) / 1000));
        } catch {
          errors.inc({ where: 'journal' });
        }
      },
    });
  }

  /** An answered request: counted and timed by method, route pattern and status. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const series = memo(this.http, `${method} ${status} ${route}`, () => ({
      labels: { method, route, status: String(status) },
      count: 0,
      duration: this.httpDuration.labels({ method, route }),
    }));
    series.count += 1;
    series.duration.observe(seconds);
  }

  /** One attempt at a logout, `seconds` long: received (first attempt), its duration, its removals, and its outcome once final. */
  logoutAttempt(report: LogoutReport, seconds: number, done: AttemptDone): void {
    const { channel, state } = report;
    if (report.attempts === 1) (memo(this.children, `received ${channel}`, () => this.received.labels({ channel })) as CounterChild).inc();
    (memo(this.children, `sweep ${channel} ${state}`, () => this.sweepDuration.labels({ channel, state })) as HistogramChild).observe(seconds);
    for (const r of done.removals) this.removals.inc({ app: r.app, outcome: r.outcome });
    for (const r of done.secondPass) this.secondPassRemovals.inc({ app: r.app, outcome: r.outcome });
    for (const e of done.webSessions) this.webSessionEndings.inc({ app: e.app, outcome: e.outcome });
    for (const e of done.secondPassWebSessions) this.secondPassWebSessionEndings.inc({ app: e.app, outcome: e.outcome });
    if (done.settled) (memo(this.children, `logouts ${channel} ${state}`, () => this.logouts.labels({ channel, state })) as CounterChild).inc();
  }
}
