/**
 * T08: the authorisation matrix as data. For every tenant route of the inventory, the expected
 * status for each built-in role and for an API key holding exactly the route's permission versus
 * one holding every other permission. Then the owner rules (only owners make or change owners, a
 * tenant keeps an active owner, nobody deactivates themselves) and immediate effect of demotion and
 * deactivation on existing tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_PERMISSIONS, type Permission } from '../../src/modules/access/permissions.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { discoverRoutes, expectProblem, keyOf, type Route } from './support.ts';

const ROLES = ['owner', 'admin', 'manager', 'member', 'viewer'] as const;
type Role = (typeof ROLES)[number];
type Column = Role | 'keyWith' | 'keyWithout';
const COLUMNS: Column[] = [...ROLES, 'keyWith', 'keyWithout'];

/** An expected outcome: a success status, or a 403 with its problem code. */
type Outcome = number | 'forbidden' | 'scope_exceeds_permissions';

type Row = {
  permission: Permission | 'authenticated';
  /** Builds one request; called once per cell so every write acts on a fresh resource. */
  request(): Promise<{ url: string; payload?: object }>;
  /** The route ends the caller's session: use a throwaway login. */
  endsSession?: boolean;
} & Record<Column, Outcome>;

let ctx: TestContext;
let tenant: TestTenant;
let inventory: Route[];

const OK = 200;
const F = 'forbidden' as const;

async function newUser(role = 'member'): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/users',
    headers: tenant.auth,
    payload: { email: `${role}-${uniqueSlug()}@${tenant.slug}.test`, name: 'Target', role, password: PASSWORD },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().id;
}

async function newDeactivatedUser(): Promise<string> {
  const id = await newUser();
  const res = await ctx.app.inject({ method: 'POST', url: `/v1/users/${id}/deactivate`, headers: tenant.auth });
  if (res.statusCode !== 200) throw new Error(res.body);
  return id;
}

async function newKey(): Promise<string> {
  return (await ctx.apiKey(tenant, ['api_keys.write'])).id;
}

let sharedUser: string;
let sharedKey: string;

/**
 * The matrix. Field-level rules show in a few cells: a key holding only `users.write` cannot give a
 * role (every role holds permissions the key lacks), so creating or reactivating a member is refused.
 */
