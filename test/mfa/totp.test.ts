/**
 * T15 (TOTP verifier) and T16 (MFA and recovery flow integrity), through the API with real RFC 6238
 * codes computed here and the app's clock injected.
 */
import { randomUUID } from 'node:crypto';
import { Secret, type TOTP, URI } from 'otpauth';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openTotpSecret, sealTotpSecret } from '../../src/modules/mfa/index.ts';
import { encrypt } from '../../src/platform/crypto.ts';
import { type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { discoverRoutes, expectProblem, fill } from '../security/support.ts';
import { advanceSteps, bearer, completeMfa, createMfaContext, enrolTotp, login, type MfaContext, stepMiddle } from './support.ts';

let ctx: MfaContext;
let tenant: TestTenant;

beforeAll(async () => {
  ctx = await createMfaContext();
  tenant = await ctx.tenant();
});

afterAll(async () => {
  await ctx?.close();
});

/** A member with TOTP enrolled, and a way to open a login challenge for them. */
async function enrolledUser() {
  const user = await ctx.user(tenant, 'member');
  const { totp, recoveryCodes } = await enrolTotp(ctx, user.auth);
  const challenge = async () => {
    const res = await login(ctx, tenant, user.email);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ mfaRequired: true, method: 'totp' });
    expect(body.accessToken).toBeUndefined();
    return body.mfaToken as string;
  };
  return { ...user, totp, recoveryCodes, challenge };
}

const codeAt = (totp: TOTP, ms: number) => totp.generate({ timestamp: ms });

