/**
 * Tenant purge: every row of the tenant goes, in every table with a tenant_id (read from the
 * catalog), and nothing of any other tenant changes. Both the operator's immediate purge and the
 * durable purge job are checked, and a resumed offboarding must not be purged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PURGE_JOB } from '../../src/modules/tenants/index.ts';
import { createTestContext, PASSWORD, type TestContext } from '../helpers/harness.ts';
import { countsByTable, expectRowsInEveryTenantTable, ident, type SeededTenant, seedTenant, tablesWithTenantId } from './support.ts';

let ctx: TestContext;
let allTables: string[];
let b: SeededTenant;
let bHashes: Record<string, { n: number; hash: string }>;

/** Content hash of a tenant's rows in every table with tenant_id, and of its tenants row (as owner). */
async function contentHashes(tenantId: string): Promise<Record<string, { n: number; hash: string }>> {
  return ctx.db.withOwner(async (tx) => {
    const hashes: Record<string, { n: number; hash: string }> = {};
    const sources: Array<[string, string]> = [
      ...allTables.map((table): [string, string] => [table, `SELECT * FROM ${ident(table)} WHERE tenant_id = $1`]),
      ['tenants', 'SELECT * FROM tenants WHERE id = $1'],
    ];
    for (const [name, source] of sources) {
      const { rows } = await tx.query<{ n: number; hash: string }>(
        `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS hash FROM (${source}) t`,
        [tenantId],
      );
      hashes[name] = rows[0] as { n: number; hash: string };
    }
    return hashes;
  });
}

async function tenantRow(id: string) {
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ status: string; purged_at: Date | null; purge_report: unknown }>(
      'SELECT status, purged_at, purge_report FROM tenants WHERE id = $1',
      [id],
    ),
  );
  return rows[0];
}

async function jobsOf(id: string) {
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ kind: string; status: string }>('SELECT kind, status FROM jobs WHERE tenant_id = $1 ORDER BY created_at', [id]),
  );
  return rows;
}

const operator = (method: 'POST' | 'DELETE', url: string, payload?: object) =>
  ctx.app.inject({ method, url: `/v1/operator/tenants/${url}`, headers: ctx.operatorAuth, ...(payload ? { payload } : {}) });

/** Every credential of a purged tenant is refused with 401. */
async function expectCredentialsRefused(t: SeededTenant) {
  for (const auth of [t.auth, t.member.auth, t.key.auth]) {
    const res = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: auth });
    expect(res.statusCode, res.body).toBe(401);
  }
  const refresh = await ctx.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: t.member.refreshToken } });
  expect(refresh.statusCode, refresh.body).toBe(401);
  const login = await ctx.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: t.slug, email: t.ownerEmail, password: PASSWORD },
  });
  expect(login.statusCode, login.body).toBe(401);
}

beforeAll(async () => {
  ctx = await createTestContext();
  allTables = await ctx.db.withOwner((tx) => tablesWithTenantId(tx));
  b = await seedTenant(ctx);
  await expectRowsInEveryTenantTable(ctx.db, b.id);
  bHashes = await contentHashes(b.id);
});
afterAll(async () => {
  await ctx?.close();
});

