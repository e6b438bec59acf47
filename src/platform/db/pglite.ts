import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { APP_ROLE, type Database, type QueryResult, type Tx, tenantScopeSql } from './database.ts';

function wrap(tx: Transaction): Tx {
  return {
    async query<T>(text: string, params?: unknown[]): Promise<QueryResult<T>> {
      const result = await tx.query<T>(text, params);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(text: string) {
      await tx.exec(text);
    },
  };
}

/**
 * Embedded PostgreSQL. Its only session is the superuser, so every request transaction starts with
 * `SET LOCAL ROLE palazzo_app`: row-level security then applies as on a server. (On PostgreSQL the
 * server logs in as the restricted role instead, so SQL cannot `RESET ROLE` its way out.)
 */
export async function createPgliteDatabase(dataDir?: string): Promise<Database & { pglite: PGlite }> {
  const pglite = await PGlite.create({ dataDir, extensions: { vector } });
  const run = <T>(prelude: string | undefined, fn: (tx: Tx) => Promise<T>) =>
    pglite.transaction(async (tx) => {
      if (prelude) await tx.exec(prelude);
      return fn(wrap(tx));
    });
  return {
    kind: 'pglite',
    pglite,
    withTenant: (tenantId, fn) => run(`SET LOCAL ROLE ${APP_ROLE}; ${tenantScopeSql(tenantId)}`, fn),
    withTenants: (tenantIds, fn) =>
      run(`SET LOCAL ROLE ${APP_ROLE}`, async (tx) => {
        for (const tenantId of tenantIds) {
          await tx.exec(tenantScopeSql(tenantId));
          await fn(tx, tenantId);
        }
      }),
    withControlPlane: (fn) => run(`SET LOCAL ROLE ${APP_ROLE}`, fn),
    withOwner: (fn) => run(undefined, fn),
    async close() {
      if (!pglite.closed) await pglite.close();
    },
  };
}
