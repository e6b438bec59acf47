import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, PASSWORD, type TestContext, uniqueSlug } from './helpers/harness.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx?.close();
});

describe('tenant lifecycle', () => {
  it('creates an active tenant with its owner', async () => {
    const tenant = await ctx.tenant();
    const res = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ kind: 'user', tenant: { id: tenant.id, status: 'active' }, user: { role: 'owner' } });
  });

  it('refuses a duplicate slug with 409 and leaves nothing behind', async () => {
    const tenant = await ctx.tenant();
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/operator/tenants',
      headers: ctx.operatorAuth,
      payload: { slug: tenant.slug, name: 'again', tier: 'basic', owner: { email: 'x@y.test', name: 'x', password: PASSWORD } },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('conflict');
  });

  it('suspends: requests with the tenant credentials get 403 tenant_suspended; resume restores them', async () => {
    const tenant = await ctx.tenant();
    const key = await ctx.apiKey(tenant, ['users.read']);
    const suspend = await ctx.app.inject({
      method: 'POST',
      url: `/v1/operator/tenants/${tenant.id}/suspend`,
      headers: ctx.operatorAuth,
      payload: { reason: 'unpaid invoice' },
    });
    expect(suspend.statusCode).toBe(200);
    expect(suspend.json()).toMatchObject({ status: 'suspended', statusReason: 'unpaid invoice' });
    for (const auth of [tenant.auth, key.auth]) {
      const res = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: auth });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('tenant_suspended');
    }
    const login = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: tenant.ownerEmail, password: PASSWORD },
    });
    expect(login.statusCode).toBe(403);
    const resume = await ctx.app.inject({ method: 'POST', url: `/v1/operator/tenants/${tenant.id}/resume`, headers: ctx.operatorAuth });
    expect(resume.json().status).toBe('active');
    const after = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: key.auth });
    expect(after.statusCode).toBe(200);
  });

  it('allows exactly the documented transitions and answers 409 to the rest', async () => {
    const actions: Record<'suspend' | 'resume' | 'offboard', { path: string; payload?: object }> = {
      suspend: { path: 'suspend', payload: { reason: 'test' } },
      resume: { path: 'resume' },
      offboard: { path: 'offboard', payload: { graceDays: 30 } },
    };
    // [from status, action, allowed]
    const table: Array<[string, keyof typeof actions | 'purge', boolean]> = [
      ['active', 'suspend', true],
      ['active', 'resume', false],
      ['active', 'offboard', true],
      ['active', 'purge', false],
      ['suspended', 'suspend', false],
      ['suspended', 'resume', true],
      ['suspended', 'offboard', true],
      ['suspended', 'purge', false],
      ['offboarding', 'suspend', false],
      ['offboarding', 'resume', true],
      ['offboarding', 'offboard', false],
      ['offboarding', 'purge', true],
      ['deleted', 'suspend', false],
      ['deleted', 'resume', false],
      ['deleted', 'offboard', false],
    ];
    const bring = async (id: string, slug: string, status: string) => {
      const go = (path: string, payload?: object) =>
        ctx.app.inject({ method: 'POST', url: `/v1/operator/tenants/${id}/${path}`, headers: ctx.operatorAuth, payload });
      if (status === 'suspended') await go('suspend', { reason: 'x' });
      if (status === 'offboarding' || status === 'deleted') await go('offboard', { graceDays: 30 });
      if (status === 'deleted') {
        await ctx.app.inject({ method: 'DELETE', url: `/v1/operator/tenants/${id}?confirm=${slug}`, headers: ctx.operatorAuth });
      }
    };
    for (const [from, action, allowed] of table) {
      const tenant = await ctx.tenant();
      await bring(tenant.id, tenant.slug, from);
      const current = await ctx.app.inject({ method: 'GET', url: `/v1/operator/tenants/${tenant.id}`, headers: ctx.operatorAuth });
      expect(current.json().status, `setup ${from}`).toBe(from);
      const res =
        action === 'purge'
          ? await ctx.app.inject({
              method: 'DELETE',
              url: `/v1/operator/tenants/${tenant.id}?confirm=${tenant.slug}`,
              headers: ctx.operatorAuth,
            })
          : await ctx.app.inject({
              method: 'POST',
              url: `/v1/operator/tenants/${tenant.id}/${actions[action].path}`,
              headers: ctx.operatorAuth,
              payload: actions[action].payload,
            });
      if (allowed) {
        expect(res.statusCode, `${from} → ${action}: ${res.body}`).toBe(200);
      } else if (from === 'deleted') {
        expect(res.statusCode, `${from} → ${action}`).toBe(404);
      } else {
        expect(res.statusCode, `${from} → ${action}: ${res.body}`).toBe(409);
        expect(res.json().code).toBe('invalid_transition');
      }
    }
  });

  it('purges only with the slug as confirmation', async () => {
    const tenant = await ctx.tenant();
    await ctx.app.inject({ method: 'POST', url: `/v1/operator/tenants/${tenant.id}/offboard`, headers: ctx.operatorAuth, payload: {} });
    const missing = await ctx.app.inject({ method: 'DELETE', url: `/v1/operator/tenants/${tenant.id}`, headers: ctx.operatorAuth });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('confirmation_required');
    const wrong = await ctx.app.inject({
      method: 'DELETE',
      url: `/v1/operator/tenants/${tenant.id}?confirm=nope`,
      headers: ctx.operatorAuth,
    });
    expect(wrong.statusCode).toBe(400);
  });

  it('enforces the seat limit of the tier', async () => {
    const tenant = await ctx.tenant({ tier: 'custom', customLimits: { seats: 2 } });
    await ctx.user(tenant, 'member');
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: tenant.auth,
      payload: { email: `third@${tenant.slug}.test`, name: 'Third', role: 'member', password: PASSWORD },
    });
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ code: 'quota_exceeded', metric: 'seats', limit: 2, used: 2 });
  });

  it('lists tenants with filters and cursor pagination', async () => {
    const created = [];
    for (let i = 0; i < 3; i += 1) created.push(await ctx.tenant({ tier: 'premium', slug: uniqueSlug('page') }));
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const url: string = `/v1/operator/tenants?tier=premium&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await ctx.app.inject({ method: 'GET', url, headers: ctx.operatorAuth });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.data.length).toBeLessThanOrEqual(2);
      for (const t of body.data) {
        expect(t.tier).toBe('premium');
        seen.add(t.id);
      }
      cursor = body.nextCursor;
    } while (cursor);
    for (const t of created) expect(seen.has(t.id)).toBe(true);
  });
});