describe('tenant purge', () => {
  it('immediate purge: every row of A goes, with counts in the report, and B is untouched', async () => {
    const a = await seedTenant(ctx);
    const seeded = await expectRowsInEveryTenantTable(ctx.db, a.id);

    const offboard = await operator('POST', `${a.id}/offboard`, { graceDays: 30 });
    expect(offboard.statusCode, offboard.body).toBe(200);
    expect(offboard.json().status).toBe('offboarding');
    const before = await countsByTable(ctx.db, allTables, a.id);

    const purge = await operator('DELETE', `${a.id}?confirm=${a.slug}`);
    expect(purge.statusCode, purge.body).toBe(200);
    const { tenant, report } = purge.json() as {
      tenant: { id: string; status: string; purgedAt: string | null };
      report: { tables: Record<string, number>; totalRows: number; verified: boolean };
    };
    expect(tenant).toMatchObject({ id: a.id, status: 'deleted' });
    expect(tenant.purgedAt).not.toBeNull();
    expect(report.verified).toBe(true);
    // The report covers every table with tenant_id, with the number of rows that were there.
    expect(Object.keys(report.tables).sort()).toEqual([...allTables].sort());
    expect(report.tables).toEqual(before);
    for (const table of Object.keys(seeded)) expect(report.tables[table], table).toBeGreaterThan(0);
    expect(report.totalRows).toBe(Object.values(before).reduce((sum, n) => sum + n, 0));

    // Nothing of A is left anywhere the catalog knows a tenant_id column.
    const after = await countsByTable(ctx.db, await ctx.db.withOwner((tx) => tablesWithTenantId(tx)), a.id);
    expect(Object.values(after).every((n) => n === 0)).toBe(true);
    expect(after).toEqual(Object.fromEntries(allTables.map((table) => [table, 0])));

    const row = await tenantRow(a.id);
    expect(row?.status).toBe('deleted');
    expect(row?.purged_at).toBeInstanceOf(Date);
    expect(row?.purge_report).toMatchObject({ verified: true, totalRows: report.totalRows });

    expect(await contentHashes(b.id)).toEqual(bHashes);
    await expectCredentialsRefused(a);
  });

  it('durable purge: offboarding with graceDays 0, then the job queue purges the tenant', async () => {
    const c = await seedTenant(ctx);
    await expectRowsInEveryTenantTable(ctx.db, c.id);
    const offboard = await operator('POST', `${c.id}/offboard`, { graceDays: 0 });
    expect(offboard.statusCode, offboard.body).toBe(200);
    expect(await jobsOf(c.id)).toEqual([{ kind: PURGE_JOB, status: 'queued' }]);

    expect(await ctx.palazzo.services.jobs.drain()).toBeGreaterThanOrEqual(1);

    const row = await tenantRow(c.id);
    expect(row?.status).toBe('deleted');
    expect(row?.purged_at).toBeInstanceOf(Date);
    expect(row?.purge_report).toMatchObject({ verified: true });
    const after = await countsByTable(ctx.db, allTables, c.id);
    // Only the purge job itself survives, as the record that it ran.
    expect(after).toEqual(Object.fromEntries(allTables.map((table) => [table, table === 'jobs' ? 1 : 0])));
    expect(await jobsOf(c.id)).toEqual([{ kind: PURGE_JOB, status: 'done' }]);

    expect(await contentHashes(b.id)).toEqual(bHashes);
    await expectCredentialsRefused(c);
  });

  it('resume cancels the scheduled purge: draining the queue leaves the tenant and its rows alone', async () => {
    const d = await seedTenant(ctx);
    const before = await expectRowsInEveryTenantTable(ctx.db, d.id);
    const hashes = await contentHashes(d.id);

    const offboard = await operator('POST', `${d.id}/offboard`, { graceDays: 0 });
    expect(offboard.statusCode, offboard.body).toBe(200);
    const resume = await operator('POST', `${d.id}/resume`);
    expect(resume.statusCode, resume.body).toBe(200);
    expect(resume.json().status).toBe('active');

    await ctx.palazzo.services.jobs.drain();

    expect((await tenantRow(d.id))?.status).toBe('active');
    expect((await tenantRow(d.id))?.purged_at).toBeNull();
    expect(await jobsOf(d.id)).toEqual([{ kind: PURGE_JOB, status: 'cancelled' }]);
    expect(await countsByTable(ctx.db, Object.keys(before), d.id)).toEqual(before);
    // Rows other than the tenant row and its job are byte-identical.
    const now = await contentHashes(d.id);
    for (const table of Object.keys(before)) expect(now[table], table).toEqual(hashes[table]);

    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: d.auth });
    expect(me.statusCode, me.body).toBe(200);
    expect(await contentHashes(b.id)).toEqual(bHashes);
  });
});