const MATRIX: Record<string, Row> = {
  'GET /v1/me': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/me' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: OK },
  },
  'GET /v1/permissions': {
    permission: 'authenticated',
    request: async () => ({ url: '/v1/permissions' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: OK },
  },
  'POST /v1/auth/logout': {
    permission: 'authenticated',
    endsSession: true,
    request: async () => ({ url: '/v1/auth/logout' }),
    ...{ owner: 204, admin: 204, manager: 204, member: 204, viewer: 204, keyWith: 204, keyWithout: 204 },
  },
  'GET /v1/tenant': {
    permission: 'tenant.read',
    request: async () => ({ url: '/v1/tenant' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: F },
  },
  'GET /v1/roles': {
    permission: 'roles.read',
    request: async () => ({ url: '/v1/roles' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: F },
  },
  'GET /v1/users': {
    permission: 'users.read',
    request: async () => ({ url: '/v1/users' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/users/:id': {
    permission: 'users.read',
    request: async () => ({ url: `/v1/users/${sharedUser}` }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/users': {
    permission: 'users.write',
    request: async () => ({
      url: '/v1/users',
      payload: { email: `new-${uniqueSlug()}@${tenant.slug}.test`, name: 'New', role: 'viewer', password: PASSWORD },
    }),
    ...{ owner: 201, admin: 201, manager: F, member: F, viewer: F, keyWith: F, keyWithout: F },
  },
  'PATCH /v1/users/:id': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/users/${sharedUser}`, payload: { name: `Renamed ${uniqueSlug()}` } }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/users/:id/deactivate': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/users/${await newUser()}/deactivate` }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/users/:id/reactivate': {
    permission: 'users.write',
    request: async () => ({ url: `/v1/users/${await newDeactivatedUser()}/reactivate` }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: F, keyWithout: F },
  },
  'GET /v1/api-keys': {
    permission: 'api_keys.read',
    request: async () => ({ url: '/v1/api-keys' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/api-keys/:id': {
    permission: 'api_keys.read',
    request: async () => ({ url: `/v1/api-keys/${sharedKey}` }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'POST /v1/api-keys': {
    permission: 'api_keys.write',
    request: async () => ({ url: '/v1/api-keys', payload: { name: 'matrix', scopes: ['api_keys.write'] } }),
    ...{ owner: 201, admin: 201, manager: F, member: F, viewer: F, keyWith: 201, keyWithout: F },
  },
  'DELETE /v1/api-keys/:id': {
    permission: 'api_keys.write',
    request: async () => ({ url: `/v1/api-keys/${await newKey()}` }),
    ...{ owner: 204, admin: 204, manager: F, member: F, viewer: F, keyWith: 204, keyWithout: F },
  },
  'POST /v1/api-keys/:id/rotate': {
    permission: 'api_keys.write',
    request: async () => ({ url: `/v1/api-keys/${await newKey()}/rotate`, payload: { overlapSeconds: 0 } }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/security-events': {
    permission: 'security_events.read',
    request: async () => ({ url: '/v1/security-events' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/usage': {
    permission: 'usage.read',
    request: async () => ({ url: '/v1/usage' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/usage/timeseries': {
    permission: 'usage.read',
    request: async () => ({
      url: `/v1/usage/timeseries?metric=api_calls&from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date().toISOString()}`,
    }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/usage/alerts': {
    permission: 'usage.read',
    request: async () => ({ url: '/v1/usage/alerts' }),
    ...{ owner: OK, admin: OK, manager: OK, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
  'GET /v1/tenant/rate-limits': {
    permission: 'tenant.read',
    request: async () => ({ url: '/v1/tenant/rate-limits' }),
    ...{ owner: OK, admin: OK, manager: OK, member: OK, viewer: OK, keyWith: OK, keyWithout: F },
  },
  'PUT /v1/tenant/rate-limits': {
    permission: 'settings.write',
    request: async () => ({ url: '/v1/tenant/rate-limits', payload: { perUserPerMinute: null, perApiKeyPerMinute: null } }),
    ...{ owner: OK, admin: OK, manager: F, member: F, viewer: F, keyWith: OK, keyWithout: F },
  },
};

/** Routes that are not tenant routes (public or operator); the cross-tenant scanner checks they are what they claim. */
const NOT_TENANT =
  /^(OPTIONS \*|[A-Z]+ \/(docs|openapi\.json|healthz|readyz|\.well-known\/|v1\/auth\/(login|refresh)$|v1\/operator\/)|GET \/$)/;

async function login(email: string) {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant: tenant.slug, email, password: PASSWORD } });
  if (res.statusCode !== 200) throw new Error(res.body);
  const body = res.json();
  return {
    token: body.accessToken as string,
    refreshToken: body.refreshToken as string,
    auth: { authorization: `Bearer ${body.accessToken}` },
  };
}

const users = new Map<Role, { id: string; email: string; auth: { authorization: string } }>();

beforeAll(async () => {
  ctx = await createTestContext();
  inventory = discoverRoutes(ctx.app);
  tenant = await ctx.tenant();
  users.set('owner', {
    id: (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth })).json().user.id,
    email: tenant.ownerEmail,
    auth: tenant.auth,
  });
  for (const role of ROLES.filter((r) => r !== 'owner')) users.set(role, await ctx.user(tenant, role));
  sharedUser = await newUser();
  sharedKey = await newKey();
});

afterAll(async () => {
  await ctx?.close();
});

describe('RBAC matrix (T08)', () => {
  it('has a row for every tenant route of the inventory, and no stale rows', () => {
    const tenantRoutes = inventory.filter((r) => r.method !== 'HEAD' && !NOT_TENANT.test(keyOf(r))).map(keyOf);
    expect(tenantRoutes.length).toBeGreaterThan(10);
    expect(
      tenantRoutes.filter((k) => !MATRIX[k]),
      'tenant routes missing from the matrix',
    ).toEqual([]);
    expect(
      Object.keys(MATRIX).filter((k) => !tenantRoutes.includes(k)),
      'stale rows',
    ).toEqual([]);
    for (const [key, row] of Object.entries(MATRIX)) {
      for (const column of COLUMNS) expect(row[column], `${key} ${column}`).toBeDefined();
    }
  });

  it('answers every role and key exactly as the matrix says', async () => {
    const mismatches: string[] = [];
    for (const [key, row] of Object.entries(MATRIX)) {
      const [method] = key.split(' ') as [string];
      const withScopes = row.permission === 'authenticated' ? (['tenant.read'] as Permission[]) : [row.permission];
      const withoutScopes = ALL_PERMISSIONS.filter((p) => p !== row.permission);
      for (const column of COLUMNS) {
        let auth: { authorization: string };
        if (column === 'keyWith') auth = (await ctx.apiKey(tenant, withScopes)).auth;
        else if (column === 'keyWithout') auth = (await ctx.apiKey(tenant, withoutScopes)).auth;
        else if (row.endsSession) auth = (await login((users.get(column) as { email: string }).email)).auth;
        else auth = (users.get(column) as { auth: { authorization: string } }).auth;
        const request = await row.request();
        const expected = row[column];
        const res = await ctx.app.inject({ method: method as 'GET', url: request.url, headers: auth, payload: request.payload });
        const label = `${key} as ${column}`;
        if (typeof expected === 'number') {
          if (res.statusCode !== expected) mismatches.push(`${label}: expected ${expected}, got ${res.statusCode} ${res.body}`);
        } else if (res.statusCode !== 403 || res.json().code !== expected) {
          mismatches.push(`${label}: expected 403 ${expected}, got ${res.statusCode} ${res.body}`);
        } else {
          expectProblem(res, 403, expected);
          // The guard names the missing permission; a field-level refusal explains itself in `detail`.
          const named = res.json().permission;
          if (column === 'keyWithout') expect(named, label).toBe(row.permission);
          if (named !== undefined) expect(named, label).toBe(row.permission);
        }
        // HEAD follows GET.
        if (method === 'GET') {
          const head = await ctx.app.inject({ method: 'HEAD', url: request.url, headers: auth });
          const headExpected = typeof expected === 'number' ? expected : 403;
          if (head.statusCode !== headExpected) mismatches.push(`HEAD ${label}: expected ${headExpected}, got ${head.statusCode}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('refuses with the guard (403 forbidden naming the permission) when the permission is missing', async () => {
    const viewer = users.get('viewer') as { auth: { authorization: string } };
    const res = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: viewer.auth });
    expectProblem(res, 403, 'forbidden');
    expect(res.json().permission).toBe('users.read');
  });
});

describe('owner rules (T08)', () => {
  it('an admin (or any API key) cannot create an owner or promote to owner', async () => {
    const admin = users.get('admin') as { auth: { authorization: string } };
    const allKey = await ctx.apiKey(tenant, ALL_PERMISSIONS);
    for (const auth of [admin.auth, allKey.auth]) {
      const email = `would-be-owner-${uniqueSlug()}@${tenant.slug}.test`;
      const create = await ctx.app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: auth,
        payload: { email, name: 'Owner?', role: 'owner', password: PASSWORD },
      });
      expectProblem(create, 403, 'forbidden');
      const stored = await ctx.db.withOwner((tx) => tx.query('SELECT 1 FROM users WHERE email = $1', [email]));
      expect(stored.rows).toEqual([]);
      const target = await newUser();
      const promote = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${target}`, headers: auth, payload: { role: 'owner' } });
      expectProblem(promote, 403, 'forbidden');
      const after = await ctx.app.inject({ method: 'GET', url: `/v1/users/${target}`, headers: tenant.auth });
      expect(after.json().role).toBe('member');
    }
    // The admin cannot promote itself either.
    const adminId = (users.get('admin') as { id: string }).id;
    const self = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${adminId}`, headers: admin.auth, payload: { role: 'owner' } });
    expectProblem(self, 403, 'forbidden');
  });

  it('only owners change owners', async () => {
    const second = await newUser();
    const promote = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${second}`, headers: tenant.auth, payload: { role: 'owner' } });
    expect(promote.statusCode, promote.body).toBe(200);
    expect(promote.json().role).toBe('owner');
    const admin = users.get('admin') as { auth: { authorization: string } };
    const allKey = await ctx.apiKey(tenant, ALL_PERMISSIONS);
    for (const auth of [admin.auth, allKey.auth]) {
      const demote = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${second}`, headers: auth, payload: { role: 'member' } });
      expectProblem(demote, 403, 'forbidden');
      const deactivate = await ctx.app.inject({ method: 'POST', url: `/v1/users/${second}/deactivate`, headers: auth });
      expectProblem(deactivate, 403, 'forbidden');
      const rename = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${second}`, headers: auth, payload: { role: 'owner' } });
      expect(rename.statusCode, 'setting the role it already has changes nothing').toBe(200);
    }
    const state = await ctx.app.inject({ method: 'GET', url: `/v1/users/${second}`, headers: tenant.auth });
    expect(state.json()).toMatchObject({ role: 'owner', status: 'active' });
    const byOwner = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${second}`, headers: tenant.auth, payload: { role: 'admin' } });
    expect(byOwner.statusCode, byOwner.body).toBe(200);
    expect(byOwner.json().role).toBe('admin');
  });

  it('keeps the last active owner: no demotion, no deactivation (409); nobody deactivates themselves (409)', async () => {
    const solo = await ctx.tenant();
    const me = (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: solo.auth })).json().user.id as string;
    const demote = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${me}`, headers: solo.auth, payload: { role: 'admin' } });
    expectProblem(demote, 409, 'conflict');
    expect(demote.json().detail).toMatch(/owner/);
    const deactivate = await ctx.app.inject({ method: 'POST', url: `/v1/users/${me}/deactivate`, headers: solo.auth });
    expectProblem(deactivate, 409, 'conflict');

    // With a second owner who is deactivated, the first is still the last active one.
    const other = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: solo.auth,
      payload: { email: `second-owner@${solo.slug}.test`, name: 'Second', role: 'owner', password: PASSWORD },
    });
    expect(other.statusCode, other.body).toBe(201);
    const otherId = other.json().id as string;
    const off = await ctx.app.inject({ method: 'POST', url: `/v1/users/${otherId}/deactivate`, headers: solo.auth });
    expect(off.statusCode, off.body).toBe(200);
    const demoteAgain = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${me}`, headers: solo.auth, payload: { role: 'admin' } });
    expectProblem(demoteAgain, 409, 'conflict');
    const state = await ctx.app.inject({ method: 'GET', url: `/v1/users/${me}`, headers: solo.auth });
    expect(state.json()).toMatchObject({ role: 'owner', status: 'active' });

    // Once the second owner is back, the first may step down.
    const on = await ctx.app.inject({ method: 'POST', url: `/v1/users/${otherId}/reactivate`, headers: solo.auth });
    expect(on.statusCode, on.body).toBe(200);
    const stepDown = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${me}`, headers: solo.auth, payload: { role: 'admin' } });
    expect(stepDown.statusCode, stepDown.body).toBe(200);

    // Nobody deactivates themselves, whatever their role.
    const admin = users.get('admin') as { id: string; auth: { authorization: string } };
    const selfOff = await ctx.app.inject({ method: 'POST', url: `/v1/users/${admin.id}/deactivate`, headers: admin.auth });
    expectProblem(selfOff, 409, 'conflict');
    const still = await ctx.app.inject({ method: 'GET', url: `/v1/users/${admin.id}`, headers: tenant.auth });
    expect(still.json().status).toBe('active');
  });
});

describe('changes take effect on the next request (T08)', () => {
  it('a demoted user loses the permission on the very next request with the same access token', async () => {
    const victim = await ctx.user(tenant, 'admin');
    const target = await newUser();
    const before = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${target}`, headers: victim.auth, payload: { name: 'ok' } });
    expect(before.statusCode, before.body).toBe(200);
    const demote = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/users/${victim.id}`,
      headers: tenant.auth,
      payload: { role: 'viewer' },
    });
    expect(demote.statusCode, demote.body).toBe(200);
    const write = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${target}`, headers: victim.auth, payload: { name: 'no' } });
    expectProblem(write, 403, 'forbidden');
    const create = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: victim.auth,
      payload: { email: `x-${uniqueSlug()}@${tenant.slug}.test`, name: 'x', role: 'viewer', password: PASSWORD },
    });
    expectProblem(create, 403, 'forbidden');
    const read = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: victim.auth });
    expectProblem(read, 403, 'forbidden');
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: victim.auth });
    expect(me.json().user.role).toBe('viewer');
    expect(me.json().permissions).not.toContain('users.write');
  });

  it("a deactivated user's access token gets 401 at once and the refresh token no longer works", async () => {
    const victim = await ctx.user(tenant, 'manager');
    const warm = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: victim.auth });
    expect(warm.statusCode).toBe(200);
    const off = await ctx.app.inject({ method: 'POST', url: `/v1/users/${victim.id}/deactivate`, headers: tenant.auth });
    expect(off.statusCode, off.body).toBe(200);
    for (const url of ['/v1/users', '/v1/me', '/v1/permissions']) {
      const res = await ctx.app.inject({ method: 'GET', url, headers: victim.auth });
      expectProblem(res, 401, 'invalid_token');
    }
    const refresh = await ctx.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: victim.refreshToken } });
    expectProblem(refresh, 401, 'invalid_grant');
    const relogin = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: victim.email, password: PASSWORD },
    });
    expectProblem(relogin, 401, 'invalid_credentials');
    // Reactivation does not revive the old session.
    const on = await ctx.app.inject({ method: 'POST', url: `/v1/users/${victim.id}/reactivate`, headers: tenant.auth });
    expect(on.statusCode).toBe(200);
    const stale = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: victim.auth });
    expectProblem(stale, 401, 'invalid_token');
  });
});
