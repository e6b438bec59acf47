/**
 * Without SMTP: the outbox an operator reads, logs without secrets. Bad input on every token:
 * expired, reused, foreign (another tenant), another purpose: a clear 400 with a stable code and
 * no side effect. Signup switched off and rate-limited. Password reset answers alike for existing
 * and unknown accounts, in content and timing (T14). Invitations: roles, seats, revocation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSecret } from '../../src/platform/secrets.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { expectRowsInEveryTenantTable, seedTenant } from '../isolation/support.ts';
import { expectProblem } from '../security/support.ts';
import { expireAll, signup, tokenFrom } from './support.ts';

let ctx: TestContext;
const logLines: string[] = [];
const NEW_PASSWORD = 'a different long passphrase here';

beforeAll(async () => {
  ctx = await createTestContext({
    config: { signupPerMinute: 10_000 },
    logger: { level: 'info', stream: { write: (line: string) => logLines.push(line) } },
  });
});

afterAll(async () => {
  await ctx?.close();
});

type OutboxItem = { id: string; to: string; template: string; status: string; subject: string; text: string | null; html: string | null };

/** The newest kept message for an address, read through the operator API. */
async function lastMailTo(address: string, template?: string): Promise<OutboxItem> {
  await ctx.palazzo.services.accounts.settle();
  const res = await ctx.app.inject({
    method: 'GET',
    url: `/v1/operator/mail?to=${encodeURIComponent(address)}`,
    headers: ctx.operatorAuth,
  });
  expect(res.statusCode, res.body).toBe(200);
  const items = (res.json().data as OutboxItem[]).filter((m) => !template || m.template === template);
  expect(items.length, `no mail to ${address}`).toBeGreaterThan(0);
  return items[0] as OutboxItem;
}

async function mailCount(address: string): Promise<number> {
  await ctx.palazzo.services.accounts.settle();
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ n: number }>('SELECT count(*)::int AS n FROM mail_outbox WHERE recipient = $1', [address]),
  );
  return rows[0]?.n ?? 0;
}

/** Replaces the tenant part of a token (`pzv_<32 hex>_<secret>`) with another tenant's id: a "foreign" token. */
function withTenant(token: string, tenantId: string): string {
  return `${token.slice(0, 4)}${tenantId.replaceAll('-', '')}${token.slice(36)}`;
}

async function userRow(tenantId: string, email: string) {
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ password_hash: string; email_verified_at: Date | null }>(
      'SELECT password_hash, email_verified_at FROM users WHERE tenant_id = $1 AND email = $2',
      [tenantId, email],
    ),
  );
  return rows[0];
}

describe('outbox mode (no SMTP configured)', () => {
  it('keeps the message for the operator, who can read the link; the link completes the flow', async () => {
    const slug = uniqueSlug('outbox');
    const email = `owner@${slug}.example`;
    const res = await signup(ctx, { organization: 'Outbox Srl', slug, name: 'Olivia', email, password: PASSWORD, locale: 'it' });
    expect(res.statusCode, res.body).toBe(201);
    const message = await lastMailTo(email);
    expect(message).toMatchObject({ template: 'verify_email', status: 'kept', subject: 'Conferma il tuo indirizzo email' });
    expect(message.html).toContain('<a href=');
    const token = tokenFrom(message.text ?? undefined);
    const verified = await ctx.app.inject({ method: 'POST', url: '/v1/auth/verify-email', payload: { token } });
    expect(verified.statusCode, verified.body).toBe(200);

    // The body is sealed at rest: the token is nowhere in the table in clear.
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ body_sealed: string }>('SELECT body_sealed FROM mail_outbox WHERE id = $1', [message.id]),
    );
    expect(rows[0]?.body_sealed).toMatch(/^v1\./);
    expect(rows[0]?.body_sealed).not.toContain(token);

    // Logged without secrets: the message id and a masked address, never the token or link.
    const logged = logLines.filter((line) => line.includes(message.id));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.join('\n')).toContain('mail kept in the outbox');
    expect(logged.join('\n')).toContain(`o***@${slug}.example`);
    expect(logLines.filter((line) => line.includes(token) || line.includes('#token='))).toEqual([]);
  });

  it('pages the outbox newest first, filters by tenant, and refuses tenant credentials', async () => {
    const t = await ctx.tenant();
    for (let i = 0; i < 3; i++)
      await ctx.app.inject({
        method: 'POST',
        url: '/v1/invitations',
        headers: t.auth,
        payload: { email: `p${i}-${uniqueSlug()}@x.example`, role: 'member' },
      });
    const first = await ctx.app.inject({ method: 'GET', url: `/v1/operator/mail?tenantId=${t.id}&limit=2`, headers: ctx.operatorAuth });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().data).toHaveLength(2);
    const second = await ctx.app.inject({
      method: 'GET',
      url: `/v1/operator/mail?tenantId=${t.id}&limit=2&cursor=${first.json().nextCursor}`,
      headers: ctx.operatorAuth,
    });
    expect(second.json().data).toHaveLength(1);
    expect(second.json().nextCursor).toBeNull();
    const all = [...first.json().data, ...second.json().data].map((m: { to: string }) => m.to);
    expect(all[0]?.startsWith('p2-')).toBe(true);
    expect(all[2]?.startsWith('p0-')).toBe(true);
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/operator/mail', headers: t.auth }), 401, 'invalid_token');
  });
});

