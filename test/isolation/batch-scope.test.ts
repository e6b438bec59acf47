import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/harness.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx?.close();
});

describe('withTenants: one background transaction visiting several tenants', () => {
  it('bounds each visit to its tenant, refuses writes for another, and leaves no setting behind', async () => {
    const a = await ctx.tenant();
    const b = await ctx.tenant();
    await ctx.user(b, 'member');
    const seen: Record<string, { emails: string[]; setting: string }> = {};
    await ctx.db.withTenants([a.id, b.id], async (tx, tenantId) => {
      const users = await tx.query<{ email: string }>('SELECT email FROM users ORDER BY email');
      const setting = await tx.query<{ v: string }>("SELECT current_setting('app.tenant_id', true) AS v");
      seen[tenantId] = { emails: users.rows.map((r) => r.email), setting: setting.rows[0]?.v ?? '' };
    });
    expect(seen[a.id]).toEqual({ emails: [a.ownerEmail], setting: a.id });
    expect(seen[b.id]?.setting).toBe(b.id);
    expect(seen[b.id]?.emails).toHaveLength(2);
    expect(seen[b.id]?.emails.every((e) => e.endsWith(`@${b.slug}.test`))).toBe(true);

    // While visiting A, a row for B is refused by the policy, and the whole batch rolls back.
    await expect(
      ctx.db.withTenants([a.id], async (tx) => {
        await tx.query(
          `INSERT INTO usage_counters (tenant_id, metric, granularity, period_start, value) VALUES ($1, 'x', 'day', now(), 1)`,
          [b.id],
        );
      }),
    ).rejects.toMatchObject({ code: '42501' });

    const after = await ctx.db.withControlPlane((tx) =>
      tx.query<{ v: string | null; n: number }>(
        "SELECT current_setting('app.tenant_id', true) AS v, (SELECT count(*)::int FROM users) AS n",
      ),
    );
    expect(after.rows[0]?.v ?? '').toBe('');
    expect(after.rows[0]?.n).toBe(0);
  });
});
