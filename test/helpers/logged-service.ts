import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Test } from 'tap';
import { resolveConfig, type Config } from '../../src/config/load.js';
import type { ServiceStores } from '../../src/core/service-stores.js';
import type { WebSessionStore } from '../../src/core/web-session.js';
import { buildApp } from '../../src/server.js';
import { loggerOptions } from '../../src/http/logging.js';
import { createMemoryStores } from '../../src/stores/memory.js';
import { MemoryTokenCacheStore } from '../../src/token-caches/memory.js';
import { testConfigFile } from './service.js';

/** A pino destination that keeps the lines written to it. */
export function logSink(): { lines: string[]; sink: Writable } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, sink };
}

/**
 * The service on memory stores, logging at `level` into a sink it returns the lines of; `edit` changes
 * the configuration file, `prepare` the token caches (or stores) before the app is built.
 */
export async function loggedApp(
  t: Test,
  options: {
    jwksUri?: string;
    level?: string;
    edit?: (file: ReturnType<typeof testConfigFile>) => void;
    prepare?: (caches: Map<string, MemoryTokenCacheStore>, config: Config) => Promise<void> | void;
    stores?: ServiceStores;
    webSessions?: Map<string, WebSessionStore[]>;
    workerIntervalMs?: number;
    fetch?: typeof fetch;
  } = {},
) {
  const { lines, sink } = logSink();
  const file = testConfigFile(options.jwksUri ?? 'https://idp.example.test/jwks');
  options.edit?.(file);
  const config = resolveConfig(file);
  const caches = new Map(config.apps.map((a) => [a.clientId, new MemoryTokenCacheStore()]));
  await options.prepare?.(caches, config);
  const app = await buildApp({
    config,
    stores: options.stores ?? createMemoryStores({ reportRetentionMs: 60_000, pruneIntervalMs: 0 }),
    tokenCaches: caches,
    ...(options.webSessions ? { webSessions: options.webSessions } : {}),
    logger: pino(loggerOptions(options.level ?? 'info', config.logClientAddresses), sink),
    ...(options.workerIntervalMs !== undefined ? { workerIntervalMs: options.workerIntervalMs } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  t.teardown(() => app.close());
  return { app, lines, config };
}