describe('signup switches and limits', () => {
  it('is refused with 403 signup_disabled when the operator switched it off, creating nothing', async () => {
    const off = await createTestContext({ db: ctx.db, config: { signup: false } });
    try {
      const slug = uniqueSlug('off');
      const res = await signup(off, { organization: 'Nope', slug, name: 'N', email: `n@${slug}.example`, password: PASSWORD });
      expectProblem(res, 403, 'signup_disabled');
      const { rows } = await ctx.db.withOwner((tx) => tx.query('SELECT 1 FROM tenants WHERE slug = $1', [slug]));
      expect(rows).toEqual([]);
    } finally {
      await off.close();
    }
  });

  it('limits signups per client address', async () => {
    const limited = await createTestContext({ db: ctx.db, config: { signupPerMinute: 2 } });
    try {
      // An address of its own: with Redis the budget is shared by every test process of the run.
      const address = `10.${[0, 0, 0].map(() => Math.floor(Math.random() * 250) + 1).join('.')}`;
      const attempt = (remoteAddress: string) => {
        const slug = uniqueSlug('rl');
        return limited.app.inject({
          method: 'POST',
          url: '/v1/auth/signup',
          remoteAddress,
          payload: { organization: 'R', slug, name: 'R', email: `r@${slug}.example`, password: PASSWORD },
        });
      };
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await attempt(address)).statusCode);
      expect(statuses).toEqual([201, 201, 429]);
      // Another address is not affected.
      const other = await attempt(`192.0.2.${Math.floor(Math.random() * 250) + 1}`);
      expect(other.statusCode, other.body).toBe(201);
    } finally {
      await limited.close();
    }
  });

  it('refuses a taken slug (409) and a weak password (400 with a reason) and leaves nothing behind', async () => {
    const t = await ctx.tenant();
    expectProblem(
      await signup(ctx, { organization: 'X', slug: t.slug, name: 'X', email: 'x@x.example', password: PASSWORD }),
      409,
      'conflict',
    );
    const slug = uniqueSlug('weak');
    const weak = await signup(ctx, {
      organization: 'Weak Ltd',
      slug,
      name: 'W',
      email: `w@${slug}.example`,
      password: 'weakltdweakltd123',
    });
    expectProblem(weak, 400, 'weak_password');
    expect(weak.json().reason).toBe('context');
    const { rows } = await ctx.db.withOwner((tx) => tx.query('SELECT 1 FROM tenants WHERE slug = $1', [slug]));
    expect(rows).toEqual([]);
    expect(await mailCount(`w@${slug}.example`)).toBe(0);
  });
});

