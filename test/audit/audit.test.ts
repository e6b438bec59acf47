/**
 * The audit log (F-I1, T37): completeness of what is recorded (changes in their own transaction,
 * refusals, security events), append-only for the request role, tamper detection by the hash chain,
 * retention that keeps the chain verifiable, export as JSON Lines, hygiene (no secrets, no forged
 * lines), filters and pagination.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionOf, redact } from '../../src/modules/audit/index.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';

let ctx: TestContext;
let tenant: TestTenant;

type Entry = {
  id: string;
  seq: number;
  at: string;
  actor: { type: string; id: string | null };
  action: string;
  outcome: string;
  target: { type: string; id: string | null } | null;
  summary: Record<string, unknown>;
  requestId: string | null;
  ip: string | null;
};

async function entries(t: TestTenant, query = ''): Promise<Entry[]> {
  const res = await ctx.app.inject({ method: 'GET', url: `/v1/audit-log?limit=200${query}`, headers: t.auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
}

async function verify(t: TestTenant) {
  const res = await ctx.app.inject({ method: 'GET', url: '/v1/audit-log/verify', headers: t.auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** Edits the log as a database administrator would (the owner, with the maintenance switch). */
async function tamper(tenantId: string, sql: string, params: unknown[]) {
  await ctx.db.withOwner(async (tx) => {
    await tx.query("SELECT set_config('palazzo.audit_maintenance', 'on', true)");
    await tx.query(sql, [tenantId, ...params]);
  });
}

beforeAll(async () => {
  ctx = await createTestContext();
  tenant = await ctx.tenant();
});

afterAll(async () => {
  await ctx?.close();
});

