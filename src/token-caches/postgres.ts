import pg from 'pg';
import { Type } from 'typebox';
import { sharedPool } from '../postgres/pool.js';
import type { TokenCacheSettings } from '../core/registrations.js';
import type { PartitionUpdate, TokenCacheStore } from '../core/token-cache.js';
import type { TokenCacheKind } from './kind.js';

/**
 * The two `IDistributedCache` providers for PostgreSQL that ASP.NET Core apps use: the same table, with
 * columns named differently. Microsoft's writes its SQL unquoted (so PostgreSQL folds every name to lower
 * case); the community one quotes mixed-case names.
 */
const PROVIDERS = {
  microsoft: { id: 'id', value: 'value', foldsNames: true },
  community: { id: '"Id"', value: '"Value"', foldsNames: false },
} as const;
type Provider = keyof typeof PROVIDERS;

const IDENTIFIER = '^[A-Za-z_][A-Za-z0-9_]{0,62}$';
const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export interface PostgresTable {
  provider: Provider;
  schema: string;
  table: string;
}

/**
 * Partitions as rows of an `IDistributedCache` table: the row whose id is the partition key. A rewrite
 * is `UPDATE … SET value WHERE id AND value = what was read`, so an app's write in between wins and the
 * sweeper reads again; the expiry columns are never touched; a partition left without an account is
 * `DELETE`d on the same condition.
 */
export class PostgresTokenCacheStore implements TokenCacheStore {
  private readonly select: string;
  private readonly update: string;
  private readonly remove: string;

  constructor(
    private readonly pool: pg.Pool,
    where: PostgresTable,
  ) {
    const { id, value, foldsNames } = PROVIDERS[where.provider];
    const name = (n: string) => quote(foldsNames ? n.toLowerCase() : n);
    const table = `${name(where.schema)}.${name(where.table)}`;
    this.select = `SELECT ${value} AS value FROM ${table} WHERE ${id} = $1`;
    this.update = `UPDATE ${table} SET ${value} = $3 WHERE ${id} = $1 AND ${value} = $2`;
    this.remove = `DELETE FROM ${table} WHERE ${id} = $1 AND ${value} = $2`;
  }

  private async read(key: string): Promise<Buffer | null> {
    const { rows } = await this.pool.query<{ value: Buffer | null }>(this.select, [key]);
    return rows[0]?.value ?? null;
  }

  private async write(key: string, expected: Buffer, next: Buffer | null): Promise<boolean> {
    const result = next === null ? await this.pool.query(this.remove, [key, expected]) : await this.pool.query(this.update, [key, expected, next]);
    return result.rowCount === 1;
  }

  async get(key: string): Promise<string | null> {
    return (await this.read(key))?.toString('utf8') ?? null;
  }

  async compareAndSet(key: string, expected: string, next: string | null): Promise<boolean> {
    return this.write(key, Buffer.from(expected), next === null ? null : Buffer.from(next));
  }

  async readForUpdate(key: string): Promise<PartitionUpdate> {
    const value = await this.read(key);
    return {
      value,
      write: async (next) => value !== null && this.write(key, value, next === null ? null : Buffer.isBuffer(next) ? next : Buffer.from(next)),
      release: () => {},
    };
  }

  async ping(): Promise<void> {
    await this.pool.query(`${this.select} AND false`, ['']);
  }

  async close(): Promise<void> {} // the pool is shared by every app on its URL, and closed with the service
}

/** `kind: postgres`: ASP.NET Core apps whose `IDistributedCache` (Microsoft.Identity.Web's token cache) is in PostgreSQL. */
export const postgresTokenCache: TokenCacheKind = {
  kind: 'postgres',
  settings: Type.Object(
    {
      url: Type.String({ pattern: '^postgres(ql)?://', maxLength: 2048 }),
      provider: Type.Optional(Type.Unsafe<Provider>({ type: 'string', enum: Object.keys(PROVIDERS) })),
      schema: Type.Optional(Type.String({ pattern: IDENTIFIER })),
      table: Type.String({ pattern: IDENTIFIER }),
    },
    { additionalProperties: false },
  ),
  defaults: (settings) => ({ provider: 'microsoft', schema: 'public', ...settings }),
  open(settings: TokenCacheSettings, context) {
    const url = settings.url as string;
    const pool = sharedPool(context, url);
    // The settings were checked against the kind's schema, with its defaults.
    return new PostgresTokenCacheStore(pool, { provider: settings.provider as Provider, schema: settings.schema as string, table: settings.table as string });
  },
};
