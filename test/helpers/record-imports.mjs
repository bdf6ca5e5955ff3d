// Module hooks that write every URL a process loads to stderr, one per line (for the client's import test).
import { register } from 'node:module';
register(
  'data:text/javascript,' +
    encodeURIComponent(`
import { writeSync } from 'node:fs';
export async function load(url, context, next) {
  writeSync(2, 'loaded ' + url + '\\n');
  return next(url, context);
}
`),
);
