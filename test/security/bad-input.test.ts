/**
 * Bad input on the write routes: missing fields, wrong types and unknown fields answer 400
 * validation_failed naming the field, nothing is written, nothing answers 5xx. Wrong credentials
 * on login are indistinguishable from one another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem } from './support.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Body = { [key: string]: Json };
type Case = { label: string; body: Json; field: string };

let ctx: TestContext;
let tenant: TestTenant;
let target: string;

/** Wrong values by the kind of field: a string gets numbers, booleans, ...; an integer gets "5". */
const WRONG: Record<string, Json[]> = {
  string: [5, 0, true, null, [], {}, ['a']],
  integer: ['5', 5.5, 'five', true, [], {}, -1],
  array: ['users.read', 5, {}, null, [5]],
  object: ['x', 5, [], true],
  email: ['not-an-email', 5, '', 'a@'],
};

/** A route's valid body and the kind of each field (dotted paths for nested fields). */
type Spec = {
  method: 'POST' | 'PATCH';
  url: () => string;
  valid: () => Body;
  fields: Record<string, keyof typeof WRONG>;
  required: string[];
  count: () => Promise<number>;
  /** Unknown fields to add, dotted paths allowed. */
  unknown: string[];
};

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return ctx.db.withOwner(async (tx) => {
    const { rows } = await tx.query<{ n: number }>(sql, params);
    return rows[0]?.n ?? -1;
  });
}

const SPECS: Record<string, Spec> = {
  'POST /v1/users': {
    method: 'POST',
    url: () => '/v1/users',
    valid: () => ({ email: `bad-${uniqueSlug()}@example.test`, name: 'Valid Name', role: 'member', password: PASSWORD }),
    fields: { email: 'email', name: 'string', role: 'string', password: 'string' },
    required: ['email', 'name', 'role', 'password'],
    count: () => count('SELECT count(*)::int AS n FROM users WHERE tenant_id = $1', [tenant.id]),
    unknown: ['tenant_id', 'is_admin', 'status', 'id', 'passwordHash'],
  },
  'PATCH /v1/users/:id': {
    method: 'PATCH',
    url: () => `/v1/users/${target}`,
    valid: () => ({ name: 'Renamed', role: 'viewer' }),
    fields: { name: 'string', role: 'string' },
    required: [],
    count: () =>
      count(`SELECT count(*)::int AS n FROM users WHERE tenant_id = $1 AND name = 'Target' AND role_key = 'member'`, [tenant.id]),
    unknown: ['email', 'status', 'tenant_id', 'password'],
  },
  'POST /v1/api-keys': {
    method: 'POST',
    url: () => '/v1/api-keys',
    valid: () => ({ name: 'valid key', scopes: ['users.read'], expiresAt: null }),
    fields: { name: 'string', scopes: 'array', expiresAt: 'string' },
    required: ['name', 'scopes'],
    count: () => count('SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = $1', [tenant.id]),
    unknown: ['tenant_id', 'key', 'hint', 'createdBy'],
  },
  'POST /v1/operator/tenants': {
    method: 'POST',
    url: () => '/v1/operator/tenants',
    valid: () => ({
      slug: uniqueSlug('bad'),
      name: 'Valid tenant',
      tier: 'custom',
      locale: 'en-GB',
      timezone: 'Europe/Rome',
      metadata: { source: 'test' },
      customLimits: { seats: 5, jobPriority: 10, ssoAllowed: false },
      owner: { email: `owner-${uniqueSlug()}@example.test`, name: 'Owner', password: PASSWORD },
    }),
    fields: {
      slug: 'string',
      name: 'string',
      tier: 'string',
      locale: 'string',
      timezone: 'string',
      metadata: 'object',
      customLimits: 'object',
      'customLimits.seats': 'integer',
      'customLimits.jobPriority': 'integer',
      owner: 'object',
      'owner.email': 'email',
      'owner.name': 'string',
      'owner.password': 'string',
    },
    required: ['slug', 'name', 'owner', 'owner.email', 'owner.name', 'owner.password'],
    count: () => count('SELECT count(*)::int AS n FROM tenants'),
    unknown: ['id', 'status', 'owner.role', 'owner.is_admin', 'customLimits.unlimited'],
  },
};

function setPath(body: Body, path: string, value: Json | undefined): Body {
  const copy = structuredClone(body);
  const parts = path.split('.');
  let node = copy as { [key: string]: Json };
  for (const part of parts.slice(0, -1)) node = node[part] as { [key: string]: Json };
  const last = parts.at(-1) as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

function casesOf(spec: Spec): Case[] {
  const cases: Case[] = [];
  for (const field of spec.required) {
    cases.push({ label: `missing ${field}`, body: setPath(spec.valid(), field, undefined), field });
  }
  for (const [field, kind] of Object.entries(spec.fields)) {
    for (const value of WRONG[kind] as Json[]) {
      // `expiresAt` may be null; every other case is wrong for its field.
      if (field === 'expiresAt' && value === null) continue;
      cases.push({ label: `${field} = ${JSON.stringify(value)}`, body: setPath(spec.valid(), field, value), field });
    }
  }
  for (const field of spec.unknown) {
    cases.push({ label: `unknown ${field}`, body: setPath(spec.valid(), field, 'x'), field });
  }
  cases.push({ label: 'body is an array', body: [spec.valid()], field: '' });
  cases.push({ label: 'body is a string', body: 'x', field: '' });
  return cases;
}

beforeAll(async () => {
  ctx = await createTestContext();
  tenant = await ctx.tenant();
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/users',
    headers: tenant.auth,
    payload: { email: `target-${uniqueSlug()}@example.test`, name: 'Target', role: 'member', password: PASSWORD },
  });
  target = res.json().id;
});

