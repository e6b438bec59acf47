/**
 * T11: the password policy of NIST SP 800-63B-4 §3.1.1.2 (ASVS 6.2.x): length 15..1024 bytes, no
 * composition rules, a blocklist, context words, no truncation, NFKC, no expiry.
 */
import { randomBytes } from 'node:crypto';
import { dictionary } from '@zxcvbn-ts/language-common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  contextWords,
  createPasswordHasher,
  MAX_PASSWORD_BYTES,
  MIN_PASSWORD_LENGTH,
  passwordProblem,
} from '../../src/modules/identity/passwords.ts';
import type { TestContext } from '../helpers/harness.ts';
import { identityContext } from './support.ts';

const hasher = createPasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });

/** A long random lowercase-hex string: no dictionary word, no repetition. */
const randomText = (chars: number) =>
  randomBytes(Math.ceil(chars / 2))
    .toString('hex')
    .slice(0, chars);

describe('passwordProblem: the policy table', () => {
  const acmeContext = contextWords('marguerite.dupont@example.com', { name: 'Quintessential Bakery', slug: 'qb-bakery' });

  // [label, password, context, accepted]
  const table: Array<[string, string, Parameters<typeof passwordProblem>[1], boolean]> = [
    ['14 characters', 'correcthorseba', undefined, false],
    ['15 characters', 'correcthorsebat', undefined, true],
    ['64 characters', randomText(64), undefined, true],
    ['256 characters', randomText(256), undefined, true],
    ['1024 bytes exactly', randomText(MAX_PASSWORD_BYTES), undefined, true],
    ['1025 bytes', randomText(MAX_PASSWORD_BYTES + 1), undefined, false],
    ['> 1024 bytes in fewer than 1024 characters (bytes, not characters, are bounded)', `${'é'.repeat(520)}xyz`, undefined, false],
    ['all-lowercase passphrase, no digits or symbols', 'purple monkey dishwasher galaxy', undefined, true],
    ['only digits, long and not common', '73920581647302958', undefined, true],
    ['Unicode with inner spaces', 'ĉiu ĵaŭdo 日本語 パスワード 🔑 ok', undefined, true],
    ['15 code points of emoji (each counts as one character)', '🔑🍋🚲🌵🎻🐙🧭🪁🍄🛶🦔🎲🧲🪐🥨', undefined, true],
    ['14 code points of emoji', '🔑🍋🚲🌵🎻🐙🧭🪁🍄🛶🦔🎲🧲🪐', undefined, false],
    ['inner and leading spaces kept', '  spaced   out   passphrase  ', undefined, true],
    ['a short unit repeated', 'abcabcabcabcabcabc', undefined, false],
    ['one character repeated', 'aaaaaaaaaaaaaaaaaaaa', undefined, false],
    ['tenant name as context word', 'quintessential2024!', acmeContext, false],
    ['the same password without context', 'quintessential2024!', undefined, true],
    ['tenant slug word as context word', 'bakery-bakery-2024', acmeContext, false],
    ['email local part as context word', 'margueritedupont#1', acmeContext, false],
    ['email local part, other case', 'MargueriteDupont#1', acmeContext, false],
    ['the same password without context', 'margueritedupont#1', undefined, true],
    ['product name palazzo', 'ThePalazzo2025!!', undefined, false],
    ['product name palazzo with a little around it', 'palazzo!2025#xyz', undefined, false],
    ['context word inside a long passphrase is fine', 'quintessential purple elephants juggle oranges', acmeContext, true],
  ];

  it.each(table)('%s', (_label, password, context, accepted) => {
    const problem = passwordProblem(password, context);
    if (accepted) expect(problem).toBeUndefined();
    else expect(problem).toEqual(expect.any(String));
  });

  it('rejects every entry of the zxcvbn common-password list with at least 15 characters, in any case', () => {
    const long = (dictionary.passwords as string[]).filter((p) => [...p.normalize('NFKC')].length >= MIN_PASSWORD_LENGTH);
    // The list is the offline breached/common sample of T11; it must not be empty for this to mean anything.
    expect(long.length).toBeGreaterThan(20);
    const accepted = long.filter((p) => passwordProblem(p) === undefined || passwordProblem(p.toUpperCase()) === undefined);
    expect(accepted).toEqual([]);
    for (const p of long) expect(passwordProblem(p)).toMatch(/common|repeated|palazzo/);
  });

  it('checks length after NFKC, in code points', () => {
    // U+FB01 (the "fi" ligature) is one code point that NFKC makes two.
    expect([...'\uFB01ne \uFB01xture da'].length).toBe(13);
    expect(passwordProblem('\uFB01ne \uFB01xture da')).toBeUndefined();
    expect(passwordProblem('\uFB01ne mixture d')).toMatch(/at least 15/);
  });
});

