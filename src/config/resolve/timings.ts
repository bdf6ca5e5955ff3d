import type { ConfigFile } from '../schema.js';

/** `retention`: how long each kind of record is kept. */
export const resolveRetention = (file: ConfigFile['retention']) => ({
  sessionSeconds: file?.sessionSeconds ?? 30 * 24 * 3600,
  loggedOutMarkerSeconds: file?.loggedOutMarkerSeconds ?? 7 * 24 * 3600,
  unmatchedMarkerSeconds: file?.unmatchedMarkerSeconds ?? 600,
  logoutReportSeconds: file?.logoutReportSeconds ?? 7 * 24 * 3600,
  secondPassSeconds: file?.secondPassSeconds ?? 60,
});

/** `retry`: how queued logouts are retried (see LogoutService), in ms. */
export const resolveRetry = (file: ConfigFile['retry']) => ({
  baseDelayMs: (file?.baseDelaySeconds ?? 1) * 1000,
  maxDelayMs: (file?.maxDelaySeconds ?? 60) * 1000,
  maxAttempts: file?.maxAttempts ?? 100,
  leaseMs: (file?.leaseSeconds ?? 30) * 1000,
});

/** `limits`: requests per minute per client IP (public routes) and per API caller, and HTTP timeouts. */
export const resolveLimits = (file: ConfigFile['limits']) => ({
  publicRequestsPerMinute: file?.publicRequestsPerMinute ?? 600,
  apiRequestsPerMinute: file?.apiRequestsPerMinute ?? 6000,
  failedAuthenticationsPerMinute: file?.failedAuthenticationsPerMinute ?? 20,
  headersTimeoutSeconds: file?.headersTimeoutSeconds ?? 10,
  requestTimeoutSeconds: file?.requestTimeoutSeconds ?? 30,
});
