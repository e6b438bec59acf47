/**
 * T05: the tenant context never outlives its transaction.
 *
 * With a pool of one connection every transaction reuses the same physical session, so a
 * session-level setting (SET, set_config(…, false), SET ROLE) left by one request would be seen
 * by the next. After tenant requests, control-plane requests and failed transactions, a fresh
 * transaction must see no app.tenant_id and no tenant rows; mixed-tenant traffic must only ever
 * answer each caller with its own tenant's data; and the source must only use local settings.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.ts';
import { createTestContext, openTestDatabase, PASSWORD, type TestContext } from '../helpers/harness.ts';
import { APP_ROLE, type SeededTenant, seedTenant } from './support.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let db: Database;
let ctx: TestContext;
let a: SeededTenant;
let b: SeededTenant;
let firstPid: number;

type Fresh = { setting: string | null; role: string; pid: number; users: number; sessions: number };

/** What a fresh control-plane transaction on the (single) pooled connection sees. */
async function fresh(): Promise<Fresh> {
  const { rows } = await db.withControlPlane((tx) =>
    tx.query<Fresh>(
      `SELECT current_setting('app.tenant_id', true) AS setting, current_user::text AS role, pg_backend_pid() AS pid,
              (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM sessions) AS sessions`,
    ),
  );
  return rows[0] as Fresh;
}

async function expectClean(after: string) {
  const seen = await fresh();
  expect([null, ''], `app.tenant_id after ${after}`).toContain(seen.setting);
  expect(seen, after).toMatchObject({ role: APP_ROLE, users: 0, sessions: 0 });
  // Same physical connection every time: the pool of one really is reused.
  expect(seen.pid, `backend after ${after}`).toBe(firstPid);
  // A session-level SET ROLE would also survive into the owner's transactions (one PGlite session).
  const owner = await db.withOwner((tx) => tx.query<{ role: string }>('SELECT current_user::text AS role'));
  expect(owner.rows[0]?.role, `owner role after ${after}`).not.toBe(APP_ROLE);
}

async function usersSeenBy(tenant: SeededTenant): Promise<string[]> {
  const res = await ctx.app.inject({ method: 'GET', url: '/v1/users?limit=200', headers: tenant.auth });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json().data as Array<{ email: string }>).map((u) => u.email).sort();
}

beforeAll(async () => {
  db = await openTestDatabase({ poolMax: 1 });
  ctx = await createTestContext({ db });
  a = await seedTenant(ctx);
  b = await seedTenant(ctx);
  firstPid = (await fresh()).pid;
});
afterAll(async () => {
  await ctx?.close();
  await db?.close();
});

describe('T05 (i): sequential requests on a pool of one connection', () => {
  it('A, then no context, then B: no setting and no rows survive any transaction', async () => {
    await expectClean('start');
    expect(await usersSeenBy(a)).toEqual(a.emails);
    await expectClean('a request as A');

    const ready = await ctx.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode, ready.body).toBe(200);
    await expectClean('a control-plane request (readiness)');

    expect(await usersSeenBy(b)).toEqual(b.emails);
    await expectClean('a request as B');

    // B's transaction right after A's sees only B.
    await db.withTenant(a.id, (tx) => tx.query('SELECT count(*) FROM users'));
    const { rows } = await db.withTenant(b.id, (tx) =>
      tx.query<{ tenant_id: string; n: number }>('SELECT tenant_id, count(*)::int AS n FROM users GROUP BY tenant_id'),
    );
    expect(rows).toEqual([{ tenant_id: b.id, n: b.emails.length }]);
    await expectClean('withTenant(A) then withTenant(B)');
  });
});

describe('T05 (ii): errors in the middle of a transaction', () => {
  it('an exception thrown by application code inside withTenant', async () => {
    await expect(
      db.withTenant(a.id, async (tx) => {
        await tx.query('SELECT count(*) FROM users');
        throw new Error('boom in the middle');
      }),
    ).rejects.toThrow('boom in the middle');
    await expectClean('an exception inside withTenant(A)');
  });

  it('an SQL error inside withTenant', async () => {
    await expect(db.withTenant(a.id, (tx) => tx.query('SELECT 1 / (SELECT count(*) - count(*) FROM users)'))).rejects.toMatchObject({
      code: '22012',
    });
    await expectClean('a division by zero inside withTenant(A)');
  });

  it('a row-level security violation inside withTenant', async () => {
    await expect(
      db.withTenant(a.id, (tx) =>
        tx.query(`INSERT INTO security_events (tenant_id, id, type, severity) VALUES ($1, $2, 'probe', 'info')`, [b.id, randomUUID()]),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    await expectClean('a 42501 inside withTenant(A)');
  });

  it('a request refused inside its tenant transaction (409 duplicate email)', async () => {
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: a.auth,
      payload: { email: a.member.email, name: 'Again', role: 'member', password: PASSWORD },
    });
    expect(res.statusCode, res.body).toBe(409);
    await expectClean('a 409 from POST /v1/users as A');
    expect(await usersSeenBy(b)).toEqual(b.emails);
    await expectClean('a request as B after the failure');
  });
});

