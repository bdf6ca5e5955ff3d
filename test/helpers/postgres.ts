import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Test } from 'tap';

export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgresql://root@127.0.0.1:5432/test';

export type Provider = 'microsoft' | 'community';

/**
 * The tables the two IDistributedCache providers create (their DDL as each provider's source writes it;
 * test/helpers/msal_python.py says where each was checked), under a name of this test's own.
 */
const DDL: Record<Provider, (table: string) => string[]> = {
  microsoft: (table) => [`CREATE UNLOGGED TABLE ${table} (id VARCHAR(449) COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL, expiresattime TIMESTAMPTZ NOT NULL, slidingexpirationinseconds BIGINT NULL, absoluteexpiration TIMESTAMPTZ NULL)`],
  community: (table) => [`CREATE TABLE "${table}" ("Id" text COLLATE pg_catalog."default" NOT NULL, "Value" bytea, "ExpiresAtTime" timestamp with time zone, "SlidingExpirationInSeconds" double precision, "AbsoluteExpiration" timestamp with time zone, PRIMARY KEY ("Id"))`],
};

export interface PostgresContext {
  pool: pg.Pool;
  url: string;
  /** Creates a cache table of the provider's layout under a fresh name (dropped at the end); returns its name. */
  table(provider: Provider, name?: string): Promise<string>;
  /** Writes a row as the provider does at Set: an absolute expiry an hour ahead, no sliding window. */
  writeRow(provider: Provider, table: string, id: string, value: string | Buffer): Promise<void>;
  readRow(provider: Provider, table: string, id: string): Promise<{ value: Buffer; expires: string; sliding: number | null; absolute: string | null } | undefined>;
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const q = (provider: Provider, name: string) => (provider === 'microsoft' ? name : `"${name}"`);
const cols = (provider: Provider) =>
  provider === 'microsoft'
    ? { id: 'id', value: 'value', expires: 'expiresattime', sliding: 'slidingexpirationinseconds', absolute: 'absoluteexpiration' }
    : { id: '"Id"', value: '"Value"', expires: '"ExpiresAtTime"', sliding: '"SlidingExpirationInSeconds"', absolute: '"AbsoluteExpiration"' };

/** A PostgreSQL pool for a test file; without a reachable server the file is skipped loudly, or fails under CI=true. */
export async function postgresForTest(t: Test): Promise<PostgresContext | undefined> {
  if (!(await reachable(POSTGRES_URL))) {
    const why = `PostgreSQL is not reachable at ${POSTGRES_URL}`;
    if (process.env.CI === 'true') {
      t.fail(`${why}: CI needs it`);
      return undefined;
    }
    t.comment(`##### SKIPPING the PostgreSQL suite: ${why} #####`);
    t.plan(0, why);
    return undefined;
  }
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
  const created: string[] = [];
  t.teardown(async () => {
    for (const name of created) await pool.query(`DROP TABLE IF EXISTS ${name}`);
    await pool.end();
  });
  return {
    pool,
    url: POSTGRES_URL,
    async table(provider, name = `lr_test_${provider}_${randomUUID().replace(/-/g, '').slice(0, 16)}`) {
      for (const statement of DDL[provider](name)) await pool.query(statement);
      created.push(provider === 'microsoft' ? name.toLowerCase() : `"${name}"`);
      return name;
    },
    async writeRow(provider, table, id, value) {
      const c = cols(provider);
      await pool.query(
        `INSERT INTO ${q(provider, table)} (${c.id}, ${c.value}, ${c.expires}, ${c.sliding}, ${c.absolute}) VALUES ($1, $2, now() + interval '1 hour', NULL, now() + interval '1 hour')
         ON CONFLICT (${c.id}) DO UPDATE SET ${c.value} = EXCLUDED.${c.value}`,
        [id, Buffer.isBuffer(value) ? value : Buffer.from(value)],
      );
    },
    async readRow(provider, table, id) {
      const c = cols(provider);
      const { rows } = await pool.query(`SELECT ${c.value} AS value, ${c.expires}::text AS expires, ${c.sliding} AS sliding, ${c.absolute}::text AS absolute FROM ${q(provider, table)} WHERE ${c.id} = $1`, [id]);
      return rows[0] as { value: Buffer; expires: string; sliding: number | null; absolute: string | null } | undefined;
    },
  };
}
