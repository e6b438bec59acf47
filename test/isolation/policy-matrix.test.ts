/**
 * T04: the policy matrix, table × command × identity, with positive controls and a mutation check.
 *
 * Two tenants are seeded through the API so that every tenant table (read from the catalog) has
 * rows for both. As each tenant, on each table: SELECT sees exactly its own rows; INSERT and
 * UPDATE towards the other tenant raise 42501; UPDATE and DELETE of the other tenant's rows touch
 * nothing; with no tenant context nothing is visible. Then, in rolled-back owner transactions, the
 * policies of each table are broken in several ways and the same matrix must report a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tx } from '../../src/platform/db/database.ts';
import { createTestContext, type TestContext } from '../helpers/harness.ts';
import {
  APP_ROLE,
  countRows,
  expectRowsInEveryTenantTable,
  ident,
  probe,
  rolledBack,
  type SeededTenant,
  seedTenant,
  tenantTables,
} from './support.ts';

/** Tables the request role may only read and append to (no UPDATE, DELETE: the audit log). */
const APPEND_ONLY = new Set(['audit_log']);

type MatrixCase = { table: string; self: string; other: string; expectedSelf: number };

/**
 * The matrix for one table, run in a transaction that is already `palazzo_app` with
 * app.tenant_id = self. Returns the assertions that failed (empty when the table is isolated).
 * Every statement runs in a savepoint that is rolled back, so it leaves nothing behind.
 */
async function policyMatrix(tx: Tx, { table, self, other, expectedSelf }: MatrixCase): Promise<string[]> {
  const t = ident(table);
  const failures: string[] = [];
  const expect42501 = (what: string, outcome: Awaited<ReturnType<typeof probe>>) => {
    if (outcome.ok) failures.push(`${what}: expected 42501, succeeded (${outcome.rowCount} rows)`);
    else if (outcome.code !== '42501') failures.push(`${what}: expected 42501, got ${outcome.code} ${outcome.message}`);
  };
  const expectNoRows = (what: string, outcome: Awaited<ReturnType<typeof probe>>) => {
    // Append-only tables refuse UPDATE and DELETE to the request role altogether: stronger than 0 rows.
    if (!outcome.ok && outcome.code === '42501' && APPEND_ONLY.has(table)) return;
    if (!outcome.ok) failures.push(`${what}: expected 0 rows, got error ${outcome.code} ${outcome.message}`);
    else if (outcome.rowCount !== 0) failures.push(`${what}: expected 0 rows, affected ${outcome.rowCount}`);
  };

  // SELECT: exactly the tenant's own N > 0 rows, none of anyone else's.
  const seen = await probe(
    tx,
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE tenant_id IS DISTINCT FROM $1::uuid)::int AS foreign_rows FROM ${t}`,
    [self],
  );
  if (!seen.ok) failures.push(`SELECT: error ${seen.code} ${seen.message}`);
  else {
    const { n, foreign_rows } = seen.rows[0] as { n: number; foreign_rows: number };
    if (expectedSelf <= 0) failures.push(`SELECT: no seeded rows to compare with (N=${expectedSelf})`);
    if (n !== expectedSelf) failures.push(`SELECT: expected ${expectedSelf} rows, saw ${n}`);
    if (foreign_rows !== 0) failures.push(`SELECT: saw ${foreign_rows} rows of other tenants`);
  }

  // INSERT a copy of one of the tenant's rows, re-labelled with the other tenant.
  expect42501(
    'INSERT with tenant_id of the other tenant',
    await probe(
      tx,
      `INSERT INTO ${t} SELECT (jsonb_populate_record(null::${t}, to_jsonb(x) || jsonb_build_object('tenant_id', $1::uuid))).*
       FROM ${t} x WHERE x.tenant_id = $2::uuid LIMIT 1`,
      [other, self],
    ),
  );
  // Moving the tenant's own rows to the other tenant.
  expect42501(
    'UPDATE SET tenant_id = other tenant',
    await probe(tx, `UPDATE ${t} SET tenant_id = $1::uuid WHERE tenant_id = $2::uuid`, [other, self]),
  );
  // Touching the other tenant's rows.
  expectNoRows(
    'UPDATE of the other tenant rows',
    await probe(tx, `UPDATE ${t} SET tenant_id = tenant_id WHERE tenant_id = $1::uuid`, [other]),
  );
  expectNoRows('DELETE of the other tenant rows', await probe(tx, `DELETE FROM ${t} WHERE tenant_id = $1::uuid`, [other]));

  // No tenant context: nothing at all (an error would also be acceptable; all rows never).
  await tx.query(`SELECT set_config('app.tenant_id', '', true)`);
  const blind = await probe(tx, `SELECT count(*)::int AS n FROM ${t}`);
  if (blind.ok && (blind.rows[0] as { n: number }).n !== 0) failures.push(`no context: saw ${(blind.rows[0] as { n: number }).n} rows`);
  await tx.query(`SELECT set_config('app.tenant_id', $1, true)`, [self]);
  return failures;
}

/** Mutations of a table's isolation, each of which the matrix must detect. */
const MUTATIONS: Record<string, (t: string) => string> = {
  'drop both policies': (t) => `DROP POLICY tenant_floor ON ${t}; DROP POLICY tenant_access ON ${t}`,
  'both policies USING (true) WITH CHECK (true)': (t) =>
    `ALTER POLICY tenant_floor ON ${t} USING (true) WITH CHECK (true); ALTER POLICY tenant_access ON ${t} USING (true) WITH CHECK (true)`,
  'both policies WITH CHECK (true) only': (t) =>
    `ALTER POLICY tenant_floor ON ${t} WITH CHECK (true); ALTER POLICY tenant_access ON ${t} WITH CHECK (true)`,
  'row-level security disabled': (t) => `ALTER TABLE ${t} DISABLE ROW LEVEL SECURITY`,
};

type PolicySnapshot = { table: string; name: string; permissive: string; cmd: string; qual: string | null; with_check: string | null };

async function policySnapshot(
  tx: Tx,
): Promise<{ policies: PolicySnapshot[]; rls: Array<{ name: string; rls: boolean; forced: boolean }> }> {
  const policies = await tx.query<PolicySnapshot>(
    `SELECT tablename AS "table", policyname AS name, permissive, cmd, qual, with_check FROM pg_policies
     WHERE schemaname = 'public' ORDER BY tablename, policyname`,
  );
  const rls = await tx.query<{ name: string; rls: boolean; forced: boolean }>(
    `SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
  );
  return { policies: policies.rows, rls: rls.rows };
}

