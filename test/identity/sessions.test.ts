/**
 * T20 (refresh-token rotation and reuse detection, RFC 9700 §4.14.2) and the termination part of
 * T21: logout and deactivation end a session's tokens at once.
 */
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { bearer, identityContext, scanDatabase } from './support.ts';

const REFRESH_SHAPE = /^pzr_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

let ctx: TestContext;
let tenant: TestTenant;
beforeAll(async () => {
  ctx = await identityContext();
  tenant = await ctx.tenant();
});
afterAll(async () => {
  await ctx?.close();
});

type Pair = { accessToken: string; refreshToken: string };

async function login(email: string): Promise<Pair> {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant: tenant.slug, email, password: PASSWORD } });
  expect(res.statusCode).toBe(200);
  return res.json() as Pair;
}

const refresh = (refreshToken: string) => ctx.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });
const me = (accessToken: string) => ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(accessToken) });

describe('refresh-token rotation', () => {
  it('issues refresh tokens of the shape pzr_<tenant hex>_<43 chars> (256 bits), stored only as SHA-256', async () => {
    const pair = await login(tenant.ownerEmail);
    const match = REFRESH_SHAPE.exec(pair.refreshToken);
    expect(match).not.toBeNull();
    expect(match?.[1]).toBe(tenant.id.replaceAll('-', ''));
    expect(Buffer.from(match?.[2] as string, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    expect(pair).toMatchObject({ tokenType: 'Bearer', expiresIn: expect.any(Number) });
    const sha = createHash('sha256').update(pair.refreshToken).digest('hex');
    const { hits } = await scanDatabase(ctx.db, [pair.refreshToken, match?.[2] as string, sha]);
    expect(hits.map((h) => `${h.table}.${h.column}:${h.needle === sha ? 'hash' : 'raw'}`)).toEqual(['refresh_tokens.token_hash:hash']);
  });

  it('chains RT1 → RT2 → RT3; replaying RT1 revokes the family: RT3 and the access tokens stop working', async () => {
    const first = await login(tenant.ownerEmail);
    const r2 = await refresh(first.refreshToken);
    expect(r2.statusCode).toBe(200);
    const second = r2.json() as Pair;
    expect(second.refreshToken).toMatch(REFRESH_SHAPE);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    const r3 = await refresh(second.refreshToken);
    expect(r3.statusCode).toBe(200);
    const third = r3.json() as Pair;
    // One session throughout.
    expect(decodeJwt(third.accessToken).sid).toBe(decodeJwt(first.accessToken).sid);
    expect((await me(third.accessToken)).statusCode).toBe(200);
    expect((await me(first.accessToken)).statusCode).toBe(200);

    // An already-used token is refused even before any replay.
    const replay = await refresh(first.refreshToken);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe('invalid_grant');

    const afterReplay = await refresh(third.refreshToken);
    expect(afterReplay.statusCode).toBe(401);
    expect(afterReplay.json().code).toBe('invalid_grant');
    for (const token of [first.accessToken, second.accessToken, third.accessToken]) {
      const res = await me(token);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('invalid_token');
    }
    // Other sessions of the same user are untouched.
    const elsewhere = await login(tenant.ownerEmail);
    expect((await me(elsewhere.accessToken)).statusCode).toBe(200);

    // The reuse is recorded as a security event naming the session.
    const sid = decodeJwt(first.accessToken).sid as string;
    const events = await ctx.app.inject({
      method: 'GET',
      url: '/v1/security-events?type=refresh_token_reuse&limit=200',
      headers: bearer(elsewhere.accessToken),
    });
    expect(events.statusCode).toBe(200);
    const reuse = (events.json().data as Array<{ type: string; severity: string; details: { sessionId?: string } }>).filter(
      (e) => e.details.sessionId === sid,
    );
    expect(reuse).toHaveLength(1);
    expect(reuse[0]).toMatchObject({ type: 'refresh_token_reuse', severity: 'high' });
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ revoked_at: Date | null; revoke_reason: string | null }>('SELECT revoked_at, revoke_reason FROM sessions WHERE id = $1', [
        sid,
      ]),
    );
    expect(rows[0]?.revoked_at).not.toBeNull();
    expect(rows[0]?.revoke_reason).toBe('refresh_token_reuse');
  });

  it('of parallel refreshes with the same token, at most one succeeds and at most one successor ever works', async () => {
    for (const parallel of [2, 5]) {
      const pair = await login(tenant.ownerEmail);
      const results = await Promise.all(Array.from({ length: parallel }, () => refresh(pair.refreshToken)));
      const ok = results.filter((r) => r.statusCode === 200);
      expect(ok.length).toBeLessThanOrEqual(1);
      for (const r of results.filter((x) => x.statusCode !== 200)) {
        expect(r.statusCode).toBe(401);
        expect(r.json().code).toBe('invalid_grant');
      }
      // A losing request is a reuse: the family is revoked, so even the one successor is dead.
      let live = 0;
      for (const r of ok) {
        const next = await refresh((r.json() as Pair).refreshToken);
        if (next.statusCode === 200) live += 1;
      }
      expect(live).toBeLessThanOrEqual(1);
      expect((await me(pair.accessToken)).statusCode).toBe(401);
    }
  });

  it('refuses malformed, unknown and cross-tenant-shaped refresh tokens with 401 invalid_grant', async () => {
    const pair = await login(tenant.ownerEmail);
    const other = await ctx.tenant();
    const candidates = [
      'pzr_not-a-token',
      `pzr_${tenant.id.replaceAll('-', '')}_${'A'.repeat(43)}`,
      pair.refreshToken.replace(tenant.id.replaceAll('-', ''), other.id.replaceAll('-', '')),
      pair.refreshToken.replace(/^pzr_/, 'pzk_'),
      `${pair.refreshToken.slice(0, -1)}${pair.refreshToken.endsWith('A') ? 'B' : 'A'}`,
    ];
    for (const token of candidates) {
      const res = await refresh(token);
      expect(res.statusCode, token).toBe(401);
      expect(res.json().code).toBe('invalid_grant');
    }
    // None of them counted as a use: the real token still works.
    expect((await refresh(pair.refreshToken)).statusCode).toBe(200);
  });
});

