import type { Tx } from '../../platform/db/database.ts';

/** Control-plane tables that carry a tenant_id column but are not tenant-owned (see catalog test). */
export const CONTROL_PLANE_TENANT_COLUMNS = ['jobs', 'verified_domains', 'mail_outbox'] as const;

/**
 * Every table of the public schema with a `tenant_id` column, read from the catalog (so a table
 * added by a later migration is purged without anyone remembering to list it), ordered so that a
 * table comes before the tables its foreign keys point at.
 */
export async function tenantTablesInDeleteOrder(tx: Tx): Promise<string[]> {
  const tables = await tx.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
  );
  const edges = await tx.query<{ child: string; parent: string }>(
    `SELECT cl.relname AS child, pa.relname AS parent FROM pg_constraint k
     JOIN pg_class cl ON cl.oid = k.conrelid JOIN pg_class pa ON pa.oid = k.confrelid
     JOIN pg_namespace n ON n.oid = cl.relnamespace
     WHERE k.contype = 'f' AND n.nspname = 'public' AND cl.oid <> pa.oid`,
  );
  const names = tables.rows.map((row) => row.name);
  const parents = new Map<string, Set<string>>(names.map((name) => [name, new Set()]));
  for (const edge of edges.rows) parents.get(edge.child)?.add(edge.parent);
  // Depth-first: emit a table only after every table that references it.
  const children = new Map<string, string[]>(names.map((name) => [name, []]));
  for (const [child, ps] of parents) for (const p of ps) children.get(p)?.push(child);
  const ordered: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const child of children.get(name) ?? []) visit(child);
    ordered.push(name);
  };
  for (const name of names) visit(name);
  return ordered;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

export type PurgeReport = { tables: Record<string, number>; totalRows: number; verified: boolean };

/**
 * Deletes every row of the tenant in every tenant table, inside the caller's tenant transaction
 * (so RLS bounds it to this tenant as well as the explicit filter), then verifies none is left.
 */
export async function purgeTenantRows(tx: Tx, tenantId: string, keepJobId?: string): Promise<PurgeReport> {
  const tables: Record<string, number> = {};
  let totalRows = 0;
  const order = await tenantTablesInDeleteOrder(tx);
  for (const table of order) {
    if (!IDENTIFIER.test(table)) throw new Error(`unexpected table name ${table}`);
    let count: number;
    if (table === 'jobs') {
      count = (await tx.query('DELETE FROM jobs WHERE tenant_id = $1 AND id IS DISTINCT FROM $2', [tenantId, keepJobId ?? null])).rowCount;
    } else if (table === 'audit_log') {
      // Append-only for the request role: erased with its tenant by the owner's function.
      const { rows } = await tx.query<{ n: string }>('SELECT palazzo_audit_erase() AS n');
      count = Number(rows[0]?.n ?? 0);
    } else {
      count = (await tx.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [tenantId])).rowCount;
    }
    tables[table] = count;
    totalRows += count;
  }
  let left = 0;
  for (const table of order) {
    if (table === 'jobs') continue;
    const { rows } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`, [tenantId]);
    left += rows[0]?.n ?? 0;
  }
  return { tables, totalRows, verified: left === 0 };
}