let ctx: TestContext;
let a: SeededTenant;
let b: SeededTenant;
let tables: string[];
let before: Awaited<ReturnType<typeof policySnapshot>>;

beforeAll(async () => {
  ctx = await createTestContext();
  a = await seedTenant(ctx);
  b = await seedTenant(ctx);
  tables = await ctx.db.withOwner((tx) => tenantTables(tx));
  before = await ctx.db.withOwner((tx) => policySnapshot(tx));
});
afterAll(async () => {
  await ctx?.close();
});

describe('T04: policy matrix', () => {
  it('has rows for both tenants in every tenant table from the catalog', async () => {
    expect(tables.length).toBeGreaterThanOrEqual(8);
    await expectRowsInEveryTenantTable(ctx.db, a.id);
    await expectRowsInEveryTenantTable(ctx.db, b.id);
  });

  it('as each tenant, on every table: own rows only, no writes towards or on the other tenant', async () => {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      for (const table of tables) {
        const expectedSelf = await countRows(ctx.db, table, self.id);
        const failures = await rolledBack(
          (fn) => ctx.db.withTenant(self.id, fn),
          (tx) => policyMatrix(tx, { table, self: self.id, other: other.id, expectedSelf }),
        );
        expect(failures, `${table} as ${self.slug}`).toEqual([]);
      }
    }
  });

  it('with no tenant context (control-plane transaction) every tenant table shows no rows', async () => {
    for (const table of tables) {
      const { rows } = await ctx.db.withControlPlane((tx) => tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(table)}`));
      expect(rows[0]?.n, table).toBe(0);
    }
  });

  it('mutation check: every way of breaking a table policy turns at least one assertion red', async () => {
    const undetected: string[] = [];
    for (const table of tables) {
      const expectedSelf = await countRows(ctx.db, table, a.id);
      for (const [name, mutate] of Object.entries(MUTATIONS)) {
        const failures = await rolledBack(
          (fn) => ctx.db.withOwner(fn),
          async (tx) => {
            await tx.exec(mutate(ident(table)));
            await tx.query(`SET LOCAL ROLE ${APP_ROLE}`);
            await tx.query(`SELECT set_config('app.tenant_id', $1, true)`, [a.id]);
            return policyMatrix(tx, { table, self: a.id, other: b.id, expectedSelf });
          },
        );
        if (failures.length === 0) undetected.push(`${table}: ${name}`);
      }
    }
    expect(undetected).toEqual([]);
  });

  it('the mutations were rolled back: policies and row-level security are exactly as before', async () => {
    const after = await ctx.db.withOwner((tx) => policySnapshot(tx));
    expect(after).toEqual(before);
    for (const table of tables) {
      const own = after.policies.filter((p) => p.table === table).map((p) => `${p.name}:${p.permissive}:${p.cmd}`);
      expect(own, table).toEqual(['tenant_access:PERMISSIVE:ALL', 'tenant_floor:RESTRICTIVE:ALL']);
      expect(
        after.rls.find((r) => r.name === table),
        table,
      ).toMatchObject({ rls: true, forced: true });
    }
  });
});
