#!/usr/bin/env node
import { setTimeout } from 'node:timers/promises';
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { keyFromStdin, parseCommandLine, USAGE, UsageError, type Command } from './cli.js';
import { ConfigError, loadConfig } from './config/load.js';
import { keyHash } from './http/api-keys.js';
import { buildApp } from './http/app.js';
import { loggerOptions } from './http/logging.js';
import { createBackends } from './stores/create.js';
import { OutageLog } from './outage-log.js';
import { VERSION } from './version.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  let command: Command;
  try {
    command = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`logout-receiver: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (command.command === 'help') return void process.stdout.write(USAGE);
  if (command.command === 'version') {
    return void process.stdout.write(`${VERSION}\n`);
  }
  if (command.command === 'hash-key') {
    const key = keyFromStdin(await readStdin());
    if (key === '') {
      process.stderr.write('logout-receiver: no key on stdin (printf %s "$KEY" | logout-receiver hash-key)\n');
      process.exit(2);
    }
    return void process.stdout.write(`${keyHash(key).toString('hex')}\n`);
  }

  let config;
  try {
    config = await loadConfig(command.configPath !== undefined ? ['--config', command.configPath] : []);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`logout-receiver: configuration error: ${err.message}\n`);
    process.exit(2);
  }
  if (command.command === 'check-config')
    return void process.stdout.write(`logout-receiver: ${command.configPath} is valid: ${config.issuers.length} issuer(s), ${config.apps.length} app(s), store ${config.store.kind}\n`);

  const logger = pino(loggerOptions(config.logLevel, config.logClientAddresses));
  // An unreachable store is logged once as the outage begins and once as it ends, and never stops the service.
  const outages = new OutageLog(logger);
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  const earlyErrors = new Map<string, number>(); // counted before the app (and its metrics) exists
  const backends = createBackends(
    config,
    (reason, where) => {
      if (app) app.serviceMetrics.storeErrors.inc({ where });
      else earlyErrors.set(where, (earlyErrors.get(where) ?? 0) + 1);
      outages.failed(where, reason);
    },
    (where) => outages.recovered(where),
  );
  const { stores, attemptStores, tokenCaches, shared } = backends;
  // Give Redis a moment to connect before taking requests; a Redis that is down does not stop the start.
  await backends.connected(3_000);
  if (config.store.kind === 'memory')
    logger.warn('store: in-process memory. Sessions, logged-out markers and logout reports are lost on restart, and it serves one instance only: use Redis in production');
  for (const key of config.apiKeys.filter((k) => !k.appsNamed))
    logger.warn({ key: key.name }, 'API key names no apps: it is bound to every app (give it apps: [...] to bind it, or apps: ["*"] to say so)');
  if (config.development)
    logger.warn(`no configuration file (--config FILE or LOGOUT_RECEIVER_CONFIG): running the built-in development configuration on loopback only, with the development API key from the README`);

  app = await buildApp({ config, stores, attemptStores, tokenCaches, logger, outages, ...(shared ? { rateLimitRedis: shared.redis, rateLimitPrefix: shared.keyPrefix } : {}) });
  const service = app;
  for (const [where, count] of earlyErrors) service.serviceMetrics.storeErrors.inc({ where }, count);
  // A worker takes no traffic a load balancer could still send: it stops at once.
  const shutdownDelaySeconds = config.role === 'worker' ? 0 : config.server.shutdownDelaySeconds;
  closeWithGrace({ delay: (shutdownDelaySeconds + 10) * 1000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err: { message: err.message } }, 'stopping after an error');
    else {
      service.beginShutdown();
      // SIGTERM is the orchestrator's: keep serving while endpoints learn from /readyz; Ctrl-C (SIGINT) is a person's.
      if (signal === 'SIGTERM' && shutdownDelaySeconds > 0) {
        logger.info({ signal, shutdownDelaySeconds }, 'stopping: /readyz answers 503; still serving until the delay ends');
        await setTimeout(shutdownDelaySeconds * 1000);
      }
      logger.info({ signal }, 'stopping: no longer accepting; finishing in-flight requests');
    }
    await service.close();
  });

  const about = { role: config.role, store: config.store.kind, apps: config.apps.length, issuers: config.issuers.length };
  // A worker with a management port has nothing for the main one.
  if (config.role !== 'worker' || !service.management) {
    const address = await service.listen({ host: config.server.host, port: config.server.port });
    logger.info({ address, ...about }, `logout-receiver listening on ${address}`);
  } else {
    await service.ready();
    logger.info(about, 'logout-receiver worker: no main listener');
  }
  if (service.management) {
    const management = await service.management.listen({ host: config.server.host, port: config.server.managementPort! });
    logger.info({ address: management }, `probes and metrics listening on ${management}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`logout-receiver: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
});
