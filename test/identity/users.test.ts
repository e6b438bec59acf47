/**
 * The user resource: create, get, list (cursor pagination and filters), patch, deactivate and
 * reactivate; emails are unique case-insensitively and stored lower-case; roles validated; the
 * seat limit counts active users, reactivation included.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { identityContext } from './support.ts';

type UserView = {
  id: string;
  email: string;
  name: string;
  role: string;
  status: 'active' | 'deactivated';
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
  deactivatedAt: string | null;
};

let ctx: TestContext;
beforeAll(async () => {
  ctx = await identityContext();
});
afterAll(async () => {
  await ctx?.close();
});

const tag = () => randomBytes(4).toString('hex');

function create(tenant: TestTenant, body: Partial<{ email: string; name: string; role: string; password: string }>, auth = tenant.auth) {
  return ctx.app.inject({
    method: 'POST',
    url: '/v1/users',
    headers: auth,
    payload: { email: `u-${tag()}@${tenant.slug}.test`, name: 'User', role: 'member', password: PASSWORD, ...body },
  });
}

async function listAll(tenant: TestTenant, query: string, limit: number): Promise<{ pages: UserView[][]; ids: string[] }> {
  const pages: UserView[][] = [];
  let cursor: string | null = null;
  for (let guard = 0; guard < 100; guard += 1) {
    const url: string = `/v1/users?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await ctx.app.inject({ method: 'GET', url, headers: tenant.auth });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { data: UserView[]; nextCursor: string | null };
    expect(body.data.length).toBeLessThanOrEqual(limit);
    pages.push(body.data);
    cursor = body.nextCursor;
    if (!cursor) break;
  }
  expect(cursor).toBeNull();
  return { pages, ids: pages.flat().map((u) => u.id) };
}

describe('create and get', () => {
  it('creates a user, stores the email lower-case, and GET returns the same view', async () => {
    const tenant = await ctx.tenant();
    const mixed = `Mixed.Case-${tag()}@Example.TEST`;
    const res = await create(tenant, { email: mixed, name: 'Ada Lovelace', role: 'manager' });
    expect(res.statusCode).toBe(201);
    const user = res.json() as UserView;
    expect(user).toMatchObject({
      email: mixed.toLowerCase(),
      name: 'Ada Lovelace',
      role: 'manager',
      status: 'active',
      deactivatedAt: null,
    });
    expect(user).not.toHaveProperty('password');
    expect(user).not.toHaveProperty('passwordHash');
    expect(JSON.stringify(user)).not.toContain('argon2');
    const { rows } = await ctx.db.withOwner((tx) => tx.query<{ email: string }>('SELECT email FROM users WHERE id = $1', [user.id]));
    expect(rows[0]?.email).toBe(mixed.toLowerCase());

    const got = await ctx.app.inject({ method: 'GET', url: `/v1/users/${user.id}`, headers: tenant.auth });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(user);

    // The user logs in with the email in any case.
    const login = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: mixed.toUpperCase(), password: PASSWORD },
    });
    expect(login.statusCode).toBe(200);
    const after = await ctx.app.inject({ method: 'GET', url: `/v1/users/${user.id}`, headers: tenant.auth });
    expect(after.json().lastLoginAt).toEqual(expect.any(String));
  });

  it('refuses a duplicate email, whatever its case, with 409', async () => {
    const tenant = await ctx.tenant();
    const email = `dup-${tag()}@example.test`;
    expect((await create(tenant, { email })).statusCode).toBe(201);
    for (const again of [email, email.toUpperCase(), email.replace('dup', 'DuP')]) {
      const res = await create(tenant, { email: again });
      expect(res.statusCode, again).toBe(409);
      expect(res.json().code).toBe('conflict');
    }
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE tenant_id = $1 AND email = $2', [tenant.id, email]),
    );
    expect(rows[0]?.n).toBe(1);
    // The same email in another tenant is another account.
    const other = await ctx.tenant();
    expect((await create(other, { email })).statusCode).toBe(201);
  });

  it('of parallel creates with the same email in different cases, exactly one succeeds', async () => {
    const tenant = await ctx.tenant();
    const email = `race-${tag()}@example.test`;
    const variants = [email, email.toUpperCase(), email.replace('race', 'Race'), email.replace('example', 'EXAMPLE')];
    const results = await Promise.all(variants.map((v) => create(tenant, { email: v })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409]);
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE tenant_id = $1 AND lower(email) = $2', [tenant.id, email]),
    );
    expect(rows[0]?.n).toBe(1);
  });

  it('refuses an unknown role, a malformed email and unknown fields with 400', async () => {
    const tenant = await ctx.tenant();
    const unknownRole = await create(tenant, { role: 'superuser' });
    expect(unknownRole.statusCode).toBe(400);
    expect(unknownRole.json().code).toBe('validation_failed');
    const badEmail = await create(tenant, { email: 'not-an-email' });
    expect(badEmail.statusCode).toBe(400);
    const extra = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: tenant.auth,
      payload: { email: `x-${tag()}@x.test`, name: 'x', role: 'member', password: PASSWORD, status: 'active' },
    });
    expect(extra.statusCode).toBe(400);
  });

  it('needs users.write to create and users.read to read', async () => {
    const tenant = await ctx.tenant();
    const manager = await ctx.user(tenant, 'manager');
    const viewer = await ctx.user(tenant, 'viewer');
    const res = await create(tenant, {}, manager.auth);
    expect(res.statusCode).toBe(403);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: manager.auth })).statusCode).toBe(200);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: viewer.auth })).statusCode).toBe(403);
  });

  it('answers 404 for an unknown id and for a malformed one alike', async () => {
    const tenant = await ctx.tenant();
    for (const id of ['0190b7e4-0000-7000-8000-000000000000', 'not-a-uuid', "1' OR '1'='1"]) {
      const res = await ctx.app.inject({ method: 'GET', url: `/v1/users/${encodeURIComponent(id)}`, headers: tenant.auth });
      expect(res.statusCode, id).toBe(404);
      expect(res.json().code).toBe('not_found');
    }
  });
});

describe('list', () => {
  let tenant: TestTenant;
  const created: UserView[] = [];
  beforeAll(async () => {
    tenant = await ctx.tenant();
    const roles = [
      'member',
      'member',
      'manager',
      'viewer',
      'member',
      'manager',
      'member',
      'viewer',
      'member',
      'member',
      'manager',
      'member',
    ];
    for (const [i, role] of roles.entries()) {
      const res = await create(tenant, { role, name: `User ${i}` });
      expect(res.statusCode).toBe(201);
      created.push(res.json() as UserView);
    }
  });

  it('pages through more users than the limit with no duplicates and no gaps', async () => {
    for (const limit of [1, 5, 13, 200]) {
      const { pages, ids } = await listAll(tenant, '', limit);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toHaveLength(created.length + 1); // and the owner
      for (const user of created) expect(ids).toContain(user.id);
      if (limit < ids.length) expect(pages.length).toBe(Math.ceil(ids.length / limit));
      // A stable order: by id, ascending.
      expect([...ids].sort()).toEqual(ids);
    }
  });

  it('filters by status and role, also across pages', async () => {
    const [a, b] = [created[0] as UserView, created[2] as UserView];
    for (const user of [a, b]) {
      const res = await ctx.app.inject({ method: 'POST', url: `/v1/users/${user.id}/deactivate`, headers: tenant.auth });
      expect(res.statusCode).toBe(200);
    }
    const deactivated = await listAll(tenant, '&status=deactivated', 1);
    expect(deactivated.ids.sort()).toEqual([a.id, b.id].sort());
    const active = await listAll(tenant, '&status=active', 3);
    expect(active.ids).toHaveLength(created.length + 1 - 2);
    expect(active.ids).not.toContain(a.id);
    expect(active.pages.flat().every((u) => u.status === 'active')).toBe(true);

    const managers = await listAll(tenant, '&role=manager', 2);
    expect(managers.ids.sort()).toEqual(
      created
        .filter((u) => u.role === 'manager')
        .map((u) => u.id)
        .sort(),
    );
    const activeManagers = await listAll(tenant, '&role=manager&status=active', 2);
    expect(activeManagers.ids).toHaveLength(created.filter((u) => u.role === 'manager').length - 1);
    expect(activeManagers.ids).not.toContain(b.id);
    const owners = await listAll(tenant, '&role=owner', 50);
    expect(owners.pages.flat().map((u) => u.email)).toEqual([tenant.ownerEmail]);
    const nobody = await listAll(tenant, '&role=no-such-role', 50);
    expect(nobody.ids).toEqual([]);
  });

  it('refuses a cursor it did not issue, an unknown status and a limit out of range', async () => {
    for (const query of ['cursor=bm9wZQ', 'cursor=%00%01', 'status=banned', 'limit=0', 'limit=201']) {
      const res = await ctx.app.inject({ method: 'GET', url: `/v1/users?${query}`, headers: tenant.auth });
      expect(res.statusCode, query).toBe(400);
    }
    const cursor = await ctx.app.inject({ method: 'GET', url: '/v1/users?cursor=bm9wZQ', headers: tenant.auth });
    expect(cursor.json().code).toBe('invalid_cursor');
  });

  it('never lists users of another tenant', async () => {
    const other = await ctx.tenant();
    const { ids } = await listAll(other, '', 200);
    expect(ids).toHaveLength(1);
    for (const user of created) expect(ids).not.toContain(user.id);
  });
});

describe('patch, deactivate and reactivate', () => {
  it('changes the name and the role; refuses an unknown role and an empty patch', async () => {
    const tenant = await ctx.tenant();
    const user = (await create(tenant, { name: 'Before' })).json() as UserView;
    const named = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${user.id}`, headers: tenant.auth, payload: { name: 'After' } });
    expect(named.statusCode).toBe(200);
    expect(named.json()).toMatchObject({ name: 'After', role: 'member' });
    expect(Date.parse(named.json().updatedAt)).toBeGreaterThanOrEqual(Date.parse(user.updatedAt));
    const role = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${user.id}`, headers: tenant.auth, payload: { role: 'manager' } });
    expect(role.statusCode).toBe(200);
    expect(role.json()).toMatchObject({ name: 'After', role: 'manager' });
    const unknown = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/users/${user.id}`,
      headers: tenant.auth,
      payload: { role: 'wizard' },
    });
    expect(unknown.statusCode).toBe(400);
    const empty = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${user.id}`, headers: tenant.auth, payload: {} });
    expect(empty.statusCode).toBe(400);
    const email = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/users/${user.id}`,
      headers: tenant.auth,
      payload: { email: 'new@x.test' },
    });
    expect(email.statusCode).toBe(400);
    const got = await ctx.app.inject({ method: 'GET', url: `/v1/users/${user.id}`, headers: tenant.auth });
    expect(got.json()).toMatchObject({ name: 'After', role: 'manager', email: user.email });
  });

  it('an admin cannot make an owner; only an owner can', async () => {
    const tenant = await ctx.tenant();
    const admin = await ctx.user(tenant, 'admin');
    const user = (await create(tenant, {})).json() as UserView;
    const byAdmin = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${user.id}`, headers: admin.auth, payload: { role: 'owner' } });
    expect(byAdmin.statusCode).toBe(403);
    const self = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${admin.id}`, headers: admin.auth, payload: { role: 'owner' } });
    expect(self.statusCode).toBe(403);
    const byOwner = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/users/${user.id}`,
      headers: tenant.auth,
      payload: { role: 'owner' },
    });
    expect(byOwner.statusCode).toBe(200);
  });

  it('deactivates and reactivates; refuses deactivating yourself and the last owner', async () => {
    const tenant = await ctx.tenant();
    const user = (await create(tenant, {})).json() as UserView;
    const off = await ctx.app.inject({ method: 'POST', url: `/v1/users/${user.id}/deactivate`, headers: tenant.auth });
    expect(off.statusCode).toBe(200);
    expect(off.json()).toMatchObject({ status: 'deactivated', deactivatedAt: expect.any(String) });
    const on = await ctx.app.inject({ method: 'POST', url: `/v1/users/${user.id}/reactivate`, headers: tenant.auth });
    expect(on.statusCode).toBe(200);
    expect(on.json()).toMatchObject({ status: 'active', deactivatedAt: null });
    // Reactivating an active user is a no-op.
    const again = await ctx.app.inject({ method: 'POST', url: `/v1/users/${user.id}/reactivate`, headers: tenant.auth });
    expect(again.statusCode).toBe(200);
    expect(again.json().status).toBe('active');

    const me = (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth })).json();
    const selfOff = await ctx.app.inject({ method: 'POST', url: `/v1/users/${me.user.id}/deactivate`, headers: tenant.auth });
    expect(selfOff.statusCode).toBe(409);
    const admin = await ctx.user(tenant, 'admin');
    const ownerOff = await ctx.app.inject({ method: 'POST', url: `/v1/users/${me.user.id}/deactivate`, headers: admin.auth });
    expect(ownerOff.statusCode).toBe(403);
    const stillOwner = await ctx.app.inject({ method: 'GET', url: `/v1/users/${me.user.id}`, headers: tenant.auth });
    expect(stillOwner.json()).toMatchObject({ status: 'active', role: 'owner' });
  });

  it('the seat limit refuses creating and reactivating beyond it with 429 quota_exceeded', async () => {
    const tenant = await ctx.tenant({ tier: 'custom', customLimits: { seats: 2 } });
    const first = await create(tenant, {});
    expect(first.statusCode).toBe(201);
    const a = first.json() as UserView;
    const full = await create(tenant, {});
    expect(full.statusCode).toBe(429);
    expect(full.json()).toMatchObject({ code: 'quota_exceeded', metric: 'seats', limit: 2, used: 2 });

    // Deactivating frees a seat, which a new user takes.
    expect((await ctx.app.inject({ method: 'POST', url: `/v1/users/${a.id}/deactivate`, headers: tenant.auth })).statusCode).toBe(200);
    const b = await create(tenant, {});
    expect(b.statusCode).toBe(201);

    const back = await ctx.app.inject({ method: 'POST', url: `/v1/users/${a.id}/reactivate`, headers: tenant.auth });
    expect(back.statusCode).toBe(429);
    expect(back.json()).toMatchObject({ code: 'quota_exceeded', metric: 'seats' });
    const still = await ctx.app.inject({ method: 'GET', url: `/v1/users/${a.id}`, headers: tenant.auth });
    expect(still.json().status).toBe('deactivated');

    // Free a seat again: now reactivation succeeds.
    const bId = (b.json() as UserView).id;
    expect((await ctx.app.inject({ method: 'POST', url: `/v1/users/${bId}/deactivate`, headers: tenant.auth })).statusCode).toBe(200);
    const retry = await ctx.app.inject({ method: 'POST', url: `/v1/users/${a.id}/reactivate`, headers: tenant.auth });
    expect(retry.statusCode).toBe(200);
    expect(retry.json().status).toBe('active');
  });

  it('parallel creates cannot together exceed the seat limit', async () => {
    const tenant = await ctx.tenant({ tier: 'custom', customLimits: { seats: 3 } });
    // Without a per-tenant lock around count-then-insert, PostgreSQL let 3 to 5 of these through.
    const results = await Promise.all(Array.from({ length: 8 }, () => create(tenant, {})));
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes).toEqual([201, 201, 429, 429, 429, 429, 429, 429]);
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE tenant_id = $1 AND status = 'active'", [tenant.id]),
    );
    expect(rows[0]?.n).toBe(3);
  });
});