describe('hashing keeps the password as typed (after NFKC)', () => {
  it('verifies NFKC-equivalent forms against each other', async () => {
    const pairs: Array<[string, string]> = [
      // precomposed é (NFC) and e + combining acute (NFD)
      ['caf\u00e9 au lait every morning', 'cafe\u0301 au lait every morning'],
      // full-width Latin and ASCII
      ['\uFF33\uFF45\uFF43\uFF52\uFF45\uFF54 garden passphrase', 'Secret garden passphrase'],
      // ligature and its letters
      ['\uFB01ne \uFB01xture of the month', 'fine fixture of the month'],
    ];
    for (const [one, other] of pairs) {
      expect(one).not.toBe(other);
      const stored = await hasher.hash(one);
      expect(await hasher.verify(stored, other)).toBe(true);
      const reverse = await hasher.hash(other);
      expect(await hasher.verify(reverse, one)).toBe(true);
    }
  });

  it('does not truncate: P and P + "x" are different passwords, also past 72 bytes', async () => {
    for (const p of ['correcthorsebat', randomText(100), randomText(1000)]) {
      const stored = await hasher.hash(p);
      expect(await hasher.verify(stored, p)).toBe(true);
      expect(await hasher.verify(stored, `${p}x`)).toBe(false);
      expect(await hasher.verify(stored, p.slice(0, -1))).toBe(false);
    }
  });

  it('preserves case', async () => {
    const stored = await hasher.hash('Correct Horse Battery Staple');
    expect(await hasher.verify(stored, 'Correct Horse Battery Staple')).toBe(true);
    expect(await hasher.verify(stored, 'correct horse battery staple')).toBe(false);
    expect(await hasher.verify(stored, 'CORRECT HORSE BATTERY STAPLE')).toBe(false);
  });

  it('keeps spaces: inner and trailing spaces are part of the password', async () => {
    const stored = await hasher.hash('two  spaces inside here');
    expect(await hasher.verify(stored, 'two  spaces inside here')).toBe(true);
    expect(await hasher.verify(stored, 'two spaces inside here')).toBe(false);
    expect(await hasher.verify(stored, 'two  spaces inside here ')).toBe(false);
  });
});

describe('policy through the API', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await identityContext();
  });
  afterAll(async () => {
    await ctx?.close();
  });

  async function usersWithEmail(email: string): Promise<number> {
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE email = $1', [email]),
    );
    return rows[0]?.n ?? 0;
  }

  it('POST /v1/users with a weak password answers 400 weak_password and creates nothing', async () => {
    const tenant = await ctx.tenant({ slug: `lighthouse-keepers-${randomBytes(3).toString('hex')}` });
    const weak = [
      'fourteen chars', // 14
      'passwordpassword', // on the common list
      '123456789987654321', // on the common list
      'LighthouseKeepers1', // the tenant's name and slug
      'zzzzzzzzzzzzzzzzzzzz', // repeated
      `${'é'.repeat(520)}xyz`, // > 1024 bytes (fewer than 1024 characters, so past the schema)
    ];
    for (const [i, password] of weak.entries()) {
      const email = `weak-${i}@${tenant.slug}.test`;
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: tenant.auth,
        payload: { email, name: 'Weak', role: 'member', password },
      });
      expect(res.statusCode, password).toBe(400);
      expect(res.json()).toMatchObject({ code: 'weak_password', field: 'password' });
      expect(await usersWithEmail(email)).toBe(0);
    }
    // The email's local part is a context word too.
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: tenant.auth,
      payload: { email: `bartholomew@${tenant.slug}.test`, name: 'B', role: 'member', password: 'Bartholomew2024!' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('weak_password');
    // Control: an acceptable password is accepted, so the 400s above are the policy speaking.
    const ok = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: tenant.auth,
      payload: { email: `fine@${tenant.slug}.test`, name: 'Fine', role: 'member', password: 'purple monkey dishwasher galaxy' },
    });
    expect(ok.statusCode).toBe(201);
    expect(await usersWithEmail(`fine@${tenant.slug}.test`)).toBe(1);
  });

  it('a weak owner password refuses tenant creation', async () => {
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/operator/tenants',
      headers: ctx.operatorAuth,
      payload: {
        slug: 'weak-owner-tenant',
        name: 'Weak Owner',
        tier: 'basic',
        owner: { email: 'owner@weak.test', name: 'O', password: 'short' },
      },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('weak_password');
    const { rows } = await ctx.db.withOwner((tx) => tx.query("SELECT 1 FROM tenants WHERE slug = 'weak-owner-tenant'"));
    expect(rows).toHaveLength(0);
  });

  it('has no password expiry or forced rotation: not in the user resource, the API schema or the tables', async () => {
    const forbidden = /expir|rotat|must_?change|change_?required|password_?(changed|updated|age|set)_?at|pwd_?last/i;
    const tenant = await ctx.tenant();
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth });
    const userId = me.json().user.id as string;
    const user = await ctx.app.inject({ method: 'GET', url: `/v1/users/${userId}`, headers: tenant.auth });
    expect(user.statusCode).toBe(200);
    expect(Object.keys(user.json()).filter((k) => forbidden.test(k))).toEqual([]);

    const spec = (await ctx.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    const userPaths = Object.entries(spec.paths).filter(([path]) => path.startsWith('/v1/users') || path === '/v1/me');
    expect(userPaths.length).toBeGreaterThan(0);
    const keys: string[] = [];
    const collect = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'properties' && v && typeof v === 'object') keys.push(...Object.keys(v));
          collect(v);
        }
      }
    };
    collect(userPaths);
    expect(keys).toContain('email');
    expect(keys.filter((k) => forbidden.test(k))).toEqual([]);
    // No route to force or schedule a password change.
    expect(Object.keys(spec.paths).filter((p) => /password/i.test(p) && /expir|rotat|force/i.test(p))).toEqual([]);

    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name IN ('users', 'operators')`,
      ),
    );
    expect(rows.map((r) => r.column_name)).toContain('password_hash');
    expect(rows.filter((r) => forbidden.test(r.column_name))).toEqual([]);
  });
});
