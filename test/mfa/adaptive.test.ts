/**
 * Adaptive MFA: a correct password from a new device or network, or after recent failures, is
 * challenged for a second factor (TOTP when enrolled, otherwise an emailed one-time code); the risk
 * signals and the decision are recorded as a `login_risk` security event.
 */
import { type TOTP, URI } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, PASSWORD, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';
import { bearer, completeMfa, createMfaContext, enrolTotp, FIREFOX_LINUX, login, type MfaContext, SAFARI_IPHONE } from './support.ts';

let ctx: MfaContext;
let tenant: TestTenant;

beforeAll(async () => {
  ctx = await createMfaContext();
  tenant = await ctx.tenant();
});

afterAll(async () => {
  await ctx?.close();
});

async function lastRisk(userId: string) {
  const { rows } = await ctx.db.withTenant(tenant.id, (tx) =>
    tx.query<{ details: { decision: string; risky: boolean; signals: Record<string, unknown> }; ip: string }>(
      "SELECT details, ip FROM security_events WHERE type = 'login_risk' AND actor_id = $1 ORDER BY id DESC LIMIT 1",
      [userId],
    ),
  );
  return rows[0];
}

describe('adaptive MFA', () => {
  it('a known device and network log straight in; the first login sets the baseline', async () => {
    const user = await ctx.user(tenant, 'member');
    const first = await lastRisk(user.id);
    expect(first?.details).toMatchObject({ decision: 'allow', signals: { firstLogin: true } });
    const again = await login(ctx, tenant, user.email);
    expect(again.json().accessToken).toEqual(expect.any(String));
    expect((await lastRisk(user.id))?.details).toMatchObject({
      decision: 'allow',
      risky: false,
      signals: { firstLogin: false, newDevice: false, newNetwork: false },
    });
  });

  it('a new device gets an email code; the right code opens a session, which makes the device known', async () => {
    const user = await ctx.user(tenant, 'member');
    const res = await login(ctx, tenant, user.email, { userAgent: FIREFOX_LINUX });
    expect(res.json()).toMatchObject({ mfaRequired: true, method: 'email', expiresIn: 600 });
    expect(res.json().accessToken).toBeUndefined();
    const mail = ctx.outbox.at(-1);
    expect(mail).toMatchObject({ tenantId: tenant.id, userId: user.id, email: user.email, locale: 'en' });
    expect(mail?.code).toMatch(/^\d{6}$/);
    const risk = await lastRisk(user.id);
    expect(risk?.details).toMatchObject({
      decision: 'email',
      risky: true,
      signals: { newDevice: true, newNetwork: false, device: 'Firefox on Linux' },
    });
    const wrongCode = mail?.code === '000000' ? '111111' : '000000';
    expectProblem(await completeMfa(ctx, res.json().mfaToken, wrongCode), 401, 'invalid_mfa_code');
    const done = await completeMfa(ctx, res.json().mfaToken, mail?.code as string, { userAgent: FIREFOX_LINUX });
    expect(done.statusCode, done.body).toBe(200);
    const payload = JSON.parse(Buffer.from(done.json().accessToken.split('.')[1], 'base64url').toString());
    expect(payload.amr).toEqual(['pwd', 'email']);
    // Single use.
    expectProblem(await completeMfa(ctx, res.json().mfaToken, mail?.code as string), 401, 'invalid_mfa_token');
    // Now a known device.
    const next = await login(ctx, tenant, user.email, { userAgent: FIREFOX_LINUX });
    expect(next.json().accessToken).toEqual(expect.any(String));
  });

  it('a new network gets an email code; the /24 of a known address is the same network', async () => {
    const user = await ctx.user(tenant, 'member');
    const far = await login(ctx, tenant, user.email, { ip: '203.0.113.7' });
    expect(far.json()).toMatchObject({ mfaRequired: true, method: 'email' });
    expect((await lastRisk(user.id))?.details).toMatchObject({
      signals: { newNetwork: true, newDevice: false, network: '203.0.113.0/24' },
    });
    const code = ctx.outbox.at(-1)?.code as string;
    expect((await completeMfa(ctx, far.json().mfaToken, code, { ip: '203.0.113.7' })).statusCode).toBe(200);
    const near = await login(ctx, tenant, user.email, { ip: '203.0.113.99' });
    expect(near.json().accessToken).toEqual(expect.any(String));
    const v6 = await login(ctx, tenant, user.email, { ip: '2001:db8:1:2::5' });
    expect(v6.json()).toMatchObject({ mfaRequired: true, method: 'email' });
  });

  it('recent failed logins make the next correct one risky', async () => {
    const user = await ctx.user(tenant, 'member');
    for (let i = 0; i < 5; i += 1) {
      const wrong = await login(ctx, tenant, user.email, {}, `${PASSWORD} but wrong`);
      expectProblem(wrong, 401, 'invalid_credentials');
    }
    const res = await login(ctx, tenant, user.email);
    expect(res.json()).toMatchObject({ mfaRequired: true, method: 'email' });
    expect((await lastRisk(user.id))?.details).toMatchObject({ decision: 'email', signals: { recentFailures: 5 } });
  });

  it('an enrolled user from a new device is asked for TOTP, not an email code', async () => {
    const user = await ctx.user(tenant, 'member');
    await enrolTotp(ctx, user.auth);
    const sent = ctx.outbox.length;
    const res = await login(ctx, tenant, user.email, { userAgent: SAFARI_IPHONE, ip: '198.51.100.4' });
    expect(res.json()).toMatchObject({ mfaRequired: true, method: 'totp' });
    expect(ctx.outbox.length).toBe(sent);
    expect((await lastRisk(user.id))?.details).toMatchObject({ decision: 'totp', signals: { newDevice: true, newNetwork: true } });
  });

  it('a risky login of an account that must enrol proves the mailbox first, then enrols', async () => {
    const strict = await ctx.tenant();
    const user = await ctx.user(strict, 'member');
    const patch = await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/config',
      headers: { ...strict.auth, 'if-match': '*' },
      payload: { security: { mfa: 'everyone', mfaEnrollmentGraceDays: 0 } },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    const res = await login(ctx, strict, user.email, { userAgent: SAFARI_IPHONE });
    expect(res.json()).toMatchObject({ mfaRequired: true, method: 'email' });
    expect(res.json().otpauthUri).toBeUndefined();
    const next = await completeMfa(ctx, res.json().mfaToken, ctx.outbox.at(-1)?.code as string, { userAgent: SAFARI_IPHONE });
    expect(next.statusCode, next.body).toBe(200);
    expect(next.json()).toMatchObject({ mfaRequired: true, method: 'totp_enrollment' });
    expect(next.json().accessToken).toBeUndefined();
    const totp = URI.parse(next.json().otpauthUri) as TOTP;
    const done = await completeMfa(ctx, next.json().mfaToken, totp.generate({ timestamp: ctx.clock.now }), { userAgent: SAFARI_IPHONE });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json().accessToken).toEqual(expect.any(String));
    expect(done.json().recoveryCodes).toHaveLength(10);
  });

  it('the tenant may switch adaptive MFA off', async () => {
    const other = await ctx.tenant();
    await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/config',
      headers: { ...other.auth, 'if-match': '*' },
      payload: { security: { adaptiveMfa: false } },
    });
    const res = await login(ctx, other, other.ownerEmail, { userAgent: SAFARI_IPHONE, ip: '198.51.100.9' });
    expect(res.json().accessToken).toEqual(expect.any(String));
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(res.json().accessToken) });
    expect(me.statusCode).toBe(200);
  });
});