describe('T05 (iii): bounded mixed-tenant concurrency', () => {
  it('400 interleaved requests of A and B: every response carries only the caller’s tenant', async () => {
    const callers = [
      { tenant: a, auth: a.auth, email: a.ownerEmail },
      { tenant: b, auth: b.auth, email: b.ownerEmail },
      { tenant: a, auth: a.member.auth, email: a.member.email },
      { tenant: b, auth: b.member.auth, email: b.member.email },
      { tenant: a, auth: a.key.auth, email: null },
      { tenant: b, auth: b.key.auth, email: null },
    ];
    const requests = Array.from({ length: 400 }, (_, i) => {
      const caller = callers[i % callers.length] as (typeof callers)[number];
      // API keys hold users.read; every caller alternates between /v1/me and /v1/users.
      const url = Math.floor(i / callers.length) % 2 === 0 ? '/v1/me' : '/v1/users?limit=200';
      return { caller, url };
    });
    const responses = await Promise.all(requests.map(({ caller, url }) => ctx.app.inject({ method: 'GET', url, headers: caller.auth })));

    const mismatches: string[] = [];
    let checked = 0;
    responses.forEach((res, i) => {
      const { caller, url } = requests[i] as (typeof requests)[number];
      if (res.statusCode !== 200) {
        mismatches.push(`#${i} ${url}: status ${res.statusCode}`);
        return;
      }
      const body = res.json();
      if (url === '/v1/me') {
        if (body.tenant?.id !== caller.tenant.id) mismatches.push(`#${i} /v1/me: tenant ${body.tenant?.id}`);
        if (caller.email !== null && body.user?.email !== caller.email) mismatches.push(`#${i} /v1/me: user ${body.user?.email}`);
        if (caller.email === null && body.apiKey?.id !== caller.tenant.key.id) mismatches.push(`#${i} /v1/me: key ${body.apiKey?.id}`);
      } else {
        const emails = (body.data as Array<{ email: string }>).map((u) => u.email).sort();
        if (JSON.stringify(emails) !== JSON.stringify(caller.tenant.emails)) mismatches.push(`#${i} /v1/users: ${emails.join(',')}`);
      }
      checked += 1;
    });
    expect(mismatches).toEqual([]);
    expect(checked).toBe(400);
    await expectClean('400 concurrent requests');
  });
});

/** Findings for session-level settings in a source text: set_config(…, not true), SET without LOCAL. */
function sessionLevelSettings(source: string): string[] {
  const findings: string[] = [];
  const call = /set_config\s*\(/gi;
  for (let match = call.exec(source); match; match = call.exec(source)) {
    // Split the call's arguments at top-level commas, skipping quoted text and nested parentheses.
    const args: string[] = [];
    let depth = 0;
    let quote: string | null = null;
    let current = '';
    let i = match.index + match[0].length;
    for (; i < source.length; i += 1) {
      const ch = source[i] as string;
      if (quote) {
        if (ch === quote) quote = null;
      } else if (ch === "'" || ch === '"' || ch === '`') quote = ch;
      else if (ch === '(') depth += 1;
      else if (ch === ')') {
        if (depth === 0) break;
        depth -= 1;
      } else if (ch === ',' && depth === 0) {
        args.push(current);
        current = '';
        continue;
      }
      current += ch;
    }
    args.push(current);
    const isLocal = args[2]?.trim().toLowerCase();
    if (args.length !== 3 || isLocal !== 'true') findings.push(source.slice(match.index, i + 1).replace(/\s+/g, ' '));
  }
  const statement = /\bSET\s+(?!LOCAL\b)(SESSION\b|ROLE\b|"?app\.)[^;\n`'"]*/gi;
  for (let match = statement.exec(source); match; match = statement.exec(source)) findings.push(match[0]);
  return findings;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.(ts|js|mjs|cjs|sql)$/.test(name) ? [full] : [];
  });
}

describe('T05 (iv): static check that only transaction-local settings are used', () => {
  it('the scanner flags session-level settings and passes local ones (self-check)', () => {
    const bad = [
      "SELECT set_config('app.tenant_id', $1, false)",
      "select set_config('app.tenant_id', '" + '$' + '{id}' + "', $3)",
      "SELECT set_config('app.tenant_id', $1)",
      "SET app.tenant_id = 'x'",
      'SET SESSION app.tenant_id = 1',
      'SET ROLE palazzo_app',
      'set session authorization palazzo_app',
      "ALTER ROLE palazzo_app SET app.tenant_id = ''",
    ];
    for (const text of bad) expect(sessionLevelSettings(text), text).toHaveLength(1);
    const good = [
      "SELECT set_config('app.tenant_id', '" + '$' + '{tenantId.toLowerCase()}' + "', true)",
      "SELECT set_config('app.tenant_id', coalesce($1, ''), TRUE)",
      'SET LOCAL ROLE palazzo_app',
      "SET LOCAL app.tenant_id = 'x'",
      'UPDATE users SET role_key = $1, status = $2',
      'RESET ROLE',
    ];
    for (const text of good) expect(sessionLevelSettings(text), text).toEqual([]);
  });

  it('src/ and migrations/ use only set_config(…, true) and SET LOCAL', () => {
    const files = [...sourceFiles(path.join(ROOT, 'src')), ...sourceFiles(path.join(ROOT, 'migrations'))];
    expect(files.length).toBeGreaterThan(20);
    const findings = files.flatMap((file) =>
      sessionLevelSettings(readFileSync(file, 'utf8')).map((f) => `${path.relative(ROOT, file)}: ${f}`),
    );
    expect(findings).toEqual([]);
    // The scan really reads the code that opens tenant scopes (positive control).
    const scope = readFileSync(path.join(ROOT, 'src/platform/db/database.ts'), 'utf8');
    expect(scope).toMatch(/set_config\('app\.tenant_id'/);
  });
});
