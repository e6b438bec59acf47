/**
 * T09: covert channels through constraints and error bodies.
 *
 * Uniqueness is per tenant, so B can reuse A's values without learning they exist; every error body
 * we can provoke (400, 404, 409, including ones raised by the database) is free of constraint
 * names, SQLSTATE codes and SQL; another tenant's id is answered exactly like a missing id and
 * like a malformed one.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, PASSWORD, type TestContext } from '../helpers/harness.ts';
import { type SeededTenant, seedTenant } from './support.ts';

type Reply = Awaited<ReturnType<TestContext['app']['inject']>>;

let ctx: TestContext;
let a: SeededTenant;
let b: SeededTenant;
/** Catalog names that must never reach a client: constraints, indexes, policies. */
let catalogNames: string[];
/** Every error response provoked in this file, checked at the end. */
const errors: Array<{ what: string; status: number; body: string }> = [];

function collect(what: string, res: Reply): Reply {
  if (res.statusCode >= 400) errors.push({ what, status: res.statusCode, body: res.body });
  return res;
}

const SQLSTATES = ['23505', '23503', '23514', '23502', '22P02', '22001', '22021', '22P05', '42501', '42P01', '42703', '40001', '25P02'];
const SQL_PATTERNS = [
  /\bINSERT\s+INTO\b/i,
  /\bDELETE\s+FROM\b/i,
  /\bUPDATE\s+\S+\s+SET\b/i,
  /\bSELECT\b/,
  /\bFROM\b/,
  /\bWHERE\b/,
  /violates/i,
  /duplicate key/i,
  /SQLSTATE/i,
  /constraint/i,
  /row-level security/i,
  /relation "/i,
  /palazzo_app/i,
  /\bpg_/i,
];

/** What a body leaks, if anything. */
function leaks(body: string): string[] {
  const found: string[] = [];
  for (const pattern of SQL_PATTERNS) if (pattern.test(body)) found.push(String(pattern));
  for (const code of SQLSTATES) if (new RegExp(`\\b${code}\\b`).test(body)) found.push(`SQLSTATE ${code}`);
  for (const name of catalogNames) if (body.includes(name)) found.push(`catalog name ${name}`);
  return found;
}

beforeAll(async () => {
  ctx = await createTestContext();
  a = await seedTenant(ctx);
  b = await seedTenant(ctx);
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ name: string }>(
      `SELECT conname::text AS name FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'
       UNION SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'i'
       UNION SELECT policyname::text FROM pg_policies WHERE schemaname = 'public'`,
    ),
  );
  catalogNames = rows.map((r) => r.name);
});
afterAll(async () => {
  await ctx?.close();
});

