/**
 * T11 for the account flows: the offline blocklist (common and breached passwords of the zxcvbn-ts
 * dictionary, seen through separators, leet-speak and padding), sequences, repetition and context
 * words, each refused with a stable `reason`, and the same policy on every path that sets a password:
 * signup, invitation acceptance, password reset and change.
 */
import { dictionary } from '@zxcvbn-ts/language-common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextWords, type PasswordRefusal, passwordVerdict } from '../../src/modules/identity/passwords.ts';
import { createTestContext, PASSWORD, type TestContext, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';
import { signup, tokenFrom } from './support.ts';

const context = contextWords('marguerite.dupont@fornaio.example', { name: 'Quintessential Bakery', slug: 'qb-bakery' });

// [label, password, expected reason or undefined when accepted]
const TABLE: Array<[string, string, PasswordRefusal | undefined]> = [
  ['14 characters', 'correcthorseba', 'too_short'],
  ['15 characters', 'correcthorsebat', undefined],
  ['all-lowercase passphrase', 'purple monkey dishwasher galaxy', undefined],
  ['a listed password, padded with digits', 'iloveyou12345678', 'common'],
  ['a listed password between symbols and a year', '!!superman2024!!', 'common'],
  ['a listed password in leet-speak, padded', 'p@ssw0rd!!!!!!!!', 'common'],
  ['a listed password with separators', 'pass.word 1234567', 'common'],
  ['a listed password typed twice', 'sunshinesunshine', 'repeated'],
  ['digits in order', '123456789012345678', 'sequence'],
  ['the alphabet', 'abcdefghijklmnopq', 'sequence'],
  ['a keyboard row, backwards', 'lkjhgfdsapoiuytrewq', 'sequence'],
  ['a keyboard column walk', '5tgb6yhn7ujm8ik9', 'sequence'],
  ['a keyboard column walk that is also a breached password', '1qaz2wsx3edc4rfv', 'common'],
  ['tenant name', 'QuintessentialBakery1', 'context'],
  ['email local part', 'marguerite.dupont!!', 'context'],
  ['email domain', 'fornaio-fornaio-42', 'context'],
  ['product name', 'palazzo palazzo 1', 'context'],
  ['a context word inside a long passphrase is fine', 'quintessential purple elephants juggle', undefined],
  ['long digits, not a sequence', '73920581647302958', undefined],
  ['1025 bytes', 'x'.repeat(1025), 'too_long'],
];

describe('password policy reasons (T11)', () => {
  it.each(TABLE)('%s', (_label, password, reason) => {
    expect(passwordVerdict(password, context)?.reason).toBe(reason);
  });

  it('refuses every listed password of 15+ characters, also with padding', () => {
    const long = (dictionary.passwords as string[]).filter((p) => [...p].length >= 15);
    expect(long.length).toBeGreaterThan(20);
    expect(long.filter((p) => passwordVerdict(p) === undefined)).toEqual([]);
    // A sample of the whole list made long enough by padding: the padding does not launder it.
    const padded = (dictionary.passwords as string[])
      .filter((p) => /^[a-z]{6,}$/.test(p))
      .slice(0, 3000)
      .map((p) => `${p}${'1234567890'.slice(0, Math.max(0, 15 - p.length) + 2)}`);
    expect(padded.filter((p) => passwordVerdict(p)?.reason !== 'common')).toEqual([]);
  });
});

describe('the policy on every path that sets a password', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext({ config: { signupPerMinute: 10_000 } });
  });

  afterAll(async () => {
    await ctx?.close();
  });

  const lastLink = async (to: string) => {
    await ctx.palazzo.services.accounts.settle();
    const res = await ctx.app.inject({
      method: 'GET',
      url: `/v1/operator/mail?to=${encodeURIComponent(to)}&limit=1`,
      headers: ctx.operatorAuth,
    });
    return tokenFrom(res.json().data[0]?.text);
  };

  it('signup, invitation acceptance, reset and change each refuse with weak_password and the reason', async () => {
    const slug = uniqueSlug('policy');
    const email = `founder@${slug}.example`;
    const weakSignup = await signup(ctx, { organization: 'Policy', slug, name: 'F', email, password: 'iloveyou12345678' });
    expectProblem(weakSignup, 400, 'weak_password');
    expect(weakSignup.json()).toMatchObject({ reason: 'common', field: 'password' });
    expect((await signup(ctx, { organization: 'Policy', slug, name: 'F', email, password: PASSWORD })).statusCode).toBe(201);

    const t = await ctx.tenant();
    const invitee = `invitee-${uniqueSlug()}@x.example`;
    await ctx.app.inject({ method: 'POST', url: '/v1/invitations', headers: t.auth, payload: { email: invitee, role: 'member' } });
    const invitation = await lastLink(invitee);
    const weakAccept = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/invitations/accept',
      payload: { token: invitation, password: '123456789012345678', name: 'I' },
    });
    expectProblem(weakAccept, 400, 'weak_password');
    expect(weakAccept.json().reason).toBe('sequence');
    // A refused password leaves the invitation usable.
    const accepted = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/invitations/accept',
      payload: { token: invitation, password: PASSWORD, name: 'I' },
    });
    expect(accepted.statusCode, accepted.body).toBe(201);

    await ctx.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload: { tenant: t.slug, email: invitee } });
    const reset = await lastLink(invitee);
    const weakReset = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/password-reset/confirm',
      payload: { token: reset, password: 'invitee-invitee-1' },
    });
    expectProblem(weakReset, 400, 'weak_password');
    expect(weakReset.json().reason).toBe('context');

    const weakChange = await ctx.app.inject({
      method: 'POST',
      url: '/v1/me/password',
      headers: t.auth,
      payload: { currentPassword: PASSWORD, newPassword: 'short one' },
    });
    expectProblem(weakChange, 400, 'weak_password');
    expect(weakChange.json().reason).toBe('too_short');
  });

  it('has no expiry or forced rotation: nothing in the user or its views says when a password must change', async () => {
    const t = await ctx.tenant();
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: t.auth });
    expect(JSON.stringify(me.json())).not.toMatch(/expir|rotat|mustChange/i);
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"),
    );
    expect(rows.map((r) => r.column_name).filter((c) => /password.*(expir|changed|rotat)/.test(c))).toEqual([]);
  });
});
