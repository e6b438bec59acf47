/**
 * F-B8: an operator acts inside a tenant only through an explicit, time-boxed impersonation token
 * that names the operator and the reason: with the named user's permissions (or the built-in admin
 * role), in that tenant only, never on operator routes, never refreshed, and refused once expired.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';

let ctx: TestContext;
let tenant: TestTenant;
let other: TestTenant;
let operatorId: string;

beforeAll(async () => {
  ctx = await createTestContext();
  tenant = await ctx.tenant();
  other = await ctx.tenant();
  const resolved = await ctx.palazzo.services.operators.resolve(ctx.operatorToken);
  operatorId = resolved?.operatorId as string;
});

afterAll(async () => {
  await ctx?.close();
});

afterEach(() => {
  vi.useRealTimers();
});

async function impersonate(tenantId: string, body: Record<string, unknown>) {
  return ctx.app.inject({
    method: 'POST',
    url: `/v1/operator/tenants/${tenantId}/impersonate`,
    headers: ctx.operatorAuth,
    payload: body,
  });
}

async function token(body: Record<string, unknown>, tenantId = tenant.id) {
  const res = await impersonate(tenantId, body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { accessToken: string; impersonationId: string; userId: string | null; role: string; expiresIn: number };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('impersonation (F-B8)', () => {
  it("acts with the named user's permissions and carries the impersonator; minting is a security event", async () => {
    const member = await ctx.user(tenant, 'member');
    const minted = await token({ reason: 'ticket 4711: cannot see contacts', userId: member.id, minutes: 15 });
    expect(minted).toMatchObject({ userId: member.id, role: 'member', expiresIn: 900 });
    expect(minted).not.toHaveProperty('refreshToken');

    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(minted.accessToken) });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json().user).toMatchObject({ id: member.id, role: 'member' });
    // A member reads users but does not write them: the impersonation grants nothing more.
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: bearer(minted.accessToken) })).statusCode).toBe(200);
    const write = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: bearer(minted.accessToken),
      payload: { email: `x-${uniqueSlug()}@${tenant.slug}.test`, name: 'x', role: 'viewer', password: PASSWORD },
    });
    expectProblem(write, 403, 'forbidden');

    // The principal of every request names the operator and the reason (what the audit log records).
    const principal = await ctx.palazzo.services.impersonation.resolve(minted.accessToken);
    expect(principal).toMatchObject({
      kind: 'user',
      tenantId: tenant.id,
      userId: member.id,
      impersonator: { operatorId, reason: 'ticket 4711: cannot see contacts' },
    });
    // The user's own login carries no impersonator.
    const own = await ctx.palazzo.services.auth.resolveAccessToken(member.token);
    expect(own && 'impersonator' in own ? own.impersonator : undefined).toBeUndefined();

    const events = await ctx.app.inject({ method: 'GET', url: '/v1/security-events?type=impersonation_started', headers: tenant.auth });
    const event = events
      .json()
      .data.find((e: { details: { impersonationId: string } }) => e.details.impersonationId === minted.impersonationId);
    expect(event).toMatchObject({
      severity: 'high',
      actor: { type: 'operator', id: operatorId },
      details: { reason: 'ticket 4711: cannot see contacts', userId: member.id, minutes: 15 },
    });
  });

  it('without a user acts with the built-in admin role, never as an owner', async () => {
    const minted = await token({ reason: 'tenant setup help', minutes: 5 });
    expect(minted).toMatchObject({ userId: null, role: 'admin' });
    const create = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: bearer(minted.accessToken),
      payload: { email: `made-${uniqueSlug()}@${tenant.slug}.test`, name: 'Made', role: 'viewer', password: PASSWORD },
    });
    expect(create.statusCode, create.body).toBe(201);
    const owner = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: bearer(minted.accessToken),
      payload: { email: `owner-${uniqueSlug()}@${tenant.slug}.test`, name: 'Owner?', role: 'owner', password: PASSWORD },
    });
    expectProblem(owner, 403, 'forbidden');
  });

  it('works within its tenant only and never on operator routes', async () => {
    const minted = await token({ reason: 'scope check', minutes: 5 });
    const otherUser = await ctx.user(other, 'member');
    const foreign = await ctx.app.inject({ method: 'GET', url: `/v1/users/${otherUser.id}`, headers: bearer(minted.accessToken) });
    expectProblem(foreign, 404, 'not_found');
    const mismatch = await ctx.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { ...bearer(minted.accessToken), 'x-tenant-id': other.id },
    });
    expectProblem(mismatch, 403, 'tenant_mismatch');
    for (const url of ['/v1/operator/tenants', `/v1/operator/tenants/${tenant.id}`, '/v1/operator/tiers']) {
      const res = await ctx.app.inject({ method: 'GET', url, headers: bearer(minted.accessToken) });
      expectProblem(res, 401, 'invalid_token');
    }
    const chain = await ctx.app.inject({
      method: 'POST',
      url: `/v1/operator/tenants/${tenant.id}/impersonate`,
      headers: bearer(minted.accessToken),
      payload: { reason: 'chain', minutes: 5 },
    });
    expectProblem(chain, 401, 'invalid_token');
    // A tenant owner's own token cannot mint one either.
    const byOwner = await ctx.app.inject({
      method: 'POST',
      url: `/v1/operator/tenants/${tenant.id}/impersonate`,
      headers: tenant.auth,
      payload: { reason: 'self', minutes: 5 },
    });
    expectProblem(byOwner, 401, 'invalid_token');
  });

  it('cannot be refreshed, and cannot pose as a refresh token', async () => {
    const minted = await token({ reason: 'refresh check', minutes: 5 });
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: minted.accessToken } });
    // Refused by the body schema (400) or as an invalid grant (401); never a new pair.
    expect([400, 401]).toContain(res.statusCode);
    expect(res.body).not.toContain('accessToken');
  });

  it('expires: refused after its minutes (token lifetime), and when its grant has expired', async () => {
    const minted = await token({ reason: 'expiry check', minutes: 1 });
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: bearer(minted.accessToken) })).statusCode).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 2 * 60_000);
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: bearer(minted.accessToken) }), 401, 'invalid_token');
    vi.useRealTimers();

    // The grant is checked too (a token whose row says it is over is refused at once).
    const second = await token({ reason: 'expiry check 2', minutes: 30 });
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: bearer(second.accessToken) })).statusCode).toBe(200);
    await ctx.db.withOwner((tx) =>
      tx.query(`UPDATE impersonation_grants SET expires_at = now() - interval '1 second' WHERE id = $1`, [second.impersonationId]),
    );
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: bearer(second.accessToken) }), 401, 'invalid_token');
  });

  it('stops at once when the impersonated user is deactivated', async () => {
    const viewer = await ctx.user(tenant, 'viewer');
    const minted = await token({ reason: 'deactivation check', userId: viewer.id, minutes: 5 });
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(minted.accessToken) })).statusCode).toBe(200);
    await ctx.app.inject({ method: 'POST', url: `/v1/users/${viewer.id}/deactivate`, headers: tenant.auth });
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(minted.accessToken) }), 401, 'invalid_token');
  });

  it('refuses bad input and suspended tenants, with no grant or event left behind', async () => {
    const count = async () =>
      (
        await ctx.db.withOwner((tx) =>
          tx.query<{ n: number }>('SELECT count(*)::int AS n FROM impersonation_grants WHERE tenant_id = $1', [tenant.id]),
        )
      ).rows[0]?.n;
    const before = await count();
    expectProblem(await impersonate(tenant.id, { reason: 'too long', minutes: 61 }), 400, 'validation_failed');
    expectProblem(await impersonate(tenant.id, { reason: 'zero', minutes: 0 }), 400, 'validation_failed');
    expectProblem(await impersonate(tenant.id, { minutes: 5 }), 400, 'validation_failed');
    expectProblem(await impersonate(tenant.id, { reason: '   ', minutes: 5 }), 400, 'validation_failed');
    expectProblem(await impersonate(tenant.id, { reason: 'extra', minutes: 5, role: 'owner' }), 400, 'validation_failed');
    expectProblem(await impersonate(tenant.id, { reason: 'no such user', minutes: 5, userId: crypto.randomUUID() }), 404, 'not_found');
    expectProblem(
      await impersonate(tenant.id, { reason: 'foreign user', minutes: 5, userId: (await ctx.user(other, 'member')).id }),
      404,
      'not_found',
    );
    expectProblem(await impersonate(crypto.randomUUID(), { reason: 'no tenant', minutes: 5 }), 404, 'not_found');
    expectProblem(await impersonate('not-a-uuid', { reason: 'bad id', minutes: 5 }), 404, 'not_found');
    expect(await count()).toBe(before);

    const suspended = await ctx.tenant();
    const live = await token({ reason: 'before suspension', minutes: 5 }, suspended.id);
    const suspend = await ctx.app.inject({
      method: 'POST',
      url: `/v1/operator/tenants/${suspended.id}/suspend`,
      headers: ctx.operatorAuth,
      payload: { reason: 'unpaid' },
    });
    expect(suspend.statusCode, suspend.body).toBe(200);
    expectProblem(await impersonate(suspended.id, { reason: 'while suspended', minutes: 5 }), 403, 'tenant_suspended');
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(live.accessToken) }), 403, 'tenant_suspended');
  });
});