describe('T09: uniqueness is scoped per tenant', () => {
  it('B creates a user with the email of one of A’s users: 201, and each tenant keeps its own account', async () => {
    const shared = `shared-${randomUUID().slice(0, 8)}@example.test`;
    const inA = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: a.auth,
      payload: { email: shared, name: 'In A', role: 'member', password: PASSWORD },
    });
    expect(inA.statusCode, inA.body).toBe(201);
    const bPassword = 'another quite long passphrase for tenant b';
    const inB = collect(
      'B creates A’s email',
      await ctx.app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: b.auth,
        payload: { email: shared, name: 'In B', role: 'member', password: bPassword },
      }),
    );
    expect(inB.statusCode, inB.body).toBe(201);
    expect(inB.json().id).not.toBe(inA.json().id);

    // A's account is unchanged and B's password does not open it (nor A's B's).
    const aUser = await ctx.app.inject({ method: 'GET', url: `/v1/users/${inA.json().id}`, headers: a.auth });
    expect(aUser.json()).toMatchObject({ email: shared, name: 'In A' });
    const login = (tenant: string, password: string) =>
      ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant, email: shared, password } });
    expect((await login(b.slug, bPassword)).statusCode).toBe(200);
    expect((await login(a.slug, PASSWORD)).statusCode).toBe(200);
    expect((await login(a.slug, bPassword)).statusCode).toBe(401);
    expect((await login(b.slug, PASSWORD)).statusCode).toBe(401);
  });

  it('a duplicate inside the same tenant is a 409 whose body does not depend on the other tenant', async () => {
    const email = `dup-${randomUUID().slice(0, 8)}@example.test`;
    const create = (tenant: SeededTenant) =>
      ctx.app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: tenant.auth,
        payload: { email, name: 'Dup', role: 'member', password: PASSWORD },
      });
    expect((await create(a)).statusCode).toBe(201);
    expect((await create(b)).statusCode).toBe(201);
    const again = [collect('duplicate in A', await create(a)), collect('duplicate in B', await create(b))];
    for (const res of again) expect(res.statusCode, res.body).toBe(409);
    expect(again[0]?.body).toBe(again[1]?.body);
  });

  it('concurrent duplicates (which can reach the unique constraint itself) answer 201 once and a clean 409 otherwise', async () => {
    const email = `race-${randomUUID().slice(0, 8)}@example.test`;
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        ctx.app.inject({
          method: 'POST',
          url: '/v1/users',
          headers: b.auth,
          payload: { email, name: 'Race', role: 'member', password: PASSWORD },
        }),
      ),
    );
    for (const res of results) collect('concurrent duplicate', res);
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409]);
  });
});

