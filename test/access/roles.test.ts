/**
 * Custom roles and attribute conditions (F-B5): CRUD, refusals of malformed definitions naming the
 * part, the route-generated permission catalogue, the tier limit, T08 (a role change is effective on
 * the next request) and conditions evaluated alike for a user with a custom role and an API key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorize, type TenantPrincipal } from '../../src/modules/access/index.ts';
import { createTestContext, openTestDatabase, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';

let ctx: TestContext;
let tenant: TestTenant;

beforeAll(async () => {
  ctx = await createTestContext();
  tenant = await ctx.tenant();
});

afterAll(async () => {
  await ctx?.close();
});

async function createRole(t: TestTenant, body: object) {
  return ctx.app.inject({ method: 'POST', url: '/v1/roles', headers: t.auth, payload: body });
}

async function userWithRole(t: TestTenant, role: string) {
  return ctx.user(t, role);
}

describe('custom roles: create, read, change, delete', () => {
  it('creates a role, lists and reads it, changes it and deletes it', async () => {
    const key = uniqueSlug('support');
    const created = await createRole(tenant, {
      key,
      name: 'Support',
      description: 'Reads users',
      permissions: ['users.read', 'tenant.read', 'users.read'],
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({
      key,
      name: 'Support',
      permissions: ['tenant.read', 'users.read'],
      builtin: false,
      conditions: [],
    });

    const list = await ctx.app.inject({ method: 'GET', url: '/v1/roles', headers: tenant.auth });
    expect(list.json().data.map((r: { key: string }) => r.key)).toContain(key);
    const one = await ctx.app.inject({ method: 'GET', url: `/v1/roles/${key}`, headers: tenant.auth });
    expect(one.statusCode).toBe(200);

    const changed = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/roles/${key}`,
      headers: tenant.auth,
      payload: { name: 'Support desk', permissions: ['users.read'] },
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ name: 'Support desk', permissions: ['users.read'], description: 'Reads users' });

    const removed = await ctx.app.inject({ method: 'DELETE', url: `/v1/roles/${key}`, headers: tenant.auth });
    expect(removed.statusCode, removed.body).toBe(204);
    const gone = await ctx.app.inject({ method: 'GET', url: `/v1/roles/${key}`, headers: tenant.auth });
    expectProblem(gone, 404, 'not_found');
  });

  it('refuses a duplicate key (409) and leaves built-in roles alone (409 role_immutable)', async () => {
    const key = uniqueSlug('dup');
    expect((await createRole(tenant, { key, name: 'A', permissions: [] })).statusCode).toBe(201);
    expectProblem(await createRole(tenant, { key, name: 'B', permissions: [] }), 409, 'conflict');
    expectProblem(await createRole(tenant, { key: 'admin', name: 'Mine', permissions: [] }), 409, 'role_immutable');
    const patch = await ctx.app.inject({ method: 'PATCH', url: '/v1/roles/member', headers: tenant.auth, payload: { permissions: [] } });
    expectProblem(patch, 409, 'role_immutable');
    const del = await ctx.app.inject({ method: 'DELETE', url: '/v1/roles/viewer', headers: tenant.auth });
    expectProblem(del, 409, 'role_immutable');
    const member = await ctx.app.inject({ method: 'GET', url: '/v1/roles/member', headers: tenant.auth });
    expect(member.json().permissions).toEqual(['tenant.read', 'users.read', 'roles.read', 'assistant.use', 'knowledge.read']);
  });

  it('refuses to delete a role while a user holds it (409 role_in_use), and allows it afterwards', async () => {
    const key = uniqueSlug('held');
    expect((await createRole(tenant, { key, name: 'Held', permissions: ['tenant.read'] })).statusCode).toBe(201);
    const holder = await userWithRole(tenant, key);
    const refused = await ctx.app.inject({ method: 'DELETE', url: `/v1/roles/${key}`, headers: tenant.auth });
    expectProblem(refused, 409, 'role_in_use');
    expect((await ctx.app.inject({ method: 'GET', url: `/v1/roles/${key}`, headers: tenant.auth })).statusCode).toBe(200);
    const moved = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/users/${holder.id}`,
      headers: tenant.auth,
      payload: { role: 'viewer' },
    });
    expect(moved.statusCode, moved.body).toBe(200);
    const removed = await ctx.app.inject({ method: 'DELETE', url: `/v1/roles/${key}`, headers: tenant.auth });
    expect(removed.statusCode, removed.body).toBe(204);
  });

  it('grants only permissions the caller holds (403 scope_exceeds_permissions), for users and keys', async () => {
    const maker = uniqueSlug('maker');
    expect((await createRole(tenant, { key: maker, name: 'Role maker', permissions: ['roles.write', 'users.read'] })).statusCode).toBe(201);
    const user = await userWithRole(tenant, maker);
    const key = await ctx.apiKey(tenant, ['roles.write', 'users.read']);
    for (const auth of [user.auth, key.auth]) {
      const over = await createRole(
        { ...tenant, auth },
        { key: uniqueSlug('over'), name: 'Over', permissions: ['users.read', 'api_keys.write'] },
      );
      expectProblem(over, 403, 'scope_exceeds_permissions');
      expect(over.json().permissions).toEqual(['api_keys.write']);
      const fine = await createRole({ ...tenant, auth }, { key: uniqueSlug('fine'), name: 'Fine', permissions: ['users.read'] });
      expect(fine.statusCode, fine.body).toBe(201);
      // Nor can it raise an existing role above itself.
      const raise = await ctx.app.inject({
        method: 'PATCH',
        url: `/v1/roles/${fine.json().key}`,
        headers: auth,
        payload: { permissions: ['users.read', 'settings.write'] },
      });
      expectProblem(raise, 403, 'scope_exceeds_permissions');
    }
  });
});

describe('malformed role definitions are refused naming the part', () => {
  const cases: Array<{ name: string; body: object; path: string }> = [
    { name: 'unknown permission', body: { permissions: ['users.read', 'users.fly'] }, path: 'body/permissions/1' },
    {
      name: 'unknown attribute',
      body: { permissions: ['users.write'], conditions: [{ permission: 'users.write', condition: { attribute: 'salary', equals: 1 } }] },
      path: 'body/conditions/0/condition/attribute',
    },
    {
      name: 'condition on a permission the role does not list',
      body: {
        permissions: ['users.read'],
        conditions: [{ permission: 'users.write', condition: { attribute: 'role', equals: 'member' } }],
      },
      path: 'body/conditions/0/permission',
    },
    {
      name: 'condition on a permission that takes none',
      body: { permissions: ['users.read'], conditions: [{ permission: 'users.read', condition: { attribute: 'id', equals: 'x' } }] },
      path: 'body/conditions/0/permission',
    },
    {
      name: 'unknown caller reference inside an `in` list',
      body: {
        permissions: ['api_keys.write'],
        conditions: [{ permission: 'api_keys.write', condition: { attribute: 'createdById', in: ['$caller.id', '$caller.salary'] } }],
      },
      path: 'body/conditions/0/condition/in/1',
    },
    {
      name: 'unknown permission in a condition',
      body: { permissions: [], conditions: [{ permission: 'nope.write', condition: { attribute: 'id', equals: 'x' } }] },
      path: 'body/conditions/0/permission',
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const res = await createRole(tenant, { key: uniqueSlug('bad'), name: 'Bad', ...c.body });
      expectProblem(res, 400, 'validation_failed');
      expect(res.json().errors.map((e: { path: string }) => e.path)).toContain(c.path);
    });
  }

  it('a condition of the wrong shape is refused by the schema (400, never 500)', async () => {
    for (const condition of [
      { attribute: 'role' },
      { attribute: 'role', equals: 'a', in: ['b'] },
      { attribute: 'role', in: [] },
      'role=member',
    ]) {
      const res = await createRole(tenant, {
        key: uniqueSlug('shape'),
        name: 'Shape',
        permissions: ['users.write'],
        conditions: [{ permission: 'users.write', condition }],
      });
      expectProblem(res, 400, 'validation_failed');
    }
    const badKey = await createRole(tenant, { key: 'Not A Key!', name: 'x', permissions: [] });
    expectProblem(badKey, 400, 'validation_failed');
  });
});

describe('GET /v1/permissions', () => {
  it('lists every permission with its description, the routes that need it and its condition attributes', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/v1/permissions', headers: tenant.auth });
    expect(res.statusCode).toBe(200);
    const byKey = new Map(res.json().data.map((p: { key: string }) => [p.key, p]));
    expect(byKey.get('roles.write')).toMatchObject({
      routes: expect.arrayContaining([
        { method: 'POST', url: '/v1/roles' },
        { method: 'PATCH', url: '/v1/roles/:key' },
        { method: 'DELETE', url: '/v1/roles/:key' },
      ]),
    });
    expect(byKey.get('users.write')).toMatchObject({ routes: expect.arrayContaining([{ method: 'POST', url: '/v1/users/:id/unlock' }]) });
    const keys = byKey.get('api_keys.write') as { conditionAttributes: Array<{ attribute: string }> };
    expect(keys.conditionAttributes.map((a) => a.attribute)).toEqual(['id', 'createdById', 'createdByType']);
    // Generated from the routes: every tenant route of the app appears under its permission.
    const listed = res
      .json()
      .data.flatMap((p: { routes: Array<{ method: string; url: string }> }) => p.routes.map((r) => `${r.method} ${r.url}`));
    expect(listed).toContain('GET /v1/security-events');
    expect(listed).not.toContain('HEAD /v1/roles');
  });
});

describe('tier limit on custom roles', () => {
  it('basic allows none and premium five; the next is refused with 429 quota_exceeded and nothing is stored', async () => {
    const basic = await ctx.tenant({ tier: 'basic' });
    const refused = await createRole(basic, { key: 'first', name: 'First', permissions: [] });
    expectProblem(refused, 429, 'quota_exceeded');
    expect(refused.json()).toMatchObject({ metric: 'custom_roles', limit: 0, used: 0 });

    const premium = await ctx.tenant({ tier: 'premium' });
    for (let i = 0; i < 5; i += 1) {
      const res = await createRole(premium, { key: `role-${i}`, name: `Role ${i}`, permissions: [] });
      expect(res.statusCode, res.body).toBe(201);
    }
    const sixth = await createRole(premium, { key: 'role-5', name: 'Role 5', permissions: [] });
    expectProblem(sixth, 429, 'quota_exceeded');
    const list = await ctx.app.inject({ method: 'GET', url: '/v1/roles', headers: premium.auth });
    expect(list.json().data.filter((r: { builtin: boolean }) => !r.builtin)).toHaveLength(5);
    // Deleting one frees a place.
    expect((await ctx.app.inject({ method: 'DELETE', url: '/v1/roles/role-0', headers: premium.auth })).statusCode).toBe(204);
    expect((await createRole(premium, { key: 'role-5', name: 'Role 5', permissions: [] })).statusCode).toBe(201);
  });

  it('concurrent creations cannot overrun the limit', async () => {
    const premium = await ctx.tenant({ tier: 'premium' });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => createRole(premium, { key: `race-${i}`, name: `Race ${i}`, permissions: [] })),
    );
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(5);
    expect(results.filter((r) => r.statusCode === 429)).toHaveLength(3);
  });
});

describe('a role change takes effect on the next request (T08)', () => {
  it('removing a permission from a custom role refuses its holder on the next request; adding it back restores it', async () => {
    const key = uniqueSlug('t08');
    expect((await createRole(tenant, { key, name: 'T08', permissions: ['users.read', 'tenant.read'] })).statusCode).toBe(201);
    const holder = await userWithRole(tenant, key);
    const read = () => ctx.app.inject({ method: 'GET', url: '/v1/users', headers: holder.auth });
    expect((await read()).statusCode).toBe(200);
    expect((await read()).statusCode).toBe(200); // cached now
    const cut = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/roles/${key}`,
      headers: tenant.auth,
      payload: { permissions: ['tenant.read'] },
    });
    expect(cut.statusCode, cut.body).toBe(200);
    const refused = await read();
    expectProblem(refused, 403, 'forbidden');
    expect(refused.json().permission).toBe('users.read');
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: holder.auth });
    expect(me.json().permissions).toEqual(['tenant.read']);
    await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/roles/${key}`,
      headers: tenant.auth,
      payload: { permissions: ['tenant.read', 'users.read'] },
    });
    expect((await read()).statusCode).toBe(200);
  });

  // Nodes hear of changes through Redis pub/sub; without REDIS_URL each app has its own bus.
  it.runIf(!!process.env.REDIS_URL)('a role changed on one node is enforced by another node on the next request', async () => {
    const db = await openTestDatabase();
    const nodeA = await createTestContext({ db });
    const nodeB = await createTestContext({ db });
    try {
      const t = await nodeA.tenant();
      const key = uniqueSlug('nodes');
      await nodeA.app.inject({
        method: 'POST',
        url: '/v1/roles',
        headers: t.auth,
        payload: { key, name: 'N', permissions: ['users.read'] },
      });
      const holder = await nodeA.user(t, key);
      expect((await nodeB.app.inject({ method: 'GET', url: '/v1/users', headers: holder.auth })).statusCode).toBe(200);
      await nodeA.app.inject({ method: 'PATCH', url: `/v1/roles/${key}`, headers: t.auth, payload: { permissions: [] } });
      // Pub/sub is asynchronous: allow it the time of one round trip to Redis.
      let status = 0;
      for (let i = 0; i < 50 && status !== 403; i += 1) {
        status = (await nodeB.app.inject({ method: 'GET', url: '/v1/users', headers: holder.auth })).statusCode;
        if (status !== 403) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(status).toBe(403);
    } finally {
      await nodeA.close();
      await nodeB.close();
      await db.close();
    }
  });
});

describe('attribute conditions, for users and API keys alike', () => {
  const OWN_KEYS = {
    permissions: ['api_keys.read', 'api_keys.write'],
    conditions: [{ permission: 'api_keys.write', condition: { attribute: 'createdById', equals: '$caller.id' } }],
  };

  it('a user with a custom role manages only the API keys they created', async () => {
    const key = uniqueSlug('own-keys');
    const made = await createRole(tenant, { key, name: 'Own keys', ...OWN_KEYS });
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json().conditions).toEqual(OWN_KEYS.conditions);
    const user = await userWithRole(tenant, key);
    const mine = await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: user.auth,
      payload: { name: 'mine', scopes: ['api_keys.read'] },
    });
    expect(mine.statusCode, mine.body).toBe(201);
    const owners = await ctx.apiKey(tenant, ['api_keys.read']);

    const refused = await ctx.app.inject({ method: 'DELETE', url: `/v1/api-keys/${owners.id}`, headers: user.auth });
    expectProblem(refused, 403, 'forbidden');
    expect(refused.json()).toMatchObject({ permission: 'api_keys.write', conditional: true });
    const rotate = await ctx.app.inject({ method: 'POST', url: `/v1/api-keys/${owners.id}/rotate`, headers: user.auth, payload: {} });
    expectProblem(rotate, 403, 'forbidden');
    // The owner's key still works: nothing was changed.
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/api-keys', headers: owners.auth })).statusCode).toBe(200);

    const own = await ctx.app.inject({ method: 'DELETE', url: `/v1/api-keys/${mine.json().id}`, headers: user.auth });
    expect(own.statusCode, own.body).toBe(204);
    // A missing key is still a 404, not a condition refusal.
    const missing = await ctx.app.inject({
      method: 'DELETE',
      url: '/v1/api-keys/0190b5d2-0000-7000-8000-000000000000',
      headers: user.auth,
    });
    expectProblem(missing, 404, 'not_found');
  });

  it("an API key made by that user inherits the condition, bound to its maker: it reaches the maker's keys and no others", async () => {
    const key = uniqueSlug('own-keys');
    expect((await createRole(tenant, { key, name: 'Own keys', ...OWN_KEYS })).statusCode).toBe(201);
    const user = await userWithRole(tenant, key);
    const made = await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: user.auth,
      payload: { name: 'delegate', scopes: ['api_keys.read', 'api_keys.write'] },
    });
    expect(made.statusCode, made.body).toBe(201);
    const delegate = { authorization: `Bearer ${made.json().key}` };
    const stored = await ctx.db.withTenant(tenant.id, (tx) =>
      tx.query<{ conditions: unknown }>('SELECT conditions FROM api_keys WHERE id = $1', [made.json().id]),
    );
    expect(stored.rows[0]?.conditions).toEqual([
      { permission: 'api_keys.write', condition: { attribute: 'createdById', equals: user.id } },
    ]);

    const usersKey = await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: user.auth,
      payload: { name: 'users', scopes: ['api_keys.read'] },
    });
    const owners = await ctx.apiKey(tenant, ['api_keys.read']);
    const refused = await ctx.app.inject({ method: 'DELETE', url: `/v1/api-keys/${owners.id}`, headers: delegate });
    expectProblem(refused, 403, 'forbidden');
    expect(refused.json().conditional).toBe(true);
    const allowed = await ctx.app.inject({ method: 'DELETE', url: `/v1/api-keys/${usersKey.json().id}`, headers: delegate });
    expect(allowed.statusCode, allowed.body).toBe(204);
  });

  it('a conditional grant cannot be handed on unconditionally (role assignment, new roles)', async () => {
    const key = uniqueSlug('cond-users');
    const role = await createRole(tenant, {
      key,
      name: 'Manages viewers',
      permissions: ['users.read', 'users.write', 'tenant.read', 'roles.read', 'roles.write'],
      conditions: [{ permission: 'users.write', condition: { attribute: 'role', in: ['viewer'] } }],
    });
    expect(role.statusCode, role.body).toBe(201);
    const user = await userWithRole(tenant, key);
    const viewer = await ctx.user(tenant, 'viewer');
    const member = await ctx.user(tenant, 'member');
    const offViewer = await ctx.app.inject({ method: 'POST', url: `/v1/users/${viewer.id}/deactivate`, headers: user.auth });
    expect(offViewer.statusCode, offViewer.body).toBe(200);
    const offMember = await ctx.app.inject({ method: 'POST', url: `/v1/users/${member.id}/deactivate`, headers: user.auth });
    expectProblem(offMember, 403, 'forbidden');
    // Creating a viewer is within the condition; creating a member is not.
    const newViewer = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: user.auth,
      payload: { email: `v-${uniqueSlug()}@${tenant.slug}.test`, name: 'V', role: 'viewer', password: PASSWORD },
    });
    expect(newViewer.statusCode, newViewer.body).toBe(201);
    const newMember = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: user.auth,
      payload: { email: `m-${uniqueSlug()}@${tenant.slug}.test`, name: 'M', role: 'member', password: PASSWORD },
    });
    expectProblem(newMember, 403, 'forbidden');
    // Promoting a viewer to member: allowed for the user as it is, not as it would become.
    const promote = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/users/${newViewer.json().id}`,
      headers: user.auth,
      payload: { role: 'member' },
    });
    expectProblem(promote, 403, 'forbidden');
    // A new role with users.write would escape the condition.
    const escaping = await createRole(
      { ...tenant, auth: user.auth },
      { key: uniqueSlug('escape'), name: 'Escape', permissions: ['users.write'] },
    );
    expectProblem(escaping, 403, 'scope_exceeds_permissions');
  });

  it('authorize(): one function for users and API keys', () => {
    const conditions = new Map([['api_keys.write', [{ attribute: 'createdById', equals: '$caller.id' as const }]]]);
    const user: TenantPrincipal = {
      kind: 'user',
      tenantId: 't',
      userId: 'u1',
      sessionId: 's',
      roleKey: 'r',
      permissions: new Set(['api_keys.write']),
      conditions,
    };
    const key: TenantPrincipal = { kind: 'api_key', tenantId: 't', apiKeyId: 'k1', permissions: new Set(['api_keys.write']), conditions };
    expect(authorize(user, 'api_keys.write', { createdById: 'u1' })).toBe(true);
    expect(authorize(user, 'api_keys.write', { createdById: 'k1' })).toBe(false);
    expect(authorize(key, 'api_keys.write', { createdById: 'k1' })).toBe(true);
    expect(authorize(key, 'api_keys.write', { createdById: 'u1' })).toBe(false);
    expect(authorize(key, 'api_keys.write', {})).toBe(false);
    expect(authorize(key, 'users.write', { id: 'x' })).toBe(false);
    const userOnly = new Map([['users.write', [{ attribute: 'id', in: ['$caller.userId', 'fixed'] }]]]);
    const keyWithUserRef: TenantPrincipal = {
      kind: 'api_key',
      tenantId: 't',
      apiKeyId: 'k1',
      permissions: new Set(['users.write']),
      conditions: userOnly,
    };
    expect(authorize(keyWithUserRef, 'users.write', { id: 'k1' }), '$caller.userId of a key matches nothing').toBe(false);
    expect(authorize(keyWithUserRef, 'users.write', { id: 'fixed' })).toBe(true);
    const plain: TenantPrincipal = { kind: 'api_key', tenantId: 't', apiKeyId: 'k2', permissions: new Set(['users.write']) };
    expect(authorize(plain, 'users.write', { id: 'anything' })).toBe(true);
  });
});
