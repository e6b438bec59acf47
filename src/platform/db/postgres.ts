import { createHash } from 'node:crypto';
import pg from 'pg';
import { APP_ROLE, type Database, type QueryResult, type Tx, tenantScopeSql } from './database.ts';

// int8 (count, sum) as JS numbers: every count we read fits in 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

/**
 * Request queries with parameters run as named (prepared) statements on the app pool: each
 * connection parses, rewrites (row-level security policies included) and plans a statement once,
 * then only binds and executes it. On the B2 read this roughly halves PostgreSQL's CPU per request.
 * RLS stays exact: the policies read the tenant with `current_setting` inside an InitPlan, evaluated at
 * every execution, and PostgreSQL re-plans a cached statement when the role, the policies or the
 * tables change. Only the first MAX_PREPARED distinct texts are named, so dynamically built SQL
 * cannot grow the server's statement cache without bound; queries without parameters (possibly
 * several statements, DDL) keep the simple protocol.
 */
const MAX_PREPARED = 500;
const statementNames = new Map<string, string>();

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_PREPARED) {
    name = `pz_${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** A table's row type changed under a prepared statement (a migration): the connection must be replaced. */
function isStalePlan(error: unknown): boolean {
  return (error as { code?: string }).code === '0A000' && /cached plan must not change result type/.test((error as Error).message);
}

function wrap(client: pg.PoolClient, prepare: boolean): Tx {
  return {
    async query<T>(text: string, params?: unknown[]): Promise<QueryResult<T>> {
      const name = prepare && params && params.length > 0 ? statementName(text) : undefined;
      const result = name ? await client.query({ name, text, values: params }) : await client.query(text, params as unknown[]);
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    },
    async exec(text: string) {
      await client.query(text);
    },
  };
}

type Corkable = { cork?: () => void; uncork?: () => void };

/**
 * Holds the client's socket writes until the end of the current tick, so the statements queued now
 * leave in one write (one syscall, one packet) instead of one each.
 */
function corkUntilNextTick(client: pg.PoolClient) {
  const stream = (client as unknown as { connection?: { stream?: Corkable } }).connection?.stream;
  if (!stream?.cork || !stream.uncork) return;
  stream.cork();
  process.nextTick(() => stream.uncork?.());
}

/**
 * One transaction on one pooled connection. On the request path (the app pool) it is pipelined and its
 * parameterised queries are prepared; on the owner pool it is a plain BEGIN … COMMIT.
 *
 * The app pool runs node-postgres in pipeline mode: a query is written to the socket when it is
 * queued, not when the previous one has been answered, and the answers are matched in order. (Without
 * pipeline mode node-postgres holds each queued query until the previous one's ReadyForQuery, so
 * sending without awaiting overlaps nothing.) So:
 * - the opening statement (`BEGIN` and, for a tenant, the transaction-local `set_config`) is not
 *   awaited: the first query of `fn` leaves in the same write, and both are answered in one round trip;
 * - COMMIT is queued, then the connection goes back to the pool before its answer arrives, so the
 *   next transaction's opening statement can leave in the same write as this COMMIT. The caller still
 *   gets its result only once COMMIT has succeeded, and a failed COMMIT is thrown to it.
 * A plain read thus costs two round trips (open + query, COMMIT) instead of three, and under load the
 * COMMIT shares its write with the next request's opening.
 *
 * Why the guarantees hold: the server runs one connection's statements strictly in order, so the
 * first query executes inside the transaction after the tenant is set, and the next transaction on the
 * connection starts only after this one has ended (COMMIT ends the transaction block even when it
 * fails). The tenant setting is transaction-local, so it is gone by then. The opening is awaited
 * before COMMIT, and a failure of the opening or of `fn` rolls back before the connection is released;
 * a connection whose ROLLBACK fails is destroyed. Were the opening ever to fail, the queries behind it
 * would run with no tenant set, where row-level security shows no rows and refuses every write.
 */
async function inTransaction<T>(pool: pg.Pool, begin: string, fn: (tx: Tx) => Promise<T>, requestPath: boolean): Promise<T> {
  const client = await pool.connect();
  let opened: Promise<unknown> | undefined;
  let result: T;
  try {
    if (requestPath) {
      corkUntilNextTick(client);
      opened = client.query(begin);
      // Awaited below; this only keeps an early failure from being reported as unhandled meanwhile.
      opened.catch(() => {});
    } else {
      await client.query(begin);
    }
    result = await fn(wrap(client, requestPath));
    if (opened) await opened;
    if (!requestPath) await client.query('COMMIT');
  } catch (error) {
    let broken: Error | undefined;
    try {
      if (opened) await opened.catch(() => {});
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError as Error;
    }
    // After a migration changed a table's row type its prepared statements would keep failing: start afresh.
    if (!broken && isStalePlan(error)) broken = error as Error;
    // A connection whose rollback failed is destroyed rather than reused.
    client.release(broken);
    throw error;
  }
  if (!requestPath) {
    client.release();
    return result;
  }
  corkUntilNextTick(client);
  const committed = client.query('COMMIT');
  client.release();
  await committed;
  return result;
}

export function appUrlFrom(ownerUrl: string, password?: string): string {
  const url = new URL(ownerUrl);
  url.username = APP_ROLE;
  url.password = password ?? '';
  return url.toString();
}

export type PostgresOptions = { ownerUrl: string; appUrl: string; poolMax: number };

export function createPostgresDatabase(options: PostgresOptions): Database & { appPool: pg.Pool } {
  // Request traffic pipelines and prepares (see inTransaction, statementName); the owner pool (migrations,
  // bootstrap, DDL) does neither.
  const appPool = new pg.Pool({ connectionString: options.appUrl, max: options.poolMax, idleTimeoutMillis: 30_000, pipeline: true });
  const ownerPool = new pg.Pool({ connectionString: options.ownerUrl, max: 2, idleTimeoutMillis: 5_000 });
  // An idle client that errors (server restart) must not crash the process.
  appPool.on('error', () => {});
  ownerPool.on('error', () => {});
  return {
    kind: 'postgres',
    appPool,
    withTenant: (tenantId, fn) => inTransaction(appPool, `BEGIN; ${tenantScopeSql(tenantId)}`, fn, true),
    withTenants: (tenantIds, fn) =>
      inTransaction(
        appPool,
        'BEGIN',
        async (tx) => {
          for (const tenantId of tenantIds) {
            await tx.exec(tenantScopeSql(tenantId));
            await fn(tx, tenantId);
          }
        },
        true,
      ),
    withControlPlane: (fn) => inTransaction(appPool, 'BEGIN', fn, true),
    withOwner: (fn) => inTransaction(ownerPool, 'BEGIN', fn, false),
    async close() {
      await Promise.all([appPool.end(), ownerPool.end()]);
    },
  };
}
