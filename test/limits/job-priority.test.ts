import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/harness.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx?.close();
});

describe('fairness of background work (F-A6)', () => {
  it("picks ready jobs by the tenant's tier priority: enterprise, then premium, then basic", async () => {
    const basic = await ctx.tenant({ tier: 'basic' });
    const premium = await ctx.tenant({ tier: 'premium' });
    const enterprise = await ctx.tenant({ tier: 'enterprise' });
    const { jobs } = ctx.palazzo.services;
    const ran: string[] = [];
    jobs.register('test.fairness', async (job) => {
      // The handler re-enters the job's tenant: it sees only that tenant's rows.
      const slugs = await ctx.db.withTenant(job.tenant_id as string, (tx) =>
        tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users'),
      );
      ran.push(`${job.tenant_id}:${slugs.rows[0]?.n}`);
      return undefined;
    });
    await jobs.drain();
    const order = [basic, basic, premium, enterprise, basic, enterprise];
    for (const tenant of order) {
      await ctx.db.withTenant(tenant.id, (tx) => jobs.enqueueForTenant(tx, { kind: 'test.fairness', tenantId: tenant.id }));
    }
    await jobs.drain();
    expect(ran.map((r) => r.split(':')[0])).toEqual([enterprise.id, enterprise.id, premium.id, basic.id, basic.id, basic.id]);
    // Each tenant has exactly its owner: the job saw its own tenant's rows only.
    expect(ran.every((r) => r.endsWith(':1'))).toBe(true);
  });
});
