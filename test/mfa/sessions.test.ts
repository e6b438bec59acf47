/**
 * T21 (termination) and T22 (session lifetime and step-up) with the app's clock injected: listing
 * and ending one's sessions, signing out everywhere else, an administrator's kill switch,
 * deactivation, idle and absolute lifetimes from the tenant's security policy, and step-up on API
 * keys with admin scopes.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, type TestTenant } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';
import { bearer, createMfaContext, FIREFOX_LINUX, login, type MfaContext, SAFARI_IPHONE } from './support.ts';

let ctx: MfaContext;
let tenant: TestTenant;

beforeAll(async () => {
  ctx = await createMfaContext();
  tenant = await ctx.tenant();
  // New devices are challenged by adaptive MFA (test/mfa/adaptive.test.ts); here they just log in.
  const res = await ctx.app.inject({
    method: 'PATCH',
    url: '/v1/config',
    headers: { ...tenant.auth, 'if-match': '*' },
    payload: { security: { adaptiveMfa: false } },
  });
  expect(res.statusCode, res.body).toBe(200);
});

afterAll(async () => {
  await ctx?.close();
});

const me = (token: string) => ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
const refresh = (refreshToken: string) => ctx.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });

async function tokens(email: string, client: { userAgent?: string; ip?: string } = {}, of: TestTenant = tenant) {
  const res = await login(ctx, of, email, client);
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json().accessToken, res.body).toEqual(expect.any(String));
  return res.json() as { accessToken: string; refreshToken: string };
}

describe('listing and ending sessions (T21)', () => {
  it('lists live sessions with device, address and the current flag; ends one, then all others', async () => {
    const user = await ctx.user(tenant, 'member');
    const firefox = await tokens(user.email, { userAgent: FIREFOX_LINUX });
    const iphone = await tokens(user.email, { userAgent: SAFARI_IPHONE });
    const list = await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(firefox.accessToken) });
    expect(list.statusCode, list.body).toBe(200);
    const sessions = list.json().data as { id: string; device: string; ip: string; current: boolean; lastSeenAt: string }[];
    expect(sessions).toHaveLength(3);
    expect(sessions.filter((s) => s.current).map((s) => s.device)).toEqual(['Firefox on Linux']);
    expect(sessions.map((s) => s.device)).toContain('Safari on iOS');
    expect(sessions.every((s) => s.ip === '127.0.0.1' && !Number.isNaN(Date.parse(s.lastSeenAt)))).toBe(true);
    // Pagination.
    const page = await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions?limit=2', headers: user.auth });
    expect(page.json().data).toHaveLength(2);
    const rest = await ctx.app.inject({
      method: 'GET',
      url: `/v1/me/sessions?limit=2&cursor=${page.json().nextCursor}`,
      headers: user.auth,
    });
    expect(rest.json().data).toHaveLength(1);

    const iphoneId = sessions.find((s) => s.device === 'Safari on iOS')?.id as string;
    const del = await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${iphoneId}`, headers: bearer(firefox.accessToken) });
    expect(del.statusCode, del.body).toBe(204);
    expectProblem(await me(iphone.accessToken), 401, 'invalid_token');
    expectProblem(await refresh(iphone.refreshToken), 401, 'invalid_grant');
    // Gone is gone: a second delete, another user's session and a random id all answer 404.
    expectProblem(await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${iphoneId}`, headers: user.auth }), 404, 'not_found');
    const other = await ctx.user(tenant, 'member');
    const otherList = await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: other.auth });
    const otherId = otherList.json().data[0].id as string;
    expectProblem(await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${otherId}`, headers: user.auth }), 404, 'not_found');
    expect((await me(other.token)).statusCode).toBe(200);
    expectProblem(await ctx.app.inject({ method: 'DELETE', url: `/v1/me/sessions/${randomUUID()}`, headers: user.auth }), 404);

    const others = await ctx.app.inject({ method: 'POST', url: '/v1/me/sessions/revoke-others', headers: bearer(firefox.accessToken) });
    expect(others.json()).toEqual({ revoked: 1 });
    expectProblem(await me(user.token), 401, 'invalid_token');
    expect((await me(firefox.accessToken)).statusCode).toBe(200);
    const left = await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(firefox.accessToken) });
    expect(left.json().data.map((s: { current: boolean }) => s.current)).toEqual([true]);
  });

  it('an API key has no sessions: 403 on the session routes of a user', async () => {
    const key = await ctx.apiKey(tenant, ['users.read']);
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: key.auth }), 403, 'forbidden');
    expectProblem(await ctx.app.inject({ method: 'POST', url: '/v1/me/sessions/revoke-others', headers: key.auth }), 403, 'forbidden');
  });

  it("an administrator lists and ends a user's sessions at once; an owner's only an owner", async () => {
    const user = await ctx.user(tenant, 'member');
    const second = await tokens(user.email, { userAgent: FIREFOX_LINUX });
    const admin = await ctx.user(tenant, 'admin');
    const list = await ctx.app.inject({ method: 'GET', url: `/v1/users/${user.id}/sessions`, headers: admin.auth });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().data).toHaveLength(2);
    expect(list.json().data.some((s: { current: boolean }) => s.current)).toBe(false);
    const kill = await ctx.app.inject({ method: 'POST', url: `/v1/users/${user.id}/sessions/revoke`, headers: admin.auth });
    expect(kill.json()).toEqual({ revoked: 2 });
    for (const token of [user.token, second.accessToken]) expectProblem(await me(token), 401, 'invalid_token');
    for (const rt of [user.refreshToken, second.refreshToken]) expectProblem(await refresh(rt), 401, 'invalid_grant');
    // The user can log in again: the account is not locked.
    await tokens(user.email);
    const ownerId = (await me(tenant.token)).json().user.id as string;
    expectProblem(
      await ctx.app.inject({ method: 'POST', url: `/v1/users/${ownerId}/sessions/revoke`, headers: admin.auth }),
      403,
      'forbidden',
    );
    expectProblem(
      await ctx.app.inject({ method: 'POST', url: `/v1/users/${randomUUID()}/sessions/revoke`, headers: admin.auth }),
      404,
      'not_found',
    );
    const member = await ctx.user(tenant, 'member');
    expectProblem(
      await ctx.app.inject({ method: 'POST', url: `/v1/users/${user.id}/sessions/revoke`, headers: member.auth }),
      403,
      'forbidden',
    );
  });

  it('deactivating a user ends all of their sessions; login issues a fresh session each time', async () => {
    const user = await ctx.user(tenant, 'member');
    const again = await tokens(user.email);
    expect(again.refreshToken).not.toBe(user.refreshToken);
    const sessionsBefore = await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: user.auth });
    expect(new Set(sessionsBefore.json().data.map((s: { id: string }) => s.id)).size).toBe(2);
    const off = await ctx.app.inject({ method: 'POST', url: `/v1/users/${user.id}/deactivate`, headers: tenant.auth });
    expect(off.statusCode).toBe(200);
    for (const token of [user.token, again.accessToken]) expectProblem(await me(token), 401, 'invalid_token');
    for (const rt of [user.refreshToken, again.refreshToken]) expectProblem(await refresh(rt), 401, 'invalid_grant');
  });

  it('revokeUserSessions keeps the session named as the exception (used by password change)', async () => {
    const { revokeUserSessions } = await import('../../src/modules/identity/index.ts');
    const user = await ctx.user(tenant, 'member');
    const keep = await tokens(user.email);
    const keepId = (await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(keep.accessToken) }))
      .json()
      .data.find((s: { current: boolean }) => s.current).id as string;
    const ended = await ctx.db.withTenant(tenant.id, (tx) => revokeUserSessions(tx, user.id, 'password_changed', keepId));
    expect(ended).toHaveLength(1);
    await ctx.palazzo.services.bus.publish({ type: 'user', tenantId: tenant.id, userId: user.id });
    for (const id of ended) await ctx.palazzo.services.bus.publish({ type: 'session', tenantId: tenant.id, sessionId: id });
    expectProblem(await me(user.token), 401, 'invalid_token');
    expect((await me(keep.accessToken)).statusCode).toBe(200);
  });
});

describe('session lifetimes from the security policy (T22)', () => {
  let policyTenant: TestTenant;

  beforeAll(async () => {
    policyTenant = await ctx.tenant();
    // NIST 800-63B-4 AAL2: 1 hour idle, 24 hours absolute.
    const res = await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/config',
      headers: { ...policyTenant.auth, 'if-match': '*' },
      payload: { security: { sessionIdleMinutes: 60, sessionAbsoluteMinutes: 1440 } },
    });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('idle 61 minutes: the refresh is refused and the session ended; 59 minutes is fine', async () => {
    const pair = await tokens(policyTenant.ownerEmail, {}, policyTenant);
    ctx.clock.now += 59 * 60_000;
    const ok = await refresh(pair.refreshToken);
    expect(ok.statusCode, ok.body).toBe(200);
    // Cached on this node now: the end of the session must drop it.
    expect((await me(ok.json().accessToken)).statusCode).toBe(200);
    ctx.clock.now += 61 * 60_000;
    const idle = await refresh(ok.json().refreshToken);
    expectProblem(idle, 401, 'invalid_grant');
    expect(idle.json().reason).toBe('idle_timeout');
    expectProblem(await me(ok.json().accessToken), 401, 'invalid_token');
  });

  it('absolute 24 h + 1 s: refused even when active all along', async () => {
    const start = ctx.clock.now;
    let pair = await tokens(policyTenant.ownerEmail, {}, policyTenant);
    while (ctx.clock.now + 50 * 60_000 < start + 24 * 3_600_000) {
      ctx.clock.now += 50 * 60_000;
      const res = await refresh(pair.refreshToken);
      expect(res.statusCode, res.body).toBe(200);
      pair = res.json();
    }
    ctx.clock.now = start + 24 * 3_600_000 + 1000;
    const late = await refresh(pair.refreshToken);
    expectProblem(late, 401, 'invalid_grant');
    expect(late.json().reason).toBe('absolute_timeout');
  });

  it('a sessions list leaves out idle sessions', async () => {
    const user = await ctx.user(policyTenant, 'member');
    ctx.clock.now += 61 * 60_000;
    const fresh = await tokens(user.email, {}, policyTenant);
    const list = await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(fresh.accessToken) });
    expect(list.json().data).toHaveLength(1);
  });
});

describe('step-up (T22)', () => {
  it('API keys with admin scopes need a recent authentication; other scopes do not', async () => {
    const admin = await ctx.user(tenant, 'admin');
    const create = (scopes: string[], auth = admin.auth) =>
      ctx.app.inject({ method: 'POST', url: '/v1/api-keys', headers: auth, payload: { name: 'step-up', scopes } });
    expect((await create(['users.write'])).statusCode).toBe(201);
    ctx.clock.now += 11 * 60_000;
    for (const scopes of [['users.write'], ['api_keys.write'], ['settings.write'], ['users.read', 'config.write']]) {
      const res = await create(scopes);
      expectProblem(res, 401, 'step_up_required');
    }
    expect((await create(['users.read'])).statusCode).toBe(201);
    // An access token from a refresh carries the session's original auth_time: still stale.
    const refreshed = await refresh(admin.refreshToken);
    expectProblem(await create(['users.write'], bearer(refreshed.json().accessToken)), 401, 'step_up_required');
    const reauth = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/reauthenticate',
      headers: bearer(refreshed.json().accessToken),
      payload: { password: PASSWORD },
    });
    expect(reauth.statusCode, reauth.body).toBe(200);
    expect((await create(['users.write'], bearer(refreshed.json().accessToken))).statusCode).toBe(201);
    // The tenant decides how recent: 30 minutes.
    await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/config',
      headers: { ...tenant.auth, 'if-match': '*' },
      payload: { security: { stepUpMinutes: 30 } },
    });
    ctx.clock.now += 20 * 60_000;
    expect((await create(['users.write'], bearer(refreshed.json().accessToken))).statusCode).toBe(201);
    // API keys cannot step up; they stay bounded by their own scopes.
    const made = await create(['api_keys.write'], bearer(refreshed.json().accessToken));
    expect(made.statusCode, made.body).toBe(201);
    expect((await create(['api_keys.write'], bearer(made.json().key))).statusCode).toBe(201);
  });

  it('a role change needs a recent authentication; a rename does not', async () => {
    const admin = await ctx.user(tenant, 'admin');
    const target = await ctx.user(tenant, 'member');
    ctx.clock.now += 31 * 60_000; // this tenant's stepUpMinutes is 30 (set above)
    const patch = (payload: object) => ctx.app.inject({ method: 'PATCH', url: `/v1/users/${target.id}`, headers: admin.auth, payload });
    expectProblem(await patch({ role: 'viewer' }), 401, 'step_up_required');
    expect((await patch({ name: 'Renamed' })).statusCode).toBe(200);
    const reauth = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/reauthenticate',
      headers: admin.auth,
      payload: { password: PASSWORD },
    });
    expect(reauth.statusCode, reauth.body).toBe(200);
    const changed = await patch({ role: 'viewer' });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json().role).toBe('viewer');
  });

  it('access tokens carry auth_time and amr', async () => {
    const pair = await tokens(tenant.ownerEmail);
    const payload = JSON.parse(Buffer.from(pair.accessToken.split('.')[1] as string, 'base64url').toString());
    expect(payload.amr).toEqual(['pwd']);
    expect(Math.abs(payload.auth_time * 1000 - ctx.clock.now)).toBeLessThan(2000);
  });
});