describe('bad tokens: 400 with a stable code and no side effect', () => {
  let a: TestTenant;
  let b: TestTenant;

  beforeAll(async () => {
    a = await ctx.tenant();
    b = await ctx.tenant();
  });

  it('email verification: garbage, another purpose, another tenant, expired, reused', async () => {
    await ctx.app.inject({ method: 'POST', url: '/v1/me/email-verification', headers: a.auth });
    const token = tokenFrom((await lastMailTo(a.ownerEmail, 'verify_email')).text ?? undefined);
    const verify = (t: string) => ctx.app.inject({ method: 'POST', url: '/v1/auth/verify-email', payload: { token: t } });

    for (const bad of [
      'nonsense',
      `${token}x`,
      token.replace(/^pzv_/, 'pzp_'),
      withTenant(token, b.id),
      token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
    ]) {
      expectProblem(await verify(bad), 400, 'email_token_invalid');
    }
    expect(parseSecret('pzv', withTenant(token, b.id))?.tenantId).toBe(b.id);
    expect((await userRow(a.id, a.ownerEmail))?.email_verified_at).toBeNull();

    await expireAll(ctx, 'account_tokens', a.id);
    expectProblem(await verify(token), 400, 'email_token_expired');
    expect((await userRow(a.id, a.ownerEmail))?.email_verified_at, 'an expired link verifies nothing').toBeNull();

    await ctx.app.inject({ method: 'POST', url: '/v1/me/email-verification', headers: a.auth });
    const fresh = tokenFrom((await lastMailTo(a.ownerEmail, 'verify_email')).text ?? undefined);
    expect((await verify(fresh)).statusCode).toBe(200);
    expectProblem(await verify(fresh), 400, 'email_token_used');
  });

  it('password reset: another purpose, another tenant, expired and reused links change no password', async () => {
    const member = await ctx.user(a, 'member');
    await ctx.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload: { tenant: a.slug, email: member.email } });
    const token = tokenFrom((await lastMailTo(member.email, 'password_reset')).text ?? undefined);
    const before = (await userRow(a.id, member.email))?.password_hash;
    const confirm = (t: string) =>
      ctx.app.inject({ method: 'POST', url: '/v1/auth/password-reset/confirm', payload: { token: t, password: NEW_PASSWORD } });

    // A verification token of the same user is not a reset token.
    await ctx.app.inject({ method: 'POST', url: '/v1/me/email-verification', headers: member.auth });
    const verifyToken = tokenFrom((await lastMailTo(member.email, 'verify_email')).text ?? undefined);
    expectProblem(await confirm(verifyToken), 400, 'email_token_invalid');
    expectProblem(await confirm(verifyToken.replace(/^pzv_/, 'pzp_')), 400, 'email_token_invalid');
    expectProblem(await confirm(withTenant(token, b.id)), 400, 'email_token_invalid');
    // …nor the other way round.
    expectProblem(await ctx.app.inject({ method: 'POST', url: '/v1/auth/verify-email', payload: { token } }), 400, 'email_token_invalid');

    await expireAll(ctx, 'account_tokens', a.id);
    expectProblem(await confirm(token), 400, 'email_token_expired');
    expect((await userRow(a.id, member.email))?.password_hash).toBe(before);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: member.auth })).statusCode, 'no session ended').toBe(200);

    await ctx.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload: { tenant: a.slug, email: member.email } });
    const fresh = tokenFrom((await lastMailTo(member.email, 'password_reset')).text ?? undefined);
    expect((await confirm(fresh)).statusCode).toBe(204);
    const after = (await userRow(a.id, member.email))?.password_hash;
    expect(after).not.toBe(before);
    const reused = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/password-reset/confirm',
      payload: { token: fresh, password: 'yet another long passphrase' },
    });
    expectProblem(reused, 400, 'email_token_used');
    expect((await userRow(a.id, member.email))?.password_hash).toBe(after);
  });

  it('invitations: revoked, expired, foreign and reused links create no user', async () => {
    const accept = (token: string, name = 'Someone') =>
      ctx.app.inject({ method: 'POST', url: '/v1/auth/invitations/accept', payload: { token, password: NEW_PASSWORD, name } });
    const invite = async (email: string) => {
      const res = await ctx.app.inject({ method: 'POST', url: '/v1/invitations', headers: a.auth, payload: { email, role: 'member' } });
      expect(res.statusCode, res.body).toBe(201);
      return { id: res.json().id as string, token: tokenFrom((await lastMailTo(email, 'invitation')).text ?? undefined) };
    };
    const users = async () =>
      (await ctx.db.withOwner((tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE tenant_id = $1', [a.id]))).rows[0]
        ?.n;
    const count = await users();

    const revokedEmail = `revoked-${uniqueSlug()}@x.example`;
    const revoked = await invite(revokedEmail);
    expect((await ctx.app.inject({ method: 'DELETE', url: `/v1/invitations/${revoked.id}`, headers: a.auth })).statusCode).toBe(204);
    expectProblem(await accept(revoked.token), 400, 'email_token_invalid');
    expectProblem(await accept(withTenant(revoked.token, b.id)), 400, 'email_token_invalid');

    const expiredEmail = `expired-${uniqueSlug()}@x.example`;
    const expired = await invite(expiredEmail);
    await expireAll(ctx, 'invitations', a.id);
    expectProblem(await accept(expired.token), 400, 'email_token_expired');
    expect(await users()).toBe(count);
    // The address may be invited again once the old invitation expired.
    const again = await invite(expiredEmail);
    expect((await accept(again.token)).statusCode).toBe(201);
    expectProblem(await accept(again.token), 400, 'email_token_used');
    expect(await users()).toBe((count ?? 0) + 1);
    const list = await ctx.app.inject({ method: 'GET', url: '/v1/invitations', headers: a.auth });
    const states = Object.fromEntries((list.json().data as Array<{ id: string; status: string }>).map((i) => [i.id, i.status]));
    expect(states[revoked.id]).toBe('revoked');
    expect(states[expired.id]).toBe('revoked');
    expect(states[again.id]).toBe('accepted');
    expectProblem(await ctx.app.inject({ method: 'DELETE', url: `/v1/invitations/${again.id}`, headers: a.auth }), 409, 'conflict');
  });
});

describe('password reset does not tell whether an account exists (T14)', () => {
  it('answers byte-for-byte alike for an existing account, an unknown email and an unknown tenant; mails only the existing one', async () => {
    const t = await ctx.tenant();
    const cases = [
      { tenant: t.slug, email: t.ownerEmail },
      { tenant: t.slug, email: `nobody-${uniqueSlug()}@x.example` },
      { tenant: uniqueSlug('none'), email: t.ownerEmail },
    ];
    const answers = [];
    for (const payload of cases) answers.push(await ctx.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload }));
    for (const res of answers) {
      expect(res.statusCode).toBe(202);
      expect(res.body).toBe(answers[0]?.body);
      expect(res.headers['content-length']).toBe(answers[0]?.headers['content-length']);
    }
    expect(await mailCount(t.ownerEmail)).toBe(1);
    expect(await mailCount(cases[1]?.email as string)).toBe(0);
  });

  it('takes the same time for existing and unknown accounts (N=200 each, interleaved)', async () => {
    const t = await ctx.tenant();
    const existing = { tenant: t.slug, email: t.ownerEmail };
    const unknown = { tenant: t.slug, email: `ghost-${uniqueSlug()}@x.example` };
    const times: Record<'existing' | 'unknown', number[]> = { existing: [], unknown: [] };
    for (let i = 0; i < 200; i++) {
      for (const [label, payload] of [
        ['existing', existing],
        ['unknown', unknown],
      ] as const) {
        const started = process.hrtime.bigint();
        const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload });
        times[label].push(Number(process.hrtime.bigint() - started) / 1e6);
        expect(res.statusCode).toBe(202);
        // Work done after the answer is finished outside the measured span, so it slows neither side.
        await ctx.palazzo.services.accounts.settle();
      }
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
    const diff = Math.abs(median(times.existing) - median(times.unknown));
    expect(diff, `medians ${median(times.existing)} vs ${median(times.unknown)} ms`).toBeLessThan(Math.max(5, 0.1 * median(times.unknown)));
  });
});