describe('with the mail module of the default app (no SMTP: the outbox)', () => {
  let plain: TestContext;
  beforeAll(async () => {
    plain = await createTestContext();
  });
  afterAll(async () => {
    await plain?.close();
  });

  it('an email challenge puts the code in the outbox, and the code completes the login', async () => {
    const t = await plain.tenant();
    const res = await login(plain, t, t.ownerEmail, { userAgent: FIREFOX_LINUX });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ mfaRequired: true, method: 'email' });
    const outbox = await plain.app.inject({
      method: 'GET',
      url: `/v1/operator/mail?to=${encodeURIComponent(t.ownerEmail)}`,
      headers: plain.operatorAuth,
    });
    expect(outbox.statusCode, outbox.body).toBe(200);
    const message = (outbox.json().data as { template: string; text: string | null }[]).find((m) => m.template === 'sign_in_code');
    const code = /\b(\d{6})\b/.exec(message?.text ?? '')?.[1];
    expect(code, message?.text ?? 'no sign_in_code mail').toBeTruthy();
    const done = await completeMfa(plain, res.json().mfaToken, code as string, { userAgent: FIREFOX_LINUX });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json().accessToken).toBeTruthy();
    // The decision was recorded.
    const events = await plain.db.withTenant(t.id, (tx) =>
      tx.query<{ details: { decision: string } }>("SELECT details FROM security_events WHERE type = 'login_risk' ORDER BY id DESC LIMIT 1"),
    );
    expect(events.rows[0]?.details.decision).toBe('email');
  });
});