describe('TOTP verifier (T15)', () => {
  it('accepts T−1, T and T+1, refuses T−2 and T+2; the time comes from the server only', async () => {
    const user = await enrolledUser();
    advanceSteps(ctx, 4); // past the step used by the enrolment
    const t = ctx.clock.now;
    for (const offset of [-1, 0, 1]) {
      const res = await completeMfa(ctx, await user.challenge(), codeAt(user.totp, t + offset * 30_000));
      expect(res.statusCode, `T${offset >= 0 ? '+' : ''}${offset}: ${res.body}`).toBe(200);
      expect(res.json().accessToken).toEqual(expect.any(String));
    }
    advanceSteps(ctx, 10);
    const later = ctx.clock.now;
    for (const offset of [-2, 2]) {
      const res = await completeMfa(ctx, await user.challenge(), codeAt(user.totp, later + offset * 30_000));
      expectProblem(res, 401, 'invalid_mfa_code');
    }
    // A client-supplied time: a body field is refused, a Date header is ignored.
    const mfaToken = await user.challenge();
    const withTime = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/mfa',
      payload: { mfaToken, code: codeAt(user.totp, later + 300_000), timestamp: later + 300_000 },
    });
    expectProblem(withTime, 400, 'validation_failed');
    const withDate = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/mfa',
      headers: { date: new Date(later + 300_000).toUTCString() },
      payload: { mfaToken, code: codeAt(user.totp, later + 300_000) },
    });
    expectProblem(withDate, 401, 'invalid_mfa_code');
    const now = await completeMfa(ctx, mfaToken, codeAt(user.totp, later));
    expect(now.statusCode, now.body).toBe(200);
  });

  it('accepts a code once: a replay is refused, and an older step after a newer one is refused', async () => {
    const user = await enrolledUser();
    advanceSteps(ctx, 4);
    const code = codeAt(user.totp, ctx.clock.now);
    expect((await completeMfa(ctx, await user.challenge(), code)).statusCode).toBe(200);
    expectProblem(await completeMfa(ctx, await user.challenge(), code), 401, 'invalid_mfa_code');
    // Newer (T+1) first, then the older step T−1 (inside the window, but not after the last used).
    const newer = await completeMfa(ctx, await user.challenge(), codeAt(user.totp, ctx.clock.now + 30_000));
    expect(newer.statusCode, newer.body).toBe(200);
    const older = await completeMfa(ctx, await user.challenge(), codeAt(user.totp, ctx.clock.now - 30_000));
    expectProblem(older, 401, 'invalid_mfa_code');
    // Two concurrent uses of one fresh code: exactly one succeeds.
    advanceSteps(ctx, 4);
    const fresh = codeAt(user.totp, ctx.clock.now);
    const [a, b] = await Promise.all([user.challenge(), user.challenge()]);
    const results = await Promise.all([completeMfa(ctx, a, fresh), completeMfa(ctx, b, fresh)]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
  });

  it('throttles wrong codes: 5 per mfaToken, then 429 for the user within 100 attempts (even for a right code)', async () => {
    const user = await enrolledUser();
    advanceSteps(ctx, 4);
    let mfaToken = await user.challenge();
    let perToken = 0;
    let throttledAt = -1;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const res = await completeMfa(ctx, mfaToken, '000000' === codeAt(user.totp, ctx.clock.now) ? '111111' : '000000');
      if (res.statusCode === 429) {
        expectProblem(res, 429, 'rate_limited');
        throttledAt = attempt;
        break;
      }
      perToken += 1;
      if (perToken <= 5) expectProblem(res, 401, 'invalid_mfa_code');
      else {
        // The sixth try on a token: the token is spent.
        expectProblem(res, 401, 'invalid_mfa_token');
        mfaToken = await user.challenge();
        perToken = 0;
      }
    }
    expect(throttledAt).toBeGreaterThan(0);
    expect(throttledAt).toBeLessThan(100);
    // While throttled, no code is checked, so the right one is refused too.
    const right = await completeMfa(ctx, await user.challenge(), codeAt(user.totp, ctx.clock.now));
    expectProblem(right, 429, 'rate_limited');
    const events = await ctx.db.withTenant(tenant.id, (tx) =>
      tx.query<{ n: number }>("SELECT count(*)::int AS n FROM security_events WHERE type = 'mfa_failed' AND actor_id = $1", [user.id]),
    );
    expect(events.rows[0]?.n).toBe(10);
  });

  it('uses a seed of at least 20 random bytes, sealed with AES-GCM: a flipped bit does not open, nonces never repeat', async () => {
    const user = await ctx.user(tenant, 'member');
    const start = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers: user.auth });
    expect(start.statusCode, start.body).toBe(200);
    const totp = URI.parse(start.json().otpauthUri) as TOTP;
    expect(totp.secret.bytes.length).toBeGreaterThanOrEqual(20);
    expect(start.json().secret).toBe(totp.secret.base32);
    const other = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers: user.auth });
    expect(URI.parse(other.json().otpauthUri).secret.base32).not.toBe(totp.secret.base32);
    const stored = await ctx.db.withTenant(tenant.id, (tx) =>
      tx.query<{ secret_sealed: string }>('SELECT secret_sealed FROM mfa_totp WHERE user_id = $1', [user.id]),
    );
    const sealed = stored.rows[0]?.secret_sealed as string;
    const current = URI.parse(other.json().otpauthUri).secret.base32;
    expect(sealed).not.toContain(current);
    expect(sealed.startsWith('v1.')).toBe(true);
    const key = Buffer.from(inject('testMasterKey'), 'base64');
    expect(openTotpSecret(key, tenant.id, user.id, sealed)).toBe(current);
    // Flip one bit of the ciphertext: authentication fails.
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3] as string, 'base64url');
    body[0] = (body[0] as number) ^ 1;
    const flipped = [parts[0], parts[1], parts[2], body.toString('base64url')].join('.');
    expect(() => openTotpSecret(key, tenant.id, user.id, flipped)).toThrow();
    // Bound to its user: the same sealed seed does not open for another user.
    expect(() => openTotpSecret(key, tenant.id, randomUUID(), sealed)).toThrow();
    const nonces = new Set<string>();
    const secret = new Secret().base32;
    for (let i = 0; i < 10_000; i += 1) nonces.add(sealTotpSecret(key, tenant.id, user.id, secret).split('.')[1] as string);
    expect(nonces.size).toBe(10_000);
    expect(encrypt(key, 'x').split('.')[1]).toHaveLength(16); // 96-bit nonce, base64url
  });
});

