/**
 * Registration end to end against a real SMTP server on loopback: signup → verification mail →
 * verify; password reset → mail → confirm (sessions end); invitation → mail → accept; change of
 * password; templates in Italian; delivery retries with the failure reason recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, PASSWORD, type TestContext, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';
import { deliver, login, type SmtpPeer, signup, startSmtpServer, tokenFrom } from './support.ts';

let smtp: SmtpPeer;
let ctx: TestContext;
const NEW_PASSWORD = 'a different long passphrase here';

beforeAll(async () => {
  smtp = await startSmtpServer();
  ctx = await createTestContext({ config: { smtpUrl: smtp.url, mailFrom: 'Palazzo Test <no-reply@palazzo.test>', signupPerMinute: 1000 } });
});

afterAll(async () => {
  await ctx?.close();
  await smtp?.close();
});

async function outbox(id: string) {
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ status: string; body_sealed: string | null; attempts: number; last_error: string | null }>(
      'SELECT status, body_sealed, attempts, last_error FROM mail_outbox WHERE id = $1',
      [id],
    ),
  );
  return rows[0];
}

describe('signup and email verification over SMTP', () => {
  it('creates a basic tenant and its owner, mails a verification link, and the link verifies the address once', async () => {
    const slug = uniqueSlug('signup');
    const email = `Founder@${slug}.example`;
    const res = await signup(ctx, { organization: 'Bottega Rossi', slug, name: 'Ada Rossi', email, password: PASSWORD });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body.tenant).toMatchObject({ slug, name: 'Bottega Rossi', tier: 'basic' });
    expect(body.user).toMatchObject({ email: email.toLowerCase(), role: 'owner', emailVerified: false });

    // The owner may sign in before verifying; /v1/me shows emailVerified: false.
    const first = await login(ctx, slug, email, PASSWORD);
    expect(first.statusCode, first.body).toBe(200);
    const auth = { authorization: `Bearer ${first.json().accessToken}` };
    const meBefore = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: auth });
    expect(meBefore.json().user?.emailVerified, meBefore.body).toBe(false);

    expect(await deliver(ctx)).toBeGreaterThanOrEqual(1);
    const [message] = smtp.to(email.toLowerCase());
    expect(message, 'the verification mail reached the SMTP server').toBeDefined();
    expect(message?.subject).toBe('Confirm your email address');
    expect(message?.from?.text).toContain('no-reply@palazzo.test');
    expect(message?.text).toContain('Ada Rossi');
    expect(message?.html).toContain('<a href=');
    const token = tokenFrom(message?.text);
    expect(tokenFrom(message?.html || '')).toBe(token);

    const verified = await ctx.app.inject({ method: 'POST', url: '/v1/auth/verify-email', payload: { token } });
    expect(verified.statusCode, verified.body).toBe(200);
    expect(verified.json()).toEqual({ email: email.toLowerCase(), emailVerified: true });
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: auth })).json().user.emailVerified).toBe(true);
    const again = await ctx.app.inject({ method: 'POST', url: '/v1/auth/verify-email', payload: { token } });
    expectProblem(again, 400, 'email_token_used');

    // Delivered: the outbox keeps the record, not the body with its link.
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ id: string }>("SELECT id FROM mail_outbox WHERE recipient = $1 AND template = 'verify_email'", [email.toLowerCase()]),
    );
    const stored = await outbox(rows[0]?.id as string);
    expect(stored).toMatchObject({ status: 'sent', body_sealed: null, last_error: null });

    // The tenant is a real, usable tenant: its owner reads it.
    const tenant = await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: auth });
    expect(tenant.json()).toMatchObject({ slug, tier: 'basic', status: 'active' });
  });

  it('writes the mail in Italian for an Italian signup, with the date in Italian', async () => {
    const slug = uniqueSlug('it');
    const email = `titolare@${slug}.example`;
    const res = await signup(
      ctx,
      { organization: 'Forno Bianchi', slug, name: 'Giulia', email, password: PASSWORD },
      { 'accept-language': 'it-IT,it;q=0.9' },
    );
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().tenant.locale).toBe('it');
    await deliver(ctx);
    const [message] = smtp.to(email);
    expect(message?.subject).toBe('Conferma il tuo indirizzo email');
    expect(message?.text).toMatch(/Ciao Giulia/);
    const month = new Intl.DateTimeFormat('it', { month: 'long' }).format(new Date(Date.now() + 48 * 3600_000));
    expect(message?.text).toContain(month);
  });

  it('resends a verification link on request; the earlier link stops working', async () => {
    const t = await ctx.tenant();
    const first = await ctx.app.inject({ method: 'POST', url: '/v1/me/email-verification', headers: t.auth });
    expect(first.statusCode, first.body).toBe(202);
    const second = await ctx.app.inject({ method: 'POST', url: '/v1/me/email-verification', headers: t.auth });
    expect(second.statusCode, second.body).toBe(202);
    await deliver(ctx);
    const mails = smtp.to(t.ownerEmail);
    expect(mails.length).toBe(2);
    const [older, newer] = mails.map((m) => tokenFrom(m.text));
    expectProblem(
      await ctx.app.inject({ method: 'POST', url: '/v1/auth/verify-email', payload: { token: older } }),
      400,
      'email_token_used',
    );
    expect((await ctx.app.inject({ method: 'POST', url: '/v1/auth/verify-email', payload: { token: newer } })).statusCode).toBe(200);
    const done = await ctx.app.inject({ method: 'POST', url: '/v1/me/email-verification', headers: t.auth });
    expectProblem(done, 409, 'conflict');
  });
});

describe('password reset over SMTP', () => {
  it('mails a link; the new password works, the old does not, every session ends, the link works once', async () => {
    const t = await ctx.tenant();
    const member = await ctx.user(t, 'member');
    const other = await login(ctx, t.slug, member.email, PASSWORD);
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload: { tenant: t.slug, email: member.email } });
    expect(res.statusCode).toBe(202);
    await deliver(ctx);
    const [message] = smtp.to(member.email);
    expect(message?.subject).toBe('Reset your password');
    const token = tokenFrom(message?.text);

    // A weak password is refused with its reason and leaves the link usable.
    const weak = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/password-reset/confirm',
      payload: { token, password: 'password1234567890' },
    });
    expectProblem(weak, 400, 'weak_password');
    expect(weak.json().reason).toBe('common');

    const ok = await ctx.app.inject({ method: 'POST', url: '/v1/auth/password-reset/confirm', payload: { token, password: NEW_PASSWORD } });
    expect(ok.statusCode, ok.body).toBe(204);
    expect((await login(ctx, t.slug, member.email, PASSWORD)).statusCode).toBe(401);
    expect((await login(ctx, t.slug, member.email, NEW_PASSWORD)).statusCode).toBe(200);
    // Both earlier sessions ended: access tokens and refresh tokens.
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: member.auth }), 401, 'invalid_token');
    const refresh = await ctx.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: other.json().refreshToken } });
    expect(refresh.statusCode).toBe(401);
    // A reset proves the address.
    const me = await login(ctx, t.slug, member.email, NEW_PASSWORD);
    const meRes = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${me.json().accessToken}` } });
    expect(meRes.json().user.emailVerified).toBe(true);

    const reuse = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/password-reset/confirm',
      payload: { token, password: 'yet another long passphrase' },
    });
    expectProblem(reuse, 400, 'email_token_used');
    expect((await login(ctx, t.slug, member.email, NEW_PASSWORD)).statusCode).toBe(200);

    const events = await ctx.app.inject({ method: 'GET', url: '/v1/security-events?type=password_reset', headers: t.auth });
    expect(events.json().data.length).toBe(1);
  });
});

describe('invitations over SMTP', () => {
  it('invites with a role; the mailed link creates the user with that role and a verified address', async () => {
    const t = await ctx.tenant();
    const email = `invitee-${uniqueSlug()}@example.org`;
    const invite = await ctx.app.inject({ method: 'POST', url: '/v1/invitations', headers: t.auth, payload: { email, role: 'manager' } });
    expect(invite.statusCode, invite.body).toBe(201);
    expect(invite.json()).toMatchObject({ email, role: 'manager', status: 'pending', invitedBy: { type: 'user' } });
    await deliver(ctx);
    const [message] = smtp.to(email);
    expect(message?.subject).toBe(`Owner invited you to Tenant ${t.slug}`);
    expect(message?.text).toContain('Manager');
    const token = tokenFrom(message?.text);

    const accepted = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/invitations/accept',
      payload: { token, password: NEW_PASSWORD, name: 'Invited Person' },
    });
    expect(accepted.statusCode, accepted.body).toBe(201);
    expect(accepted.json()).toMatchObject({
      tenant: { slug: t.slug },
      user: { email, role: 'manager', name: 'Invited Person', emailVerified: true },
    });
    const session = await login(ctx, t.slug, email, NEW_PASSWORD);
    expect(session.statusCode).toBe(200);
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${session.json().accessToken}` } });
    expect(me.json().user).toMatchObject({ role: 'manager', emailVerified: true });

    const list = await ctx.app.inject({ method: 'GET', url: '/v1/invitations?status=accepted', headers: t.auth });
    expect(list.json().data.map((i: { email: string }) => i.email)).toEqual([email]);
    const twice = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/invitations/accept',
      payload: { token, password: NEW_PASSWORD, name: 'Again' },
    });
    expectProblem(twice, 400, 'email_token_used');
  });
});

describe('change of password', () => {
  it('needs the current password and ends the other sessions, not this one', async () => {
    const t = await ctx.tenant();
    const member = await ctx.user(t, 'member');
    const other = await login(ctx, t.slug, member.email, PASSWORD);
    const otherAuth = { authorization: `Bearer ${other.json().accessToken}` };

    const wrong = await ctx.app.inject({
      method: 'POST',
      url: '/v1/me/password',
      headers: member.auth,
      payload: { currentPassword: 'not the current passphrase', newPassword: NEW_PASSWORD },
    });
    expectProblem(wrong, 400, 'current_password_invalid');
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: otherAuth })).statusCode, 'a refused change ends nothing').toBe(
      200,
    );

    const contextual = await ctx.app.inject({
      method: 'POST',
      url: '/v1/me/password',
      headers: member.auth,
      payload: { currentPassword: PASSWORD, newPassword: 'TenantTenant2024x' },
    });
    expectProblem(contextual, 400, 'weak_password');
    expect(contextual.json().reason).toBe('context');

    const ok = await ctx.app.inject({
      method: 'POST',
      url: '/v1/me/password',
      headers: member.auth,
      payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    expect(ok.statusCode, ok.body).toBe(204);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: member.auth })).statusCode, 'this session stays').toBe(200);
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: otherAuth }), 401, 'invalid_token');
    expect((await login(ctx, t.slug, member.email, NEW_PASSWORD)).statusCode).toBe(200);
    expect((await login(ctx, t.slug, member.email, PASSWORD)).statusCode).toBe(401);

    const key = await ctx.apiKey(t, ['users.read']);
    const byKey = await ctx.app.inject({
      method: 'POST',
      url: '/v1/me/password',
      headers: key.auth,
      payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    expectProblem(byKey, 403, 'forbidden');
  });
});

describe('the mail API for other modules, and delivery failures', () => {
  it('sends a one-time sign-in code in the user locale (Italian) through SMTP', async () => {
    const t = await ctx.tenant();
    const member = await ctx.user(t, 'member');
    await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: member.auth, payload: { locale: 'it-IT', timezone: 'Europe/Rome' } });
    const expiresAt = new Date('2031-03-04T10:05:00Z');
    await ctx.db.withTenant(t.id, (tx) =>
      ctx.palazzo.services.mail.enqueue(tx, {
        tenantId: t.id,
        to: member.email,
        userId: member.id,
        template: 'sign_in_code',
        data: { name: 'Marco', code: '493027', expiresAt },
      }),
    );
    await deliver(ctx);
    const [message] = smtp.to(member.email);
    expect(message?.subject).toBe('Il tuo codice di accesso: 493027');
    // 10:05 UTC is 11:05 in Rome in March, written the Italian way.
    expect(message?.text).toContain('4 marzo 2031');
    expect(message?.text).toContain('11:05');
  });

  it('retries a refused delivery with backoff, records the reason, then delivers', async () => {
    const t = await ctx.tenant();
    smtp.refuseNext(1, 'mailbox busy, try later');
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/me/email-verification', headers: t.auth });
    expect(res.statusCode).toBe(202);
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ id: string }>('SELECT id FROM mail_outbox WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1', [t.id]),
    );
    const id = rows[0]?.id as string;
    await ctx.palazzo.services.jobs.drain();
    const failed = await outbox(id);
    expect(failed?.status).toBe('queued');
    expect(failed?.attempts).toBe(1);
    expect(failed?.last_error).toMatch(/mailbox busy/);
    expect(smtp.to(t.ownerEmail)).toHaveLength(0);
    // The backoff has not elapsed: an immediate drain does not retry.
    expect(await ctx.palazzo.services.jobs.drain()).toBe(0);
    await deliver(ctx);
    expect(await outbox(id)).toMatchObject({ status: 'sent', attempts: 2, last_error: null, body_sealed: null });
    expect(smtp.to(t.ownerEmail)).toHaveLength(1);
  });

  it('marks a message failed, with the reason, when every attempt is refused', async () => {
    const t = await ctx.tenant();
    smtp.refuseNext(100, 'recipient mailbox full');
    await ctx.app.inject({ method: 'POST', url: '/v1/me/email-verification', headers: t.auth });
    for (let i = 0; i < 8; i++) await deliver(ctx);
    smtp.refuseNext(0);
    const list = await ctx.app.inject({
      method: 'GET',
      url: `/v1/operator/mail?tenantId=${t.id}&status=failed`,
      headers: ctx.operatorAuth,
    });
    expect(list.statusCode, list.body).toBe(200);
    const [message] = list.json().data;
    expect(message).toMatchObject({ to: t.ownerEmail, template: 'verify_email', status: 'failed', attempts: 6 });
    expect(message.lastError).toMatch(/mailbox full/);
  });
});
