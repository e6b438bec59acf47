/**
 * Live updates across server nodes (F-C4): each node caches effective configurations in memory and
 * drops them when the invalidation bus says so; a change made on one node is served by the other
 * within one second, without a restart.
 */
import { describe, expect, it } from 'vitest';
import { createTestContext, openTestDatabase, type TestContext, type TestTenant } from '../helpers/harness.ts';

async function waitFor(read: () => Promise<unknown>, expected: unknown, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (JSON.stringify(await read()) === JSON.stringify(expected)) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`not propagated within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const effective = async (node: TestContext, tenant: TestTenant) => {
  const res = await node.app.inject({ method: 'GET', url: '/v1/config/effective', headers: tenant.auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('configuration changes reach every node (F-C4)', () => {
  // Nodes tell each other through Redis pub/sub: without REDIS_URL each app has its own in-process
  // bus, so a second node in the same process would never hear of the change (by design).
  it.runIf(!!process.env.REDIS_URL)('a change on one node is served by the other within one second', async () => {
    const db = await openTestDatabase();
    const nodeA = await createTestContext({ db });
    const nodeB = await createTestContext({ db });
    try {
      const tenant = await nodeA.tenant();
      // B has the tenant's configuration cached before the change.
      expect((await effective(nodeB, tenant)).config.retrieval.topK).toBe(8);
      expect((await effective(nodeB, tenant)).config.retrieval.topK).toBe(8);

      // Tenant level, changed on A.
      const write = await nodeA.app.inject({
        method: 'PATCH',
        url: '/v1/config',
        headers: { ...tenant.auth, 'if-match': '*' },
        payload: { retrieval: { topK: 12 } },
      });
      expect(write.statusCode, write.body).toBe(200);
      const tenantMs = await waitFor(
        async () => (await effective(nodeB, tenant)).keys['retrieval.topK'],
        { value: 12, level: 'tenant' },
        1000,
      );

      // An operator level (a profile of this test, so other test files are unaffected), changed on A.
      const profile = `nodes_${process.pid}_${Date.now() % 100000}`;
      const created = await nodeA.app.inject({
        method: 'POST',
        url: '/v1/operator/config/profiles',
        headers: nodeA.operatorAuth,
        payload: { name: profile },
      });
      expect(created.statusCode, created.body).toBe(201);
      const placed = await nodeA.app.inject({
        method: 'PATCH',
        url: `/v1/operator/tenants/${tenant.id}`,
        headers: nodeA.operatorAuth,
        payload: { profile },
      });
      expect(placed.statusCode, placed.body).toBe(200);
      await waitFor(async () => (await effective(nodeB, tenant)).profile, profile, 1000);
      const change = await nodeA.app.inject({
        method: 'PATCH',
        url: `/v1/operator/config/profiles/${profile}`,
        headers: { ...nodeA.operatorAuth, 'if-match': '"v0"' },
        payload: { assistant: { tone: 'empathetic' } },
      });
      expect(change.statusCode, change.body).toBe(200);
      const profileMs = await waitFor(
        async () => (await effective(nodeB, tenant)).keys['assistant.tone'],
        { value: 'empathetic', level: 'profile' },
        1000,
      );
      // And back the other way: B writes, A serves.
      const back = await nodeB.app.inject({
        method: 'PATCH',
        url: '/v1/config',
        headers: { ...tenant.auth, 'if-match': '"v1"' },
        payload: { retrieval: { topK: null } },
      });
      expect(back.statusCode, back.body).toBe(200);
      await waitFor(async () => (await effective(nodeA, tenant)).keys['retrieval.topK'], { value: 8, level: 'default' }, 1000);
      expect(tenantMs).toBeLessThan(1000);
      expect(profileMs).toBeLessThan(1000);
    } finally {
      await nodeA.close();
      await nodeB.close();
      await db.close();
    }
  });

  it('a node serves reads from memory: no database read per request once cached', async () => {
    const ctx = await createTestContext();
    try {
      const tenant = await ctx.tenant();
      const config = ctx.palazzo.services.config;
      await config.get(tenant.id);
      // Break the database door for tenant reads: a cached read must not need it.
      const original = ctx.db.withTenant;
      let reads = 0;
      ctx.db.withTenant = ((...args: Parameters<typeof original>) => {
        reads += 1;
        return original.apply(ctx.db, args);
      }) as typeof original;
      try {
        for (let i = 0; i < 100; i += 1) expect((await config.get(tenant.id)).retrieval.topK).toBe(8);
        expect(reads).toBe(0);
        // An invalidation drops the entry: the next read loads once.
        await ctx.palazzo.services.bus.publish({ type: 'config', scope: 'tenant', tenantId: tenant.id });
        // With Redis the node also hears its own message back: let it arrive before counting.
        if (process.env.REDIS_URL) await new Promise((resolve) => setTimeout(resolve, 200));
        await config.get(tenant.id);
        await config.get(tenant.id);
        expect(reads).toBe(1);
      } finally {
        ctx.db.withTenant = original;
      }
    } finally {
      await ctx.close();
    }
  });
});