describe('MFA and recovery flow integrity (T16)', () => {
  it('the pre-MFA token is refused (401) on every protected route of the inventory', async () => {
    const user = await enrolledUser();
    const mfaToken = await user.challenge();
    const routes = discoverRoutes(ctx.app);
    const publicRoutes = new Set(['/v1/auth/login', '/v1/auth/refresh', '/v1/auth/mfa', '/v1/operator/login']);
    let checked = 0;
    for (const route of routes) {
      if (route.method === 'OPTIONS' || route.url.startsWith('/docs') || publicRoutes.has(route.url)) continue;
      // The sign-in routes (signup, verification, reset, invitations, single sign-on) are public;
      // logout and re-authentication are the two that take a credential.
      if (route.url.startsWith('/v1/auth/') && !['/v1/auth/logout', '/v1/auth/reauthenticate'].includes(route.url)) continue;
      if (['/', '/openapi.json', '/healthz', '/readyz', '/.well-known/jwks.json'].includes(route.url)) continue;
      if (route.url.startsWith('/v1/public/')) continue;
      const res = await ctx.app.inject({
        method: route.method as 'GET',
        url: fill(route.url, randomUUID()),
        headers: bearer(mfaToken),
        ...(['POST', 'PUT', 'PATCH'].includes(route.method) ? { payload: {} } : {}),
      });
      expect(res.statusCode, `${route.method} ${route.url}`).toBe(401);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(40);
    // The token still completes the login afterwards (it was never accepted as a credential).
    expect((await completeMfa(ctx, mfaToken, codeAt(user.totp, ctx.clock.now + 30_000))).statusCode).toBe(200);
  });

  it('recovery codes: ten, single-use, any case and dashes, stored only as salted hashes', async () => {
    const user = await enrolledUser();
    expect(user.recoveryCodes).toHaveLength(10);
    expect(new Set(user.recoveryCodes).size).toBe(10);
    const [first, second] = user.recoveryCodes as [string, string];
    const ok = await completeMfa(ctx, await user.challenge(), first);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().accessToken).toEqual(expect.any(String));
    expectProblem(await completeMfa(ctx, await user.challenge(), first), 401, 'invalid_mfa_code');
    const typed = await completeMfa(ctx, await user.challenge(), second.toLowerCase().replaceAll('-', ' '));
    expect(typed.statusCode, typed.body).toBe(200);
    const status = await ctx.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(typed.json().accessToken) });
    expect(status.json()).toMatchObject({ totp: { status: 'active' }, recoveryCodesRemaining: 8 });
    const { rows } = await ctx.db.withTenant(tenant.id, (tx) =>
      tx.query<{ code_hash: string }>('SELECT code_hash FROM mfa_recovery_codes WHERE user_id = $1', [user.id]),
    );
    expect(rows).toHaveLength(10);
    const dump = JSON.stringify(rows);
    for (const code of user.recoveryCodes) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(code.replaceAll('-', ''));
    }
    const salts = rows.map((r) => r.code_hash.split('$')[0]);
    expect(new Set(salts).size).toBe(10);
    const used = await ctx.db.withTenant(tenant.id, (tx) =>
      tx.query<{ details: { remaining: number } }>(
        "SELECT details FROM security_events WHERE type = 'mfa_recovery_code_used' AND actor_id = $1 ORDER BY id",
        [user.id],
      ),
    );
    expect(used.rows.map((r) => r.details.remaining)).toEqual([9, 8]);
  });

  it('mfaToken: single-use, expires, cannot be forged or moved to another tenant', async () => {
    const user = await enrolledUser();
    advanceSteps(ctx, 4);
    const mfaToken = await user.challenge();
    expect((await completeMfa(ctx, mfaToken, codeAt(user.totp, ctx.clock.now))).statusCode).toBe(200);
    advanceSteps(ctx, 1);
    expectProblem(await completeMfa(ctx, mfaToken, codeAt(user.totp, ctx.clock.now)), 401, 'invalid_mfa_token');
    const late = await user.challenge();
    ctx.clock.now += 301_000;
    expectProblem(await completeMfa(ctx, late, codeAt(user.totp, ctx.clock.now)), 401, 'invalid_mfa_token');
    const other = await ctx.tenant();
    const moved = (await user.challenge()).replace(tenant.id.replaceAll('-', ''), other.id.replaceAll('-', ''));
    expectProblem(await completeMfa(ctx, moved, codeAt(user.totp, ctx.clock.now)), 401, 'invalid_mfa_token');
    for (const forged of ['pzm_nothing', 'x'.repeat(150), `pzr_${tenant.id.replaceAll('-', '')}_${'a'.repeat(43)}`]) {
      expectProblem(await completeMfa(ctx, forged, '123456'), 401, 'invalid_mfa_token');
    }
  });

  it('enrolling and disabling need a recent authentication; the change ends other sessions and is recorded', async () => {
    const user = await ctx.user(tenant, 'member');
    const second = await login(ctx, tenant, user.email);
    expect(second.json().accessToken).toEqual(expect.any(String));
    ctx.clock.now += 11 * 60_000;
    const stale = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers: user.auth });
    expectProblem(stale, 401, 'step_up_required');
    expect(stale.json().maxAgeSeconds).toBe(600);
    const wrong = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/reauthenticate',
      headers: user.auth,
      payload: { password: 'not the password at all' },
    });
    expectProblem(wrong, 401, 'invalid_credentials');
    const reauth = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/reauthenticate',
      headers: user.auth,
      payload: { password: 'a long enough test passphrase' },
    });
    expect(reauth.statusCode, reauth.body).toBe(200);
    expect(reauth.json().amr).toContain('pwd');
    const { totp } = await enrolTotp(ctx, user.auth);
    // The other session ended with the change of factor; this one lives on.
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(second.json().accessToken) })).statusCode).toBe(401);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth })).statusCode).toBe(200);
    const refreshed = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: second.json().refreshToken },
    });
    expectProblem(refreshed, 401, 'invalid_grant');

    ctx.clock.now += 11 * 60_000;
    expectProblem(await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: user.auth }), 401, 'step_up_required');
    // With a factor enrolled, step-up needs a code (the password alone is not enough).
    const passwordOnly = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/reauthenticate',
      headers: user.auth,
      payload: { password: 'a long enough test passphrase' },
    });
    expectProblem(passwordOnly, 400, 'validation_failed');
    const withCode = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/reauthenticate',
      headers: user.auth,
      payload: { code: codeAt(totp, ctx.clock.now) },
    });
    expect(withCode.statusCode, withCode.body).toBe(200);
    expect(withCode.json().amr).toEqual(expect.arrayContaining(['otp', 'mfa']));
    const disabled = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: user.auth });
    expect(disabled.statusCode, disabled.body).toBe(204);
    const after = await login(ctx, tenant, user.email);
    expect(after.json().accessToken).toEqual(expect.any(String));
    const events = await ctx.db.withTenant(tenant.id, (tx) =>
      tx.query<{ type: string }>(
        "SELECT type FROM security_events WHERE actor_id = $1 AND type IN ('mfa_enrolled', 'mfa_disabled') ORDER BY id",
        [user.id],
      ),
    );
    expect(events.rows.map((r) => r.type)).toEqual(['mfa_enrolled', 'mfa_disabled']);
  });

  it('an admin resets a lost factor (step-up; an owner only by an owner); the user signs in with the password again', async () => {
    const user = await enrolledUser();
    const admin = await ctx.user(tenant, 'admin');
    const res = await ctx.app.inject({ method: 'DELETE', url: `/v1/users/${user.id}/mfa`, headers: admin.auth });
    expect(res.statusCode, res.body).toBe(204);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth })).statusCode).toBe(401);
    expect((await login(ctx, tenant, user.email)).json().accessToken).toEqual(expect.any(String));
    const owner = (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth })).json().user.id;
    expectProblem(await ctx.app.inject({ method: 'DELETE', url: `/v1/users/${owner}/mfa`, headers: admin.auth }), 403, 'forbidden');
    // Idempotent; an unknown user is 404.
    expect((await ctx.app.inject({ method: 'DELETE', url: `/v1/users/${user.id}/mfa`, headers: admin.auth })).statusCode).toBe(204);
    expectProblem(await ctx.app.inject({ method: 'DELETE', url: `/v1/users/${randomUUID()}/mfa`, headers: admin.auth }), 404, 'not_found');
  });

  it('wrong enrolment codes are refused; confirm without a pending enrolment is a conflict', async () => {
    const user = await ctx.user(tenant, 'member');
    expectProblem(
      await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp/confirm', headers: user.auth, payload: { code: '123456' } }),
      409,
      'conflict',
    );
    const start = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers: user.auth });
    const totp = URI.parse(start.json().otpauthUri) as TOTP;
    const wrong = codeAt(totp, ctx.clock.now + 10 * 30_000);
    expectProblem(
      await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp/confirm', headers: user.auth, payload: { code: wrong } }),
      401,
      'invalid_mfa_code',
    );
    const status = await ctx.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: user.auth });
    expect(status.json().totp.status).toBe('pending');
    // Login is unaffected by a pending (unconfirmed) factor.
    expect((await login(ctx, tenant, user.email)).json().accessToken).toEqual(expect.any(String));
  });
});

