import pg from 'pg';
import { Type } from 'typebox';
import { sharedPool } from '../postgres/pool.js';
import { safeMessage } from '../core/errors.js';
import type { WebSessionEnding, WebSessionKind, WebSessionStore, WebSessionTarget } from './kind.js';
import { keyFor } from './key-template.js';

/** A name as it is in the catalog (`SPRING_SESSION`, created unquoted, is `spring_session`), quoted so. */
const IDENTIFIER = '^[A-Za-z_][A-Za-z0-9_]{0,62}$';
const quote = (name: string): string => `"${name}"`;

export interface PostgresWebSessionTable {
  schema: string;
  table: string;
  column: string;
}

/** A web session as a row, ended by `DELETE … WHERE <column> = $1` with the key bound, in the configured table only. */
export class PostgresWebSessionStore implements WebSessionStore {
  private readonly remove: string;
  private readonly probe: string;

  constructor(
    private readonly pool: pg.Pool,
    where: PostgresWebSessionTable,
    private readonly template: string,
  ) {
    const table = `${quote(where.schema)}.${quote(where.table)}`;
    this.remove = `DELETE FROM ${table} WHERE ${quote(where.column)} = $1`;
    this.probe = `SELECT 1 FROM ${table} WHERE ${quote(where.column)} = $1 AND false`;
  }

  async end(target: WebSessionTarget): Promise<WebSessionEnding> {
    const named = keyFor(this.template, target);
    if (!('key' in named)) return named;
    try {
      const { rowCount } = await this.pool.query(this.remove, [named.key]);
      return { outcome: (rowCount ?? 0) > 0 ? 'removed' : 'not_present' };
    } catch (err) {
      return { outcome: 'failed', detail: safeMessage(err) };
    }
  }

  async ping(): Promise<void> {
    await this.pool.query(this.probe, ['']);
  }

  async close(): Promise<void> {} // the pool is shared by every app on its URL, and closed with the service
}

/** Where a database is, as one string (credentials left out). */
function postgresIdentity(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname.toLowerCase()}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return url;
  }
}

/**
 * `kind: postgres`: Django db sessions (`django_session`, `session_key`), Spring Session JDBC
 * (`spring_session`, `session_id`; its attributes cascade), Duende BFF (`UserSessions`, `SessionId` keyed
 * `{sid}`), a ticket store over a PostgreSQL `IDistributedCache`.
 */
export const postgresWebSession: WebSessionKind = {
  kind: 'postgres',
  settings: Type.Object(
    {
      url: Type.String({ pattern: '^postgres(ql)?://', maxLength: 2048 }),
      schema: Type.Optional(Type.String({ pattern: IDENTIFIER })),
      table: Type.String({ pattern: IDENTIFIER }),
      column: Type.String({ pattern: IDENTIFIER }),
    },
    { additionalProperties: false },
  ),
  defaults: (settings) => ({ schema: 'public', ...settings }),
  key: { default: '{sessionKey}', literalPrefix: false },
  keySpace: (settings) => ({
    store: `postgres ${postgresIdentity(settings.url as string)} ${settings.schema as string}.${settings.table as string}.${settings.column as string}`,
    patterns: [settings.key as string],
  }),
  open(settings, context) {
    const url = settings.url as string;
    const pool = sharedPool(context, url);
    // The settings were checked against the kind's schema, with its defaults.
    return new PostgresWebSessionStore(pool, { schema: settings.schema as string, table: settings.table as string, column: settings.column as string }, settings.key as string);
  },
};