describe('audit log', () => {
  it('names actions from routes', () => {
    expect(actionOf('POST', '/v1/api-keys')).toBe('api_keys.create');
    expect(actionOf('POST', '/v1/api-keys/:id/rotate')).toBe('api_keys.rotate');
    expect(actionOf('DELETE', '/v1/api-keys/:id')).toBe('api_keys.delete');
    expect(actionOf('PATCH', '/v1/config')).toBe('config.update');
    expect(actionOf('POST', '/v1/auth/login')).toBe('auth.login');
    expect(actionOf('POST', '/v1/knowledge-bases/:id/documents')).toBe('knowledge_bases.documents.create');
  });

  it('redacts secrets and bounds what it keeps', () => {
    const out = redact({
      password: 'x',
      newPassword: 'y',
      refreshToken: 'z',
      code: '123456',
      name: 'ok',
      scopes: ['users.read'],
      nested: { clientSecret: 's', key: 'pzk_abc' },
      long: 'a'.repeat(500),
    }) as Record<string, unknown>;
    expect(out.password).toBe('[redacted]');
    expect(out.newPassword).toBe('[redacted]');
    expect(out.refreshToken).toBe('[redacted]');
    expect(out.code).toBe('[redacted]');
    expect(out.name).toBe('ok');
    expect(out.scopes).toEqual(['users.read']);
    expect(out.nested).toEqual({ clientSecret: '[redacted]', key: '[redacted]' });
    expect((out.long as string).length).toBeLessThan(210);
  });

  it('records a change with who, what, when, request id and address, in the transaction of the change', async () => {
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { ...tenant.auth, 'x-request-id': 'req-audit-1', 'x-forwarded-for': '203.0.113.9' },
      payload: { name: 'audited key', scopes: ['users.read'] },
    });
    expect(res.statusCode, res.body).toBe(201);
    const key = res.json();
    const [entry] = await entries(tenant, '&requestId=req-audit-1');
    expect(entry).toMatchObject({
      action: 'api_keys.create',
      outcome: 'success',
      actor: { type: 'user' },
      requestId: 'req-audit-1',
      target: { type: 'api_keys' },
    });
    expect(entry?.actor.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(entry?.ip).toBeTruthy();
    expect(Date.parse(entry?.at ?? '')).toBeGreaterThan(Date.now() - 60_000);
    expect(entry?.summary).toMatchObject({ method: 'POST', route: '/v1/api-keys', body: { name: 'audited key', scopes: ['users.read'] } });
    // The secret returned once is nowhere in the log.
    const all = JSON.stringify(await entries(tenant));
    expect(all).not.toContain(key.key);
  });

  it('a write that fails leaves no success entry, and is recorded as a failure', async () => {
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { ...tenant.auth, 'x-request-id': 'req-audit-bad' },
      payload: { name: 'bad', scopes: ['no.such.permission'] },
    });
    expect(res.statusCode).toBe(400);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const found = await entries(tenant, '&requestId=req-audit-bad');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ outcome: 'failure', action: 'api_keys.create', summary: { status: 400, code: 'invalid_scope' } });
  });

  it('records refused permissions, failed logins and successful logins', async () => {
    const viewer = await ctx.user(tenant, 'viewer');
    const denied = await ctx.app.inject({
      method: 'GET',
      url: '/v1/users',
      headers: { ...viewer.auth, 'x-request-id': 'req-audit-denied' },
    });
    expect(denied.statusCode).toBe(403);
    const failed = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'x-request-id': 'req-audit-login-failed' },
      payload: { tenant: tenant.slug, email: viewer.email, password: 'wrong password, quite long' },
    });
    expect(failed.statusCode).toBe(401);
    const ok = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'x-request-id': 'req-audit-login-ok' },
      payload: { tenant: tenant.slug, email: viewer.email, password: PASSWORD },
    });
    expect(ok.statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [deniedEntry] = await entries(tenant, '&requestId=req-audit-denied');
    expect(deniedEntry).toMatchObject({
      outcome: 'failure',
      actor: { type: 'user', id: viewer.id },
      summary: { status: 403, code: 'forbidden' },
    });
    const [failedEntry] = await entries(tenant, '&requestId=req-audit-login-failed');
    expect(failedEntry).toMatchObject({ action: 'security.login_failed', outcome: 'failure', actor: { type: 'user', id: viewer.id } });
    const [okEntry] = await entries(tenant, '&requestId=req-audit-login-ok');
    expect(okEntry).toMatchObject({ action: 'auth.login', outcome: 'success' });
    // The password typed is on no entry.
    expect(JSON.stringify(await entries(tenant))).not.toContain('wrong password');
    expect(JSON.stringify(await entries(tenant))).not.toContain(PASSWORD);
  });

  it('the request role can append but never update or delete an entry', async () => {
    for (const sql of ["UPDATE audit_log SET action = 'forged'", 'DELETE FROM audit_log', 'TRUNCATE audit_log']) {
      await expect(ctx.db.withTenant(tenant.id, (tx) => tx.query(sql))).rejects.toThrow(/permission denied|append-only/);
    }
    // Even the owner is refused without the maintenance switch (the trigger).
    await expect(ctx.db.withOwner((tx) => tx.query("UPDATE audit_log SET action = 'forged'"))).rejects.toThrow(/append-only/);
  });

  it('verification passes on an intact chain and names the first tampered position', async () => {
    const t = await ctx.tenant();
    for (let i = 0; i < 4; i++) {
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: t.auth,
        payload: { name: `k${i}`, scopes: ['users.read'] },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    const intact = await verify(t);
    expect(intact).toMatchObject({ valid: true, brokenAt: null });
    expect(intact.checked).toBeGreaterThanOrEqual(5);
    const list = await entries(t);
    const middle = list[2] as Entry;

    // An edited summary: the entry's hash no longer matches.
    await tamper(t.id, `UPDATE audit_log SET summary = '{"forged":true}' WHERE tenant_id = $1 AND seq = $2`, [middle.seq]);
    expect((await verify(t)).brokenAt).toEqual({ seq: middle.seq, reason: 'hash_mismatch' });

    // A removed entry: the sequence has a hole.
    await tamper(t.id, 'DELETE FROM audit_log WHERE tenant_id = $1 AND seq = $2', [middle.seq]);
    expect((await verify(t)).brokenAt).toEqual({ seq: middle.seq, reason: 'missing_entry' });
  });

  it('a truncated tail is detected against the head', async () => {
    const t = await ctx.tenant();
    await ctx.app.inject({ method: 'POST', url: '/v1/api-keys', headers: t.auth, payload: { name: 'k', scopes: ['users.read'] } });
    const [newest] = await entries(t);
    await tamper(t.id, 'DELETE FROM audit_log WHERE tenant_id = $1 AND seq = $2', [newest?.seq]);
    const report = await verify(t);
    expect(report.valid).toBe(false);
    expect(report.brokenAt.reason).toBe('head_mismatch');
  });

  it('a name with CR LF, ANSI codes and a JSON fragment stays inside one entry and one export line', async () => {
    const t = await ctx.tenant();
    const name = 'Eve\r\n{"action":"forged","outcome":"success"}\u001b[31m red';
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: t.auth,
      payload: { email: `eve-${uniqueSlug()}@x.test`, name, role: 'member', password: PASSWORD },
    });
    expect(created.statusCode, created.body).toBe(201);
    const list = await entries(t);
    expect(list.filter((e) => e.action === 'forged')).toHaveLength(0);
    const exported = await ctx.app.inject({ method: 'GET', url: '/v1/audit-log/export', headers: t.auth });
    expect(exported.statusCode).toBe(200);
    expect(exported.headers['content-type']).toContain('application/x-ndjson');
    const lines = exported.body.trimEnd().split('\n');
    const parsed = lines.map((line) => JSON.parse(line) as Entry);
    // The export recorded itself before it read the log, so it is in it; oldest first.
    expect(parsed.at(-1)?.action).toBe('audit_log.export');
    expect(parsed.map((e) => e.seq)).toEqual([...parsed.map((e) => e.seq)].sort((x, y) => x - y));
    expect(parsed.filter((e) => e.action === 'users.create')[0]?.summary).toMatchObject({ body: { name } });
    expect(lines).toHaveLength(list.length + 1);
  });

  it('filters and pages through entries', async () => {
    const t = await ctx.tenant();
    for (let i = 0; i < 5; i++) {
      await ctx.app.inject({ method: 'POST', url: '/v1/api-keys', headers: t.auth, payload: { name: `p${i}`, scopes: ['users.read'] } });
    }
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/audit-log?limit=2&outcome=success&action=api_keys${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await ctx.app.inject({ method: 'GET', url, headers: t.auth });
      expect(res.statusCode).toBe(200);
      const body: { data: Entry[]; nextCursor: string | null } = res.json();
      for (const e of body.data) {
        expect(e.action).toBe('api_keys.create');
        seen.push(e.seq);
      }
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    const future = await entries(t, `&from=${new Date(Date.now() + 3_600_000).toISOString()}`);
    expect(future).toHaveLength(0);
    const bad = await ctx.app.inject({ method: 'GET', url: '/v1/audit-log?cursor=bm9wZQ', headers: t.auth });
    expect(bad.statusCode).toBe(400);
  });

  it('retention removes old entries per tier and the chain still verifies from its anchor', async () => {
    const t = await ctx.tenant({ tier: 'basic' });
    for (let i = 0; i < 3; i++) {
      await ctx.app.inject({ method: 'POST', url: '/v1/api-keys', headers: t.auth, payload: { name: `r${i}`, scopes: ['users.read'] } });
    }
    const before = await entries(t);
    expect(before.length).toBeGreaterThanOrEqual(4);
    const audit = ctx.palazzo.services.audit;
    // Nothing is old yet.
    const none = await audit.applyRetention(new Date());
    expect(none.removed).toBe(0);
    // Thirty-one days on, every entry written so far is past retention for this tenant.
    const later = new Date(Date.now() + 31 * 86_400_000);
    await audit.applyRetention(later);
    expect(await entries(t)).toHaveLength(0);
    const report = await verify(t);
    expect(report).toMatchObject({ valid: true, checked: 0, anchorSeq: before[0]?.seq });
    // New entries chain on from the anchor.
    await ctx.app.inject({ method: 'POST', url: '/v1/api-keys', headers: t.auth, payload: { name: 'after', scopes: ['users.read'] } });
    const after = await verify(t);
    expect(after.valid).toBe(true);
    expect(after.firstSeq).toBe((before[0]?.seq ?? 0) + 1);
  });

  it("one tenant's log holds none of another's entries", async () => {
    const a = await ctx.tenant();
    const b = await ctx.tenant();
    await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { ...a.auth, 'x-request-id': 'req-only-a' },
      payload: { name: 'a', scopes: ['users.read'] },
    });
    expect(await entries(b, '&requestId=req-only-a')).toHaveLength(0);
    expect(await entries(a, '&requestId=req-only-a')).toHaveLength(1);
    const bIds = (await entries(b)).map((e) => e.id);
    const aIds = (await entries(a)).map((e) => e.id);
    expect(bIds.filter((id) => aIds.includes(id))).toEqual([]);
  });
});
