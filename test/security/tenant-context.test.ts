/**
 * T07: the tenant of a request comes from the verified credential only. X-Tenant-ID may agree with
 * it or be refused (and recorded); tenant ids in bodies are refused, in queries ignored; duplicate
 * query keys are refused; spoofed forwarding headers change nothing without trustProxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_PERMISSIONS } from '../../src/modules/access/permissions.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem } from './support.ts';

type SecurityEvent = {
  id: string;
  type: string;
  ip: string | null;
  actor: { type: string; id: string | null } | null;
  details: Record<string, unknown>;
};

let ctx: TestContext;
let a: TestTenant;
let b: TestTenant;
let aKey: { id: string; auth: { authorization: string } };
let bUserId: string;

async function events(tenant: TestTenant, type = 'tenant_mismatch'): Promise<SecurityEvent[]> {
  const res = await ctx.app.inject({ method: 'GET', url: `/v1/security-events?type=${type}&limit=200`, headers: tenant.auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
}

async function countUsers(tenantId: string): Promise<number> {
  return ctx.db.withOwner(async (tx) => {
    const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE tenant_id = $1', [tenantId]);
    return rows[0]?.n ?? -1;
  });
}

async function usersWithEmail(email: string): Promise<number> {
  return ctx.db.withOwner(async (tx) => {
    const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE email = $1', [email]);
    return rows[0]?.n ?? -1;
  });
}

beforeAll(async () => {
  ctx = await createTestContext();
  a = await ctx.tenant();
  b = await ctx.tenant();
  aKey = await ctx.apiKey(a, ALL_PERMISSIONS);
  bUserId = (await ctx.user(b, 'member')).id;
});

afterAll(async () => {
  await ctx?.close();
});

describe('X-Tenant-ID must agree with the credential (T07)', () => {
  it("refuses B's id or slug with 403 tenant_mismatch and records a security event in A", async () => {
    const before = (await events(a)).length;
    const bBefore = (await events(b)).length;
    const attempts: Array<[string, { authorization: string }, string]> = [
      ['JWT + B id', a.auth, b.id],
      ['JWT + B slug', a.auth, b.slug],
      ['API key + B id', aKey.auth, b.id],
      ['API key + B slug', aKey.auth, b.slug],
    ];
    for (const [label, auth, claimed] of attempts) {
      for (const [method, url] of [
        ['GET', '/v1/users'],
        ['GET', '/v1/me'],
      ] as const) {
        const res = await ctx.app.inject({ method, url, headers: { ...auth, 'x-tenant-id': claimed } });
        expect(res.statusCode, `${label} ${url}`).toBe(403);
        expectProblem(res, 403, 'tenant_mismatch');
        expect(res.body).not.toContain(b.id);
      }
    }
    // A write with a mismatching header creates nothing.
    const email = `mismatch-${uniqueSlug()}@a.test`;
    const write = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: { ...a.auth, 'x-tenant-id': b.id },
      payload: { email, name: 'x', role: 'member', password: PASSWORD },
    });
    expectProblem(write, 403, 'tenant_mismatch');
    expect(await usersWithEmail(email)).toBe(0);

    const recorded = await events(a);
    expect(recorded.length - before).toBe(attempts.length * 2 + 1);
    const claimedValues = recorded.map((e) => e.details.claimedTenant);
    expect(claimedValues).toContain(b.id);
    expect(claimedValues).toContain(b.slug);
    expect(recorded.every((e) => e.type === 'tenant_mismatch')).toBe(true);
    expect(recorded.some((e) => e.actor?.type === 'api_key' && e.actor.id === aKey.id)).toBe(true);
    // The events are A's: B, whose id was claimed, sees none of them.
    expect((await events(b)).length).toBe(bBefore);
  });

  it("refuses a repeated X-Tenant-ID header even when one of the values is A's own", async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { ...a.auth, 'x-tenant-id': [a.id, b.id] } });
    expectProblem(res, 403, 'tenant_mismatch');
  });

  it("accepts X-Tenant-ID equal to A's own id or slug", async () => {
    for (const auth of [a.auth, aKey.auth]) {
      for (const claimed of [a.id, a.slug]) {
        const res = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { ...auth, 'x-tenant-id': claimed } });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json().tenant.id).toBe(a.id);
      }
    }
  });
});

describe('mass assignment and parameter pollution (T07)', () => {
  it('refuses tenant and privilege fields in bodies with 400 naming the field, and creates nothing', async () => {
    const fields: Record<string, unknown> = {
      tenant_id: null,
      tenantId: null,
      is_admin: true,
      owner_id: null,
      permissions: ['users.write'],
      status: 'active',
    };
    const aUsers = await countUsers(a.id);
    const bUsers = await countUsers(b.id);
    for (const [field, raw] of Object.entries(fields)) {
      const value = raw === null ? b.id : raw;
      const email = `mass-${uniqueSlug()}@a.test`;
      for (const auth of [a.auth, aKey.auth]) {
        const res = await ctx.app.inject({
          method: 'POST',
          url: '/v1/users',
          headers: auth,
          payload: { email, name: 'Mass', role: 'member', password: PASSWORD, [field]: value },
        });
        expectProblem(res, 400, 'validation_failed');
        const body = res.json();
        expect(body.detail).toContain(field);
        expect(body.errors.map((e: { path: string }) => e.path)).toContain(`body/${field}`);
        expect(await usersWithEmail(email)).toBe(0);
      }
      const patch = await ctx.app.inject({
        method: 'PATCH',
        url: `/v1/users/${bUserId}`,
        headers: a.auth,
        payload: { name: 'x', [field]: value },
      });
      expectProblem(patch, 400, 'validation_failed');
      expect(patch.json().detail).toContain(field);
      const key = await ctx.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: a.auth,
        payload: { name: 'k', scopes: ['users.read'], [field]: value },
      });
      expectProblem(key, 400, 'validation_failed');
      expect(key.json().detail).toContain(field);
    }
    expect(await countUsers(a.id)).toBe(aUsers);
    expect(await countUsers(b.id)).toBe(bUsers);
  });

  it('creates in the tenant of the credential only', async () => {
    const email = `plain-${uniqueSlug()}@a.test`;
    const res = await ctx.app.inject({
      method: 'POST',
      url: `/v1/users?tenant_id=${b.id}&tenantId=${b.id}`,
      headers: { ...aKey.auth },
      payload: { email, name: 'Plain', role: 'member', password: PASSWORD },
    });
    expect(res.statusCode, res.body).toBe(201);
    const rows = await ctx.db.withOwner((tx) => tx.query<{ tenant_id: string }>('SELECT tenant_id FROM users WHERE email = $1', [email]));
    expect(rows.rows).toEqual([{ tenant_id: a.id }]);
  });

  it('ignores ?tenant_id=B on lists: still only A data', async () => {
    const bIds = (await ctx.app.inject({ method: 'GET', url: '/v1/users?limit=200', headers: b.auth }))
      .json()
      .data.map((u: { id: string }) => u.id) as string[];
    expect(bIds.length).toBeGreaterThan(1);
    const aIds = (await ctx.app.inject({ method: 'GET', url: '/v1/users?limit=200', headers: a.auth }))
      .json()
      .data.map((u: { id: string }) => u.id) as string[];
    for (const query of [`tenant_id=${b.id}`, `tenantId=${b.id}`, `tenant=${b.slug}`, `tenant_id[]=${b.id}`]) {
      for (const auth of [a.auth, aKey.auth]) {
        const res = await ctx.app.inject({ method: 'GET', url: `/v1/users?limit=200&${query}`, headers: auth });
        expect(res.statusCode, `${query}: ${res.body}`).toBe(200);
        const ids = res.json().data.map((u: { id: string }) => u.id);
        expect(ids.sort(), query).toEqual([...aIds].sort());
        expect(res.body).not.toContain(b.id);
        for (const id of bIds) expect(res.body).not.toContain(id);
      }
    }
  });

  it('refuses duplicate query keys with 400', async () => {
    for (const query of [
      'status=active&status=deactivated',
      'role=member&role=owner',
      'limit=1&limit=200',
      'status=active&status=active',
    ]) {
      const res = await ctx.app.inject({ method: 'GET', url: `/v1/users?${query}`, headers: a.auth });
      expectProblem(res, 400, 'validation_failed');
    }
    const keys = await ctx.app.inject({ method: 'GET', url: '/v1/api-keys?includeRevoked=true&includeRevoked=false', headers: a.auth });
    expectProblem(keys, 400, 'validation_failed');
  });
});

describe('spoofed forwarding and identity headers (T07)', () => {
  it('does not let X-Forwarded-For change the ip recorded on a security event (trustProxy off)', async () => {
    const spoofed = {
      'x-forwarded-for': '203.0.113.77',
      'x-real-ip': '203.0.113.78',
      forwarded: 'for=203.0.113.79',
      'x-client-ip': '203.0.113.80',
    };
    await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { ...a.auth, 'x-tenant-id': `plain-${uniqueSlug()}` } });
    await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { ...a.auth, ...spoofed, 'x-tenant-id': `spoof-${uniqueSlug()}` } });
    const recorded = await events(a);
    const plain = recorded.find((e) => String(e.details.claimedTenant).startsWith('plain-'));
    const spoof = recorded.find((e) => String(e.details.claimedTenant).startsWith('spoof-'));
    expect(plain?.ip).toBeTruthy();
    expect(spoof?.ip).toBe(plain?.ip);
    expect(JSON.stringify(recorded)).not.toContain('203.0.113.');
  });

  it('positive control: the same request behind a trusted proxy does record the forwarded ip', async () => {
    const trusting = await createTestContext({ db: ctx.db, config: { trustProxy: true } });
    try {
      const claimed = `trusted-${uniqueSlug()}`;
      await trusting.app.inject({
        method: 'GET',
        url: '/v1/me',
        headers: { ...a.auth, 'x-forwarded-for': '203.0.113.77', 'x-tenant-id': claimed },
      });
      const event = (await events(a)).find((e) => e.details.claimedTenant === claimed);
      expect(event?.ip).toBe('203.0.113.77');
    } finally {
      await trusting.close();
    }
  });

  it('ignores X-User-ID, X-Role and X-Tenant headers', async () => {
    const member = await ctx.user(a, 'member');
    const res = await ctx.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { ...member.auth, 'x-user-id': bUserId, 'x-role': 'owner', 'x-tenant': b.id, 'x-tenant-slug': b.slug },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ tenant: { id: a.id }, user: { id: member.id, role: 'member' } });
    const write = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: { ...member.auth, 'x-role': 'owner', 'x-user-id': bUserId },
      payload: { email: `x-${uniqueSlug()}@a.test`, name: 'x', role: 'member', password: PASSWORD },
    });
    expectProblem(write, 403, 'forbidden');
  });
});
