import { isUuid } from '../ids.ts';

export type QueryResult<T> = { rows: T[]; rowCount: number };

/** A connection inside one transaction. Repositories take this, never a pool. */
export type Tx = {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements with no parameters (migrations). */
  exec(text: string): Promise<void>;
};

export type DatabaseKind = 'pglite' | 'postgres';

/**
 * The one door to the database. Every request-path query runs as the restricted role
 * (`palazzo_app`: not superuser, no BYPASSRLS, owns nothing) inside a transaction.
 */
export type Database = {
  readonly kind: DatabaseKind;
  /**
   * Opens a tenant-scoped transaction: `app.tenant_id` is set transaction-locally, so row-level
   * security shows and accepts only that tenant's rows, and nothing survives the transaction.
   * The tenant id must come from a verified credential (or the control plane), never from input.
   */
  withTenant<T>(tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Background batches (usage flushes): one transaction that visits several tenants in turn,
   * setting `app.tenant_id` before each visit, so row-level security bounds every statement to the
   * tenant being visited, as in withTenant. Saves a transaction per tenant when thousands are due.
   */
  withTenants(tenantIds: readonly string[], fn: (tx: Tx, tenantId: string) => Promise<void>): Promise<void>;
  /**
   * A transaction with no tenant: tenant tables show no rows. For control-plane tables only
   * (tenants, tiers, operators, jobs, signing keys), used by the modules that own them.
   */
  withControlPlane<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** The owner role: migrations, bootstrap of roles, and tests that inspect the catalog. */
  withOwner<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
};

export const APP_ROLE = 'palazzo_app';

/** The statement that opens a tenant scope. The id is validated as a UUID before it is inlined. */
export function tenantScopeSql(tenantId: string): string {
  if (!isUuid(tenantId)) throw new Error('withTenant needs a UUID tenant id');
  return `SELECT set_config('app.tenant_id', '${tenantId.toLowerCase()}', true)`;
}
