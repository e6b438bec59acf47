/**
 * T12: Argon2id storage and cost (ASVS 11.4.2 and Appendix C, OWASP Password Storage CS): every
 * stored hash is Argon2id at or above m=19456 KiB, t=2, p=1 with a unique ≥ 16-byte salt; raising
 * the parameters rehashes on the next successful login; an over-long password is refused before any
 * hashing; no plaintext or fast hash of a password is stored anywhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { OPERATOR, PASSWORD, type TestContext } from '../helpers/harness.ts';
import { scanDatabase, sharedKeyContexts } from './support.ts';

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

type Parsed = { m: number; t: number; p: number; salt: Buffer; hash: Buffer };

function parse(stored: string): Parsed {
  const match = PHC.exec(stored);
  if (!match) throw new Error(`not an Argon2id v19 PHC string: ${stored.slice(0, 20)}…`);
  const [, m, t, p, salt, hash] = match as unknown as [string, string, string, string, string, string];
  return { m: Number(m), t: Number(t), p: Number(p), salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
}

const RAISED = { memoryCost: 24_576, timeCost: 3, parallelism: 1 };

const nodes = sharedKeyContexts();
let ctx: TestContext;
let raised: TestContext;
beforeAll(async () => {
  ctx = await nodes.first();
  raised = await nodes.another(ctx.db, { argon2: RAISED });
});
afterAll(async () => {
  await raised?.close();
  await ctx?.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function allStoredHashes(): Promise<Array<{ kind: string; email: string; hash: string | null }>> {
  return ctx.db.withOwner(async (tx) => {
    const users = await tx.query<{ email: string; hash: string | null }>('SELECT email, password_hash AS hash FROM users');
    const operators = await tx.query<{ email: string; hash: string | null }>('SELECT email, password_hash AS hash FROM operators');
    return [...users.rows.map((r) => ({ kind: 'user', ...r })), ...operators.rows.map((r) => ({ kind: 'operator', ...r }))];
  });
}

async function userHash(email: string): Promise<string> {
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ h: string }>('SELECT password_hash AS h FROM users WHERE email = $1', [email]),
  );
  if (!rows[0]) throw new Error(`no user ${email}`);
  return rows[0].h;
}

async function operatorHash(email: string): Promise<string> {
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ h: string }>('SELECT password_hash AS h FROM operators WHERE email = $1', [email]),
  );
  if (!rows[0]) throw new Error(`no operator ${email}`);
  return rows[0].h;
}

function login(on: TestContext, tenant: string, email: string, password: string) {
  return on.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant, email, password } });
}

describe('stored hashes', () => {
  it('every user and operator hash is Argon2id v19 at or above m=19456, t=2, p=1 with unique ≥ 16-byte salts', async () => {
    const tenant = await ctx.tenant();
    await ctx.user(tenant, 'member');
    await ctx.user(tenant, 'admin');
    await ctx.palazzo.services.operators.create({
      email: `second-op-${randomBytes(3).toString('hex')}@x.test`,
      name: 'Op',
      password: OPERATOR.password,
    });
    const stored = await allStoredHashes();
    expect(stored.filter((s) => s.kind === 'user').length).toBeGreaterThanOrEqual(3);
    expect(stored.filter((s) => s.kind === 'operator').length).toBeGreaterThanOrEqual(2);
    const salts = new Set<string>();
    for (const { email, hash } of stored) {
      expect(hash, email).not.toBeNull();
      const parsed = parse(hash as string);
      expect(parsed.m, email).toBeGreaterThanOrEqual(19_456);
      expect(parsed.t, email).toBeGreaterThanOrEqual(2);
      expect(parsed.p, email).toBeGreaterThanOrEqual(1);
      expect(parsed.salt.length, email).toBeGreaterThanOrEqual(16);
      expect(parsed.hash.length, email).toBeGreaterThanOrEqual(32);
      salts.add(parsed.salt.toString('hex'));
    }
    expect(salts.size).toBe(stored.length);
  });

  it('the same password gives different hashes for different accounts (salted)', async () => {
    const tenant = await ctx.tenant();
    const a = await ctx.user(tenant, 'member');
    const b = await ctx.user(tenant, 'member');
    const [ha, hb] = [await userHash(a.email), await userHash(b.email)];
    expect(ha).not.toBe(hb);
    expect(parse(ha).salt.equals(parse(hb).salt)).toBe(false);
  });
});

describe('raising the cost', () => {
  it('rehashes a user on the next successful login only, and never downgrades', async () => {
    const tenant = await ctx.tenant();
    const user = await ctx.user(tenant, 'member');
    const before = await userHash(user.email);
    expect(parse(before)).toMatchObject({ m: 19_456, t: 2, p: 1 });

    const wrong = await login(raised, tenant.slug, user.email, `${PASSWORD} nope`);
    expect(wrong.statusCode).toBe(401);
    expect(await userHash(user.email)).toBe(before);

    const ok = await login(raised, tenant.slug, user.email, PASSWORD);
    expect(ok.statusCode).toBe(200);
    const after = await userHash(user.email);
    expect(parse(after)).toMatchObject({ m: RAISED.memoryCost, t: RAISED.timeCost, p: RAISED.parallelism });
    expect(parse(after).salt.equals(parse(before).salt)).toBe(false);

    // Already at the raised cost: no further rehash.
    expect((await login(raised, tenant.slug, user.email, PASSWORD)).statusCode).toBe(200);
    expect(await userHash(user.email)).toBe(after);

    // A node still on the lower cost verifies the stronger hash and leaves it alone.
    expect((await login(ctx, tenant.slug, user.email, PASSWORD)).statusCode).toBe(200);
    expect(await userHash(user.email)).toBe(after);
  });

  it('rehashes an operator on the next successful login', async () => {
    const email = `rehash-op-${randomBytes(3).toString('hex')}@x.test`;
    await ctx.palazzo.services.operators.create({ email, name: 'Op', password: OPERATOR.password });
    const before = await operatorHash(email);
    expect(parse(before)).toMatchObject({ m: 19_456, t: 2 });
    const wrong = await raised.app.inject({
      method: 'POST',
      url: '/v1/operator/login',
      payload: { email, password: 'not the operator password' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(await operatorHash(email)).toBe(before);
    const ok = await raised.app.inject({ method: 'POST', url: '/v1/operator/login', payload: { email, password: OPERATOR.password } });
    expect(ok.statusCode).toBe(200);
    expect(parse(await operatorHash(email))).toMatchObject({ m: RAISED.memoryCost, t: RAISED.timeCost });
  });
});

describe('upper bound on password bytes', () => {
  // 600 two-byte characters: under the schema's 1024-character limit, over the 1024-byte limit.
  const overBytes = `${'é'.repeat(600)}`;

  it('a login password over 1024 bytes is refused with 400 before any Argon2 work', async () => {
    const tenant = await ctx.tenant();
    const verify = vi.spyOn(ctx.palazzo.services.passwords, 'verify');
    const hash = vi.spyOn(ctx.palazzo.services.passwords, 'hash');

    expect(Buffer.byteLength(overBytes)).toBeGreaterThan(1024);
    const res = await login(ctx, tenant.slug, tenant.ownerEmail, overBytes);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('validation_failed');
    const huge = await login(ctx, tenant.slug, tenant.ownerEmail, 'x'.repeat(100_000));
    expect(huge.statusCode).toBe(400);
    const operator = await ctx.app.inject({
      method: 'POST',
      url: '/v1/operator/login',
      payload: { email: 'nobody@x.test', password: overBytes },
    });
    expect(operator.statusCode).toBe(400);
    expect(verify).not.toHaveBeenCalled();
    expect(hash).not.toHaveBeenCalled();

    // Control: exactly 1024 bytes is a password like any other and is verified (wrong → 401).
    const atLimit = 'é'.repeat(512);
    expect(Buffer.byteLength(atLimit)).toBe(1024);
    const wrong = await login(ctx, tenant.slug, tenant.ownerEmail, atLimit);
    expect(wrong.statusCode).toBe(401);
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('a user whose password is exactly 1024 bytes can log in', async () => {
    const tenant = await ctx.tenant();
    const password = randomBytes(512).toString('hex');
    const email = `long-${randomBytes(3).toString('hex')}@${tenant.slug}.test`;
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: tenant.auth,
      payload: { email, name: 'Long', role: 'member', password },
    });
    expect(created.statusCode).toBe(201);
    expect((await login(ctx, tenant.slug, email, password)).statusCode).toBe(200);
    expect((await login(ctx, tenant.slug, email, password.slice(0, -1))).statusCode).toBe(401);
  });
});

describe('no plaintext or fast hash anywhere', () => {
  it('a scan of every text, json and array column of every table finds no test password in any form', async () => {
    const tenant = await ctx.tenant();
    await ctx.user(tenant, 'member');
    const special = `scan-me ${randomBytes(8).toString('hex')} passphrase`;
    const email = `special-${randomBytes(3).toString('hex')}@${tenant.slug}.test`;
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: tenant.auth,
      payload: { email, name: 'Special', role: 'member', password: special },
    });
    expect(created.statusCode).toBe(201);
    expect((await login(ctx, tenant.slug, email, special)).statusCode).toBe(200);
    // Failed logins must not record the attempted password either.
    const attempted = `wrong attempt ${randomBytes(8).toString('hex')}`;
    expect((await login(ctx, tenant.slug, email, attempted)).statusCode).toBe(401);

    const plaintexts = [PASSWORD, OPERATOR.password, special, attempted];
    const forms = plaintexts.flatMap((p) => [
      p,
      Buffer.from(p).toString('base64'),
      Buffer.from(p).toString('hex'),
      ...['md5', 'sha1', 'sha256', 'sha512'].flatMap((alg) => {
        const digest = createHash(alg).update(p);
        const bytes = digest.digest();
        return [bytes.toString('hex'), bytes.toString('base64').replace(/=+$/, '')];
      }),
    ]);
    const { hits, values, columns } = await scanDatabase(ctx.db, [...forms, email]);
    // Positive control: the scan reads tenant tables (the new user's email is found in users.email).
    expect(hits.filter((h) => h.needle === email).map((h) => `${h.table}.${h.column}`)).toContain('users.email');
    expect(columns).toBeGreaterThan(20);
    expect(values).toBeGreaterThan(50);
    expect(hits.filter((h) => h.needle !== email)).toEqual([]);
  });
});
