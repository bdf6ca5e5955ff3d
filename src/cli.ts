import { parseArgs } from 'node:util';

/** What the command line asks for. */
export type Command = { command: 'serve'; configPath?: string } | { command: 'check-config'; configPath: string } | { command: 'hash-key' } | { command: 'help' } | { command: 'version' };

export const USAGE = `usage: logout-receiver [--config FILE]        run the service (FILE, or LOGOUT_RECEIVER_CONFIG, or the development configuration)
       logout-receiver check-config FILE      validate a configuration file; exit 0 when it is valid, 2 when not
       logout-receiver hash-key               read an API key on stdin, print the hex SHA-256 the configuration wants
       logout-receiver --help | --version
`;

/** A command line that is not one of the above: said with the usage, exit 2. */
export class UsageError extends Error {}

/** Parses the arguments (after `node main.js`); an unknown flag is an error, never the development configuration. */
export function parseCommandLine(argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help' };
  if (values.version) return { command: 'version' };
  const [command, ...rest] = positionals;
  if (command === undefined) return { command: 'serve', ...(values.config !== undefined ? { configPath: values.config } : {}) };
  if (command === 'check-config') {
    const path = rest[0] ?? values.config;
    if (path === undefined || rest.length > 1) throw new UsageError('check-config takes one configuration file');
    return { command: 'check-config', configPath: path };
  }
  if (command === 'hash-key') {
    if (rest.length > 0 || values.config !== undefined) throw new UsageError('hash-key takes no arguments: it reads the key on stdin');
    return { command: 'hash-key' };
  }
  throw new UsageError(`unknown command "${command}"`);
}

/** The key as given on stdin, less one line ending (`echo key |` adds one: it is not part of the key). */
export const keyFromStdin = (input: string): string => input.replace(/\r?\n$/, '');