describe('tenant MFA policy', () => {
  it('everyone, no grace: login asks for enrolment; the first code enrols, answers recovery codes and a session', async () => {
    const strict = await ctx.tenant({ slug: uniqueSlug('strict') });
    const user = await ctx.user(strict, 'member');
    const patch = await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/config',
      headers: { ...strict.auth, 'if-match': '*' },
      payload: { security: { mfa: 'everyone', mfaEnrollmentGraceDays: 0 } },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    const res = await login(ctx, strict, user.email);
    expect(res.json()).toMatchObject({
      mfaRequired: true,
      method: 'totp_enrollment',
      otpauthUri: expect.stringMatching(/^otpauth:\/\/totp\//),
    });
    const totp = URI.parse(res.json().otpauthUri) as TOTP;
    const done = await completeMfa(ctx, res.json().mfaToken, codeAt(totp, ctx.clock.now));
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json().recoveryCodes).toHaveLength(10);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(done.json().accessToken) })).json().totp.status).toBe(
      'active',
    );
    const next = await login(ctx, strict, user.email);
    expect(next.json()).toMatchObject({ mfaRequired: true, method: 'totp' });
  });

  it('admins, within the grace period: the admin logs in and is told when enrolment becomes due; a member is not', async () => {
    const admin = await ctx.user(tenant, 'admin');
    const member = await ctx.user(tenant, 'member');
    const a = await login(ctx, tenant, admin.email);
    expect(a.json().accessToken).toEqual(expect.any(String));
    expect(Date.parse(a.json().mfaEnrollmentDue)).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    const m = await login(ctx, tenant, member.email);
    expect(m.json().mfaEnrollmentDue).toBeUndefined();
  });
});

// Keeps the step helper honest: the suite's clock starts in the middle of a step.
it('starts the clock mid-step', () => {
  expect(stepMiddle(60_000) % 30_000).toBe(15_000);
});
