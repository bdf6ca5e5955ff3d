#!/usr/bin/env node
import { keyFromStdin, parseCommandLine, USAGE, UsageError, type Command } from './cli.js';
import { ConfigError, loadConfig } from './config/load.js';
import { keyHash } from './http/api-keys.js';
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
  if (command.command === 'check-config') return void process.stdout.write(`logout-receiver: ${command.configPath} is valid: ${config.issuers.length} issuer(s), ${config.apps.length} app(s), store ${config.store.kind}\n`);

  // Loaded only to serve: --help, version, hash-key and check-config start without the server's modules.
  const { serve } = await import('./server.js');
  await serve(config);
}

main().catch((err: unknown) => {
  process.stderr.write(`logout-receiver: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
});