describe('T09: another tenant’s id answers like a missing one', () => {
  it('every id route, as B, answers A’s id, a random UUID and a malformed id with the same status and body', async () => {
    const target = await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: a.auth,
      payload: { name: 'a key', scopes: ['users.read'] },
    });
    expect(target.statusCode).toBe(201);
    const aKeyId = target.json().id as string;
    const routes: Array<{ method: 'GET' | 'PATCH' | 'POST' | 'DELETE'; path: (id: string) => string; aId: string; payload?: object }> = [
      { method: 'GET', path: (id) => `/v1/users/${id}`, aId: a.member.id },
      { method: 'PATCH', path: (id) => `/v1/users/${id}`, aId: a.member.id, payload: { name: 'Renamed by B' } },
      { method: 'POST', path: (id) => `/v1/users/${id}/deactivate`, aId: a.member.id },
      { method: 'POST', path: (id) => `/v1/users/${id}/reactivate`, aId: a.member.id },
      { method: 'GET', path: (id) => `/v1/api-keys/${id}`, aId: aKeyId },
      { method: 'POST', path: (id) => `/v1/api-keys/${id}/rotate`, aId: aKeyId, payload: {} },
      { method: 'DELETE', path: (id) => `/v1/api-keys/${id}`, aId: aKeyId },
    ];
    for (const route of routes) {
      const call = (id: string) =>
        ctx.app.inject({
          method: route.method,
          url: route.path(id),
          headers: b.auth,
          ...(route.payload ? { payload: route.payload } : {}),
        });
      const label = `${route.method} ${route.path(':id')}`;
      const foreign = collect(`${label} with A's id`, await call(route.aId));
      const missing = collect(`${label} with a random id`, await call(randomUUID()));
      const malformed = collect(`${label} with a malformed id`, await call('not-a-uuid'));
      const sqlish = collect(`${label} with an SQL-ish id`, await call(encodeURIComponent("1' OR '1'='1")));
      expect(foreign.statusCode, `${label}: ${foreign.body}`).toBe(404);
      for (const other of [missing, malformed, sqlish]) {
        expect(other.statusCode, label).toBe(foreign.statusCode);
        expect(other.body, label).toBe(foreign.body);
        expect(other.headers['content-type'], label).toBe(foreign.headers['content-type']);
      }
    }
    // A's resources were not touched by any of B's attempts.
    const member = await ctx.app.inject({ method: 'GET', url: `/v1/users/${a.member.id}`, headers: a.auth });
    expect(member.json()).toMatchObject({ status: 'active', name: 'member user' });
    const key = await ctx.app.inject({ method: 'GET', url: `/v1/api-keys/${aKeyId}`, headers: a.auth });
    expect(key.json()).toMatchObject({ revokedAt: null });
    expect(
      (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${target.json().key}` } })).statusCode,
    ).toBe(200);
  });
});

describe('T09: error bodies reveal no SQL, constraint or SQLSTATE', () => {
  it('provokes 400s, 404s and 409s, some raised by the database, and none leaks', async () => {
    const as = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
      ctx.app.inject({ method, url, headers: { ...b.auth, ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: b.auth });
    const ownerId = me.json().user.id as string;
    const user = (over: Record<string, unknown>) => ({
      email: `x-${randomUUID().slice(0, 8)}@example.test`,
      name: 'X',
      role: 'member',
      password: PASSWORD,
      ...over,
    });
    const provoked: Array<[string, Reply]> = [
      ['invalid email', await as('POST', '/v1/users', user({ email: 'not an email' }))],
      ['unknown role', await as('POST', '/v1/users', user({ role: 'nope' }))],
      ['extra field tenant_id', await as('POST', '/v1/users', user({ tenant_id: a.id }))],
      ['missing field', await as('POST', '/v1/users', { email: 'y@example.test' })],
      ['weak password', await as('POST', '/v1/users', user({ password: 'short' }))],
      ['NUL byte in a name (refused by the database)', await as('PATCH', `/v1/users/${b.member.id}`, { name: 'a\u0000b' })],
      ['NUL byte in a new user', await as('POST', '/v1/users', user({ name: 'nul\u0000name' }))],
      ['empty patch', await as('PATCH', `/v1/users/${b.member.id}`, {})],
      ['malformed JSON', await as('POST', '/v1/users', '{"email": ', { 'content-type': 'application/json' })],
      ['invalid cursor', await as('GET', '/v1/users?cursor=Zm9vYmFy')],
      ['invalid limit', await as('GET', '/v1/users?limit=abc')],
      ['unknown scope', await as('POST', '/v1/api-keys', { name: 'k', scopes: ['no.such.scope'] })],
      ['deactivate oneself', await as('POST', `/v1/users/${ownerId}/deactivate`)],
      ['demote the last owner', await as('PATCH', `/v1/users/${ownerId}`, { role: 'member' })],
      ['duplicate email', await as('POST', '/v1/users', user({ email: b.member.email }))],
      ['unknown route', await as('GET', '/v1/no-such-thing')],
      ['tenant mismatch header', await as('GET', '/v1/users', undefined, { 'x-tenant-id': a.id })],
    ];
    for (const [what, res] of provoked) {
      collect(what, res);
      expect(res.statusCode, `${what}: ${res.body}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `${what}: ${res.body}`).toBeLessThan(500);
    }
    const statuses = new Set(errors.map((e) => e.status));
    for (const status of [400, 403, 404, 409]) expect(statuses.has(status), `provoked a ${status}`).toBe(true);

    const leaking = errors.map((e) => ({ ...e, leaks: leaks(e.body) })).filter((e) => e.leaks.length > 0);
    expect(leaking).toEqual([]);
  });

  it('the leak detector itself flags what a raw database error would show (self-check)', () => {
    expect(catalogNames).toContain('users_email_key');
    expect(leaks('duplicate key value violates unique constraint "users_email_key"')).not.toEqual([]);
    expect(leaks('{"detail":"23505"}')).toEqual(['SQLSTATE 23505']);
    expect(leaks('INSERT INTO users (tenant_id) VALUES ($1)')).not.toEqual([]);
    expect(leaks('new row violates row-level security policy for table "users"')).not.toEqual([]);
    expect(leaks('{"code":"not_found","detail":"user not found"}')).toEqual([]);
  });
});