describe('invitations: roles and seats', () => {
  it('counts pending invitations against the seat limit; revoking frees the seat', async () => {
    const t = await ctx.tenant({ tier: 'custom', customLimits: { seats: 2 } });
    const invite = (email: string) =>
      ctx.app.inject({ method: 'POST', url: '/v1/invitations', headers: t.auth, payload: { email, role: 'member' } });
    const first = await invite(`one-${uniqueSlug()}@x.example`);
    expect(first.statusCode, first.body).toBe(201);
    const second = await invite(`two-${uniqueSlug()}@x.example`);
    expectProblem(second, 429, 'quota_exceeded');
    expect(second.json()).toMatchObject({ metric: 'seats', limit: 2, used: 2 });
    expect((await ctx.app.inject({ method: 'DELETE', url: `/v1/invitations/${first.json().id}`, headers: t.auth })).statusCode).toBe(204);
    expect((await invite(`three-${uniqueSlug()}@x.example`)).statusCode).toBe(201);
  });

  it('applies the role rules of user creation, and refuses duplicates', async () => {
    const t = await ctx.tenant();
    const admin = await ctx.user(t, 'admin');
    const asAdmin = await ctx.app.inject({
      method: 'POST',
      url: '/v1/invitations',
      headers: admin.auth,
      payload: { email: `o-${uniqueSlug()}@x.example`, role: 'owner' },
    });
    expectProblem(asAdmin, 403, 'forbidden');
    const unknownRole = await ctx.app.inject({
      method: 'POST',
      url: '/v1/invitations',
      headers: t.auth,
      payload: { email: `u-${uniqueSlug()}@x.example`, role: 'wizard' },
    });
    expectProblem(unknownRole, 400, 'validation_failed');
    expectProblem(
      await ctx.app.inject({ method: 'POST', url: '/v1/invitations', headers: t.auth, payload: { email: admin.email, role: 'member' } }),
      409,
      'conflict',
    );
    const email = `dup-${uniqueSlug()}@x.example`;
    expect(
      (await ctx.app.inject({ method: 'POST', url: '/v1/invitations', headers: t.auth, payload: { email, role: 'viewer' } })).statusCode,
    ).toBe(201);
    expectProblem(
      await ctx.app.inject({
        method: 'POST',
        url: '/v1/invitations',
        headers: t.auth,
        payload: { email: email.toUpperCase(), role: 'viewer' },
      }),
      409,
      'conflict',
    );
  });
});

describe('isolation seeding covers the new tenant tables', () => {
  it('gives a seeded tenant rows in account_tokens and invitations', async () => {
    const seeded = await seedTenant(ctx);
    const counts = await expectRowsInEveryTenantTable(ctx.db, seeded.id);
    expect(counts.account_tokens).toBeGreaterThan(0);
    expect(counts.invitations).toBeGreaterThan(0);
    expect(counts).not.toHaveProperty('mail_outbox');
  });
});