afterAll(async () => {
  await ctx?.close();
});

describe('bad input on write routes', () => {
  for (const [key, spec] of Object.entries(SPECS)) {
    it(`${key}: 400 validation_failed naming the field, no partial write, never 5xx`, async () => {
      const headers = key.includes('/operator/') ? ctx.operatorAuth : tenant.auth;
      const before = await spec.count();
      const failures: string[] = [];
      for (const c of casesOf(spec)) {
        const res = await ctx.app.inject({
          method: spec.method,
          url: spec.url(),
          headers: { ...headers, 'content-type': 'application/json' },
          payload: JSON.stringify(c.body),
        });
        if (res.statusCode >= 500) failures.push(`${c.label}: ${res.statusCode} ${res.body}`);
        if (res.statusCode !== 400) {
          failures.push(`${c.label}: expected 400, got ${res.statusCode} ${res.body}`);
          continue;
        }
        expectProblem(res, 400, 'validation_failed');
        const body = res.json() as { detail: string; errors?: Array<{ path: string }> };
        const path = c.field ? `body/${c.field.split('.').join('/')}` : 'body';
        const names = (text: string) => text === path || text.startsWith(`${path}/`) || text.startsWith(`${path} `);
        const named = names(body.detail) && (body.errors ?? []).some((e) => names(e.path));
        if (!named) failures.push(`${c.label}: the field ${c.field} is not named: ${res.body}`);
      }
      expect(failures).toEqual([]);
      expect(await spec.count(), 'no row written or changed').toBe(before);
      // Positive control: the valid body is accepted, so the cases above failed for the reason given.
      const ok = await ctx.app.inject({ method: spec.method, url: spec.url(), headers, payload: spec.valid() });
      expect(ok.statusCode, ok.body).toBeLessThan(300);
      expect(await spec.count()).not.toBe(before);
    });
  }

  it('names the field for values the service refuses (unknown role, past expiry, empty PATCH)', async () => {
    const usersBefore = await SPECS['POST /v1/users']?.count();
    const role = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: tenant.auth,
      payload: { email: `r-${uniqueSlug()}@example.test`, name: 'R', role: 'superuser', password: PASSWORD },
    });
    expectProblem(role, 400, 'validation_failed');
    expect(role.body).toContain('role');
    expect(await SPECS['POST /v1/users']?.count()).toBe(usersBefore);
    const expiry = await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: tenant.auth,
      payload: { name: 'old', scopes: ['users.read'], expiresAt: '2001-01-01T00:00:00Z' },
    });
    expectProblem(expiry, 400, 'validation_failed');
    expect(expiry.body).toContain('expiresAt');
    const scope = await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: tenant.auth,
      payload: { name: 's', scopes: ['root'] },
    });
    expectProblem(scope, 400, 'invalid_scope');
    const empty = await ctx.app.inject({ method: 'PATCH', url: `/v1/users/${target}`, headers: tenant.auth, payload: {} });
    expectProblem(empty, 400, 'validation_failed');
    const limits = await ctx.app.inject({
      method: 'POST',
      url: '/v1/operator/tenants',
      headers: ctx.operatorAuth,
      payload: { ...SPECS['POST /v1/operator/tenants']?.valid(), tier: 'basic' },
    });
    expectProblem(limits, 400, 'validation_failed');
    expect(limits.body).toContain('customLimits');
  });
});

describe('wrong credentials on login', () => {
  it('answers unknown tenant, unknown email, wrong password and deactivated user identically (401 invalid_credentials)', async () => {
    const other = await ctx.tenant();
    const deactivated = await ctx.user(tenant, 'member');
    const off = await ctx.app.inject({ method: 'POST', url: `/v1/users/${deactivated.id}/deactivate`, headers: tenant.auth });
    expect(off.statusCode).toBe(200);
    const attempts: Record<string, { tenant: string; email: string; password: string }> = {
      'unknown tenant': { tenant: `nope-${uniqueSlug()}`, email: tenant.ownerEmail, password: PASSWORD },
      'unknown email': { tenant: tenant.slug, email: `nobody-${uniqueSlug()}@example.test`, password: PASSWORD },
      'wrong password': { tenant: tenant.slug, email: tenant.ownerEmail, password: `${PASSWORD}!` },
      'deactivated user, right password': { tenant: tenant.slug, email: deactivated.email, password: PASSWORD },
      "another tenant's user": { tenant: tenant.slug, email: other.ownerEmail, password: PASSWORD },
    };
    const responses = [];
    for (const [label, payload] of Object.entries(attempts)) {
      const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload });
      expectProblem(res, 401, 'invalid_credentials');
      responses.push({
        label,
        status: res.statusCode,
        body: res.body,
        type: res.headers['content-type'],
        auth: res.headers['www-authenticate'],
      });
    }
    const first = responses[0] as (typeof responses)[number];
    for (const r of responses) {
      expect({ ...r, label: '' }, r.label).toEqual({ ...first, label: '' });
    }
    // Positive control: the right credentials do log in.
    const good = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: tenant.ownerEmail, password: PASSWORD },
    });
    expect(good.statusCode).toBe(200);
  });
});
