import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext, type TestTenant } from '../helpers/harness.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx?.close();
});

/** onResponse hooks run after the reply is sent: let them finish before reading counters. */
const settle = () => new Promise((resolve) => setImmediate(resolve));
const get = (auth: { authorization: string }, url: string) => ctx.app.inject({ method: 'GET', url, headers: auth });

async function usageOf(tenant: TestTenant) {
  await settle();
  const res = await get(tenant.auth, '/v1/usage');
  expect(res.statusCode).toBe(200);
  return new Map((res.json().data as Array<{ metric: string; used: number; limit: number | null }>).map((m) => [m.metric, m]));
}

describe('metering (F-H1)', () => {
  it('counts API calls per tenant exactly, before and after the batch flush, and keeps tenants apart', async () => {
    const a = await ctx.tenant();
    const b = await ctx.tenant();
    for (let i = 0; i < 5; i += 1) expect((await get(a.auth, '/v1/me')).statusCode).toBe(200);
    expect((await usageOf(a)).get('api_calls')?.used).toBe(5);
    await ctx.palazzo.services.meter.flush();
    // The /v1/usage call itself is an API call too.
    expect((await usageOf(a)).get('api_calls')?.used).toBe(6);
    expect((await usageOf(b)).get('api_calls')?.used).toBe(0);
  });

  it('reports every metric with its limit and period, seats counted from the users themselves', async () => {
    const tenant = await ctx.tenant({ tier: 'premium' });
    await ctx.user(tenant, 'member');
    const usage = await usageOf(tenant);
    expect([...usage.keys()].sort()).toEqual(
      [
        'api_calls',
        'custom_roles',
        'documents',
        'embedding_tokens',
        'knowledge_bases',
        'llm_tokens',
        'messages',
        'seats',
        'storage_bytes',
        'webhooks',
      ].sort(),
    );
    expect(usage.get('seats')).toMatchObject({ used: 2, limit: 25, period: 'absolute' });
    expect(usage.get('llm_tokens')).toMatchObject({ used: 0, limit: 2_000_000, period: 'month' });
    expect(usage.get('api_calls')?.limit).toBe(1_000_000);
  });

  it('serves a time series per hour and day, by route group', async () => {
    const tenant = await ctx.tenant();
    for (let i = 0; i < 3; i += 1) await get(tenant.auth, '/v1/me');
    for (let i = 0; i < 2; i += 1) await get(tenant.auth, '/v1/users');
    await settle();
    const from = new Date(Date.now() - 2 * 3600_000).toISOString();
    const to = new Date(Date.now() + 3600_000).toISOString();
    const hourly = await get(tenant.auth, `/v1/usage/timeseries?metric=api_calls&granularity=hour&from=${from}&to=${to}`);
    expect(hourly.statusCode).toBe(200);
    const total = (hourly.json().points as Array<{ value: number }>).reduce((sum, p) => sum + p.value, 0);
    expect(total).toBe(5);
    const users = await get(tenant.auth, `/v1/usage/timeseries?metric=api_calls&granularity=day&dimension=users&from=${from}&to=${to}`);
    expect(users.json().points.reduce((sum: number, p: { value: number }) => sum + p.value, 0)).toBe(2);
  });

  it('refuses a bad time-series query with 400 naming the parameter', async () => {
    const tenant = await ctx.tenant();
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const cases: Array<[string, string]> = [
      [`metric=nope&from=${iso(now - 1000)}&to=${iso(now)}`, 'querystring/metric'],
      [`metric=seats&from=${iso(now - 1000)}&to=${iso(now)}`, 'querystring/metric'],
      [`metric=api_calls&from=${iso(now)}&to=${iso(now - 1000)}`, 'querystring/to'],
      [`metric=api_calls&granularity=hour&from=${iso(now - 400 * 86_400_000)}&to=${iso(now)}`, 'querystring/from'],
      [`metric=api_calls&from=yesterday&to=${iso(now)}`, 'querystring/from'],
      [`metric=api_calls&to=${iso(now)}`, 'querystring/from'],
    ];
    for (const [query, path] of cases) {
      const res = await get(tenant.auth, `/v1/usage/timeseries?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.json().code).toBe('validation_failed');
      expect(JSON.stringify(res.json()), query).toContain(path);
    }
  });

  it('records billable usage with the transaction: a rollback counts nothing, a commit counts exactly', async () => {
    const tenant = await ctx.tenant();
    const { usage } = ctx.palazzo.services;
    await expect(
      ctx.db.withTenant(tenant.id, async (tx) => {
        await usage.recordBillable(tx, tenant.id, 'llm_tokens', 700);
        throw new Error('the action failed after metering');
      }),
    ).rejects.toThrow('the action failed');
    expect((await usageOf(tenant)).get('llm_tokens')?.used).toBe(0);
    for (const quantity of [120, 30, 1]) {
      await ctx.db.withTenant(tenant.id, (tx) => usage.recordBillable(tx, tenant.id, 'llm_tokens', quantity));
    }
    expect((await usageOf(tenant)).get('llm_tokens')?.used).toBe(151);
  });
});

describe('quotas (F-A6)', () => {
  it('refuses API calls over the monthly quota with 429 quota_exceeded, the metric, limit, usage and reset', async () => {
    const tenant = await ctx.tenant({ tier: 'custom', customLimits: { apiCallsPerMonth: 4 } });
    for (let i = 0; i < 4; i += 1) {
      expect((await get(tenant.auth, '/v1/me')).statusCode).toBe(200);
      await settle();
    }
    const refused = await get(tenant.auth, '/v1/me');
    expect(refused.statusCode).toBe(429);
    const body = refused.json();
    expect(body).toMatchObject({ code: 'quota_exceeded', metric: 'api_calls', limit: 4, used: 4 });
    const now = new Date();
    expect(body.resetsAt).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString());
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('records 80% and 100% alerts once per period, for API calls and seats', async () => {
    // 40 of 50 calls: the 80% alert. The test's own later calls stay under 50.
    const tenant = await ctx.tenant({ tier: 'custom', customLimits: { apiCallsPerMonth: 50, seats: 5 } });
    for (let i = 0; i < 40; i += 1) await get(tenant.auth, '/v1/me');
    await settle();
    await ctx.palazzo.services.meter.flush();
    const alerts = async () => {
      const res = await get(tenant.auth, '/v1/usage/alerts');
      expect(res.statusCode).toBe(200);
      return (res.json().data as Array<{ metric: string; threshold: number }>).map((a) => `${a.metric}:${a.threshold}`).sort();
    };
    expect(await alerts()).toEqual(['api_calls:80']);
    await ctx.palazzo.services.meter.flush();
    expect((await alerts()).filter((a) => a === 'api_calls:80')).toHaveLength(1);
    for (let i = 0; i < 3; i += 1) await ctx.user(tenant, 'member');
    expect(await alerts()).toContain('seats:80');
    expect(await alerts()).not.toContain('seats:100');
  });

  it('lets operators read any tenant usage, one tenant or a page of all', async () => {
    const tenant = await ctx.tenant();
    await get(tenant.auth, '/v1/me');
    await settle();
    const one = await ctx.app.inject({ method: 'GET', url: `/v1/operator/tenants/${tenant.id}/usage`, headers: ctx.operatorAuth });
    expect(one.statusCode).toBe(200);
    expect(one.json().tenantId).toBe(tenant.id);
    expect(one.json().data.find((m: { metric: string }) => m.metric === 'api_calls').used).toBe(1);
    const all = await ctx.app.inject({ method: 'GET', url: '/v1/operator/usage?limit=200', headers: ctx.operatorAuth });
    expect(all.statusCode).toBe(200);
    expect(all.json().data.some((u: { tenantId: string }) => u.tenantId === tenant.id)).toBe(true);
    // A tenant credential never reaches the operator's view.
    expect((await get(tenant.auth, `/v1/operator/tenants/${tenant.id}/usage`)).statusCode).toBe(401);
  });
});
