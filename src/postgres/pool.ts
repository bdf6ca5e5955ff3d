import pg from 'pg';
import type { OpenContext } from '../token-caches/kind.js';

/**
 * The one pool of a PostgreSQL database, shared by every app's token cache and web sessions there. It
 * fails fast while PostgreSQL is away: the journal retries the logout.
 */
export function sharedPool(context: Pick<OpenContext, 'shared' | 'onError'>, url: string): pg.Pool {
  return context.shared(
    `postgres ${url}`,
    () => {
      const created = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 2_000, query_timeout: 5_000, idleTimeoutMillis: 10_000 });
      created.on('error', (err) => context.onError(err));
      return created;
    },
    (created) => created.end(),
  );
}
