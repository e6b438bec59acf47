import pg from 'pg';
import { APP_ROLE, type Database, type QueryResult, type Tx, tenantScopeSql } from './database.ts';

// int8 (count, sum) as JS numbers: every count we read fits in 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

function wrap(client: pg.PoolClient): Tx {
  return {
    async query<T>(text: string, params?: unknown[]): Promise<QueryResult<T>> {
      const result = await client.query(text, params as unknown[]);
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    },
    async exec(text: string) {
      await client.query(text);
    },
  };
}

async function inTransaction<T>(pool: pg.Pool, begin: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    // One round trip opens the transaction and its scope.
    await client.query(begin);
    const result = await fn(wrap(client));
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError as Error;
    }
    throw error;
  } finally {
    // A connection whose rollback failed is destroyed rather than reused.
    client.release(broken);
  }
}

export function appUrlFrom(ownerUrl: string, password?: string): string {
  const url = new URL(ownerUrl);
  url.username = APP_ROLE;
  url.password = password ?? '';
  return url.toString();
}

export type PostgresOptions = { ownerUrl: string; appUrl: string; poolMax: number };

export function createPostgresDatabase(options: PostgresOptions): Database & { appPool: pg.Pool } {
  const appPool = new pg.Pool({ connectionString: options.appUrl, max: options.poolMax, idleTimeoutMillis: 30_000 });
  const ownerPool = new pg.Pool({ connectionString: options.ownerUrl, max: 2, idleTimeoutMillis: 5_000 });
  // An idle client that errors (server restart) must not crash the process.
  appPool.on('error', () => {});
  ownerPool.on('error', () => {});
  return {
    kind: 'postgres',
    appPool,
    withTenant: (tenantId, fn) => inTransaction(appPool, `BEGIN; ${tenantScopeSql(tenantId)}`, fn),
    withControlPlane: (fn) => inTransaction(appPool, 'BEGIN', fn),
    withOwner: (fn) => inTransaction(ownerPool, 'BEGIN', fn),
    async close() {
      await Promise.all([appPool.end(), ownerPool.end()]);
    },
  };
}