describe('termination', () => {
  it('logout: the access token and the refresh token are refused afterwards', async () => {
    const pair = await login(tenant.ownerEmail);
    expect((await me(pair.accessToken)).statusCode).toBe(200);
    const out = await ctx.app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(pair.accessToken) });
    expect(out.statusCode).toBe(204);
    const after = await me(pair.accessToken);
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('invalid_token');
    const rt = await refresh(pair.refreshToken);
    expect(rt.statusCode).toBe(401);
    expect(rt.json().code).toBe('invalid_grant');
    expect((await ctx.app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(pair.accessToken) })).statusCode).toBe(401);
    // Only that session ended.
    expect((await me(tenant.token)).statusCode).toBe(200);
  });

  it('deactivating a user refuses their access token at once, and their refresh token and password', async () => {
    const member = await ctx.user(tenant, 'member');
    const second = await login(member.email);
    expect((await me(member.token)).statusCode).toBe(200);
    expect((await me(second.accessToken)).statusCode).toBe(200);
    const deactivate = await ctx.app.inject({ method: 'POST', url: `/v1/users/${member.id}/deactivate`, headers: tenant.auth });
    expect(deactivate.statusCode).toBe(200);
    for (const token of [member.token, second.accessToken]) {
      const res = await me(token);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('invalid_token');
    }
    for (const token of [member.refreshToken, second.refreshToken]) {
      const res = await refresh(token);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('invalid_grant');
    }
    const relogin = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: member.email, password: PASSWORD },
    });
    expect(relogin.statusCode).toBe(401);
    expect(relogin.json().code).toBe('invalid_credentials');

    // Reactivation does not bring the old sessions back; a new login works.
    await ctx.app.inject({ method: 'POST', url: `/v1/users/${member.id}/reactivate`, headers: tenant.auth });
    expect((await me(member.token)).statusCode).toBe(401);
    expect((await refresh(second.refreshToken)).statusCode).toBe(401);
    const fresh = await login(member.email);
    expect((await me(fresh.accessToken)).statusCode).toBe(200);
  });

  it('a role change applies to the next request of an existing session', async () => {
    const admin = await ctx.user(tenant, 'admin');
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/api-keys', headers: admin.auth })).statusCode).toBe(200);
    const demote = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/users/${admin.id}`,
      headers: tenant.auth,
      payload: { role: 'viewer' },
    });
    expect(demote.statusCode).toBe(200);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/api-keys', headers: admin.auth })).statusCode).toBe(403);
  });
});
