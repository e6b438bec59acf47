/**
 * Shared pieces of the security suites: the route inventory read from the running app, problem
 * assertions, and a per-tenant fingerprint of every tenant table (T06, T07, T08, T39).
 */
import { expect } from 'vitest';
import type { Database } from '../../src/platform/db/database.ts';
import type { TestContext } from '../helpers/harness.ts';

export type Route = { method: string; url: string };

/** `GET /v1/users/:id`: the key every table in these suites uses. */
export const keyOf = (route: Route) => `${route.method} ${route.url}`;

/**
 * Every route the router knows, hidden ones included (the OpenAPI document leaves out hidden routes,
 * HEAD twins and plugin routes). Read from `printRoutes({ commonPrefix: false })`: each line is one
 * node, its path is the concatenation of its ancestors' segments, and the methods are in brackets.
 */
export function discoverRoutes(app: TestContext['app']): Route[] {
  const text = app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: Route[] = [];
  for (const line of text.split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] as string).length / 4;
    stack.length = depth;
    stack.push(match[2] as string);
    if (!match[3]) continue;
    const url = stack.join('');
    for (const method of match[3].split(',').map((m) => m.trim())) routes.push({ method, url });
  }
  // The parser must agree with the OpenAPI document: every documented operation is found.
  const doc = app.swagger() as { paths: Record<string, Record<string, unknown>> };
  for (const [path, operations] of Object.entries(doc.paths)) {
    const url = path.replace(/\{(\w+)\}/g, ':$1');
    for (const method of Object.keys(operations)) {
      if (!routes.some((r) => r.url === url && r.method === method.toUpperCase())) {
        throw new Error(`route inventory parser missed ${method.toUpperCase()} ${url}`);
      }
    }
  }
  return routes.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}

export const hasParam = (route: Route) => /[:*]/.test(route.url);

/** Fills path parameters: every `:name` gets `value`. */
export function fill(url: string, value: string): string {
  // A route with two ids (a base and its document) takes "first|second"; a single value fills every parameter.
  const values = value.split('|');
  let i = 0;
  return url.replace(/:\w+/g, () => values[Math.min(i++, values.length - 1)] as string);
}

type Response = { statusCode: number; headers: Record<string, unknown>; body: string };

const STACK_TRACE = /\bat [\w.<>]+ \(|\n\s+at |node_modules|\.ts:\d+|\.js:\d+|"stack"|\/work\//;

/** An RFC 9457 body with the expected status and code, and nothing that looks like a stack trace. */
export function expectProblem(res: Response, status: number, code?: string) {
  expect(res.statusCode, res.body).toBe(status);
  expectProblemShape(res);
  if (code) expect(JSON.parse(res.body).code, res.body).toBe(code);
}

export function expectProblemShape(res: Response) {
  expect(String(res.headers['content-type']), res.body).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(typeof body.code, res.body).toBe('string');
  expect(body.status, res.body).toBe(res.statusCode);
  expect(res.body).not.toMatch(STACK_TRACE);
}

/** Tenant tables, read from the catalog so a new table is fingerprinted without editing the test. */
export async function tenantTables(db: Database): Promise<string[]> {
  return db.withOwner(async (tx) => {
    const { rows } = await tx.query<{ table_name: string }>(
      `SELECT c.table_name FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
        ORDER BY c.table_name`,
    );
    return rows.map((r) => r.table_name);
  });
}

/**
 * An md5 of every row of the tenant in every tenant table, plus its row in `tenants`, read as the
 * owner role with the tenant's scope set (so the result is the same whether or not the owner
 * bypasses row-level security).
 */
export async function fingerprint(db: Database, tenantId: string): Promise<Record<string, string>> {
  const tables = await tenantTables(db);
  return db.withOwner(async (tx) => {
    await tx.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
    const out: Record<string, string> = {};
    for (const table of [...tables, 'tenants']) {
      const column = table === 'tenants' ? 'id' : 'tenant_id';
      const { rows } = await tx.query<{ n: string; h: string }>(
        `SELECT count(*)::text AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h
           FROM public.${table} t WHERE ${column} = $1`,
        [tenantId],
      );
      out[table] = `${rows[0]?.n}:${rows[0]?.h}`;
    }
    return out;
  });
}

/** Every `id` (and a few other identifying values) of the tenant's rows, for leak scans. */
export async function identifiersOf(db: Database, tenantId: string): Promise<string[]> {
  const tables = await tenantTables(db);
  return db.withOwner(async (tx) => {
    await tx.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
    const values = new Set<string>([tenantId]);
    const { rows: tenantRows } = await tx.query<{ slug: string }>('SELECT slug FROM tenants WHERE id = $1', [tenantId]);
    for (const row of tenantRows) values.add(row.slug);
    for (const table of tables) {
      const { rows: columns } = await tx.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = $1 AND column_name IN ('id', 'email', 'hint')`,
        [table],
      );
      for (const { column_name } of columns) {
        const { rows } = await tx.query<{ v: string }>(`SELECT ${column_name}::text AS v FROM public.${table} WHERE tenant_id = $1`, [
          tenantId,
        ]);
        for (const row of rows) values.add(row.v);
      }
    }
    return [...values];
  });
}

/** The values of `needles` found in `text` (case-insensitive). */
export function leaked(text: string, needles: readonly string[]): string[] {
  const haystack = text.toLowerCase();
  return needles.filter((n) => haystack.includes(n.toLowerCase()));
}
