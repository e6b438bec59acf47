/**
 * T01 (database role and privileges) and T02 (row-level security catalog lint).
 *
 * The lint reads the catalog, so a table added by a later migration is checked without anyone
 * listing it; its self-checks build broken scratch tables in rolled-back owner transactions and
 * require the lint to flag each one (and not to flag a correctly isolated one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_PLANE_TENANT_COLUMNS } from '../../src/modules/tenants/index.ts';
import type { Tx } from '../../src/platform/db/database.ts';
import { backend, createTestContext, type TestContext } from '../helpers/harness.ts';
import { APP_ROLE, CONTROL_PLANE_WITH_TENANT_ID, ident, rolledBack } from './support.ts';

/** Tables of schema public without a tenant_id column, each with the reason it has none. */
const TABLES_WITHOUT_TENANT_ID: Record<string, string> = {
  tiers: 'control plane: tier catalogue shared by all tenants, edited by operators',
  tenants: 'control plane: the tenant registry itself (its id is the tenant id)',
  operators: 'control plane: platform operators, who belong to no tenant',
  signing_keys: 'control plane: keys that sign every access token of the instance',
  instance_state: 'control plane: instance-wide settings and markers',
  palazzo_migrations: 'migration ledger, written by the owner role only',
  config_profiles: 'control plane: the catalogue of industry profiles, shared by all tenants',
  config_versions: 'control plane: versions of the global, profile and tier configuration levels',
  config_rollouts: 'control plane: gradual rollouts of global configuration changes',
};

type Finding = { table: string; rule: string; detail?: string };

const TENANT_RULE_MARKERS = ['tenant_id', "current_setting('app.tenant_id'"];

/** The RLS catalog lint (T02). Returns every finding; an isolated schema returns none. */
async function lintTenantIsolation(tx: Tx): Promise<Finding[]> {
  const findings: Finding[] = [];
  const controlPlane = new Set(Object.keys(CONTROL_PLANE_WITH_TENANT_ID));
  const { rows: tables } = await tx.query<{
    name: string;
    rls: boolean;
    forced: boolean;
    owner: string;
    can_truncate: boolean;
    has_tenant_id: boolean;
  }>(
    `SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
            pg_get_userbyid(c.relowner) AS owner,
            has_table_privilege($1, c.oid, 'TRUNCATE') AS can_truncate,
            EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant_id
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
     ORDER BY c.relname`,
    [APP_ROLE],
  );
  const { rows: policies } = await tx.query<{
    table: string;
    name: string;
    permissive: string;
    roles: string;
    cmd: string;
    qual: string | null;
    with_check: string | null;
  }>(
    `SELECT tablename AS "table", policyname AS name, permissive, array_to_string(roles, ',') AS roles, cmd, qual, with_check
     FROM pg_policies WHERE schemaname = 'public'`,
  );

  const present = new Set(tables.map((t) => t.name));
  for (const name of [...Object.keys(TABLES_WITHOUT_TENANT_ID), ...controlPlane]) {
    if (!present.has(name)) findings.push({ table: name, rule: 'stale_allowlist_entry' });
  }

  for (const table of tables) {
    if (!table.has_tenant_id) {
      if (!(table.name in TABLES_WITHOUT_TENANT_ID)) findings.push({ table: table.name, rule: 'table_without_tenant_id_not_allowlisted' });
      continue;
    }
    if (controlPlane.has(table.name)) continue;
    if (!table.rls) findings.push({ table: table.name, rule: 'rls_not_enabled' });
    if (!table.forced) findings.push({ table: table.name, rule: 'rls_not_forced' });
    if (table.owner === APP_ROLE) findings.push({ table: table.name, rule: 'owned_by_app_role' });
    if (table.can_truncate) findings.push({ table: table.name, rule: 'app_role_can_truncate' });
    const own = policies.filter((p) => p.table === table.name);
    const appliesToApp = (p: (typeof own)[number]) => p.roles.split(',').some((r) => r === 'public' || r === APP_ROLE);
    const floor = own.find(
      (p) =>
        p.permissive === 'RESTRICTIVE' &&
        p.cmd === 'ALL' &&
        appliesToApp(p) &&
        TENANT_RULE_MARKERS.every((m) => p.qual?.includes(m)) &&
        (p.with_check === null || TENANT_RULE_MARKERS.every((m) => p.with_check?.includes(m))),
    );
    if (!floor) findings.push({ table: table.name, rule: 'no_restrictive_tenant_policy_for_all_commands' });
    for (const p of own) {
      if (p.qual?.trim() === 'true' || p.with_check?.trim() === 'true') {
        findings.push({ table: table.name, rule: 'policy_always_true', detail: p.name });
      }
    }
  }
  return findings;
}

let ctx: TestContext;
let someTenant: string;
beforeAll(async () => {
  ctx = await createTestContext();
  someTenant = (await ctx.tenant()).id;
});
afterAll(async () => {
  await ctx?.close();
});

type RoleFacts = { current_user: string; session_user: string; rolsuper: boolean; rolbypassrls: boolean; row_security: string };
const ROLE_FACTS = `SELECT current_user::text AS current_user, session_user::text AS session_user, r.rolsuper, r.rolbypassrls,
                           current_setting('row_security') AS row_security
                    FROM pg_roles r WHERE r.rolname = current_user`;

describe('T01: the role requests run as', () => {
  it('is palazzo_app, not superuser, without BYPASSRLS, in control-plane and tenant transactions', async () => {
    const viaControlPlane = await ctx.db.withControlPlane((tx) => tx.query<RoleFacts>(ROLE_FACTS));
    const viaTenant = await ctx.db.withTenant(someTenant, (tx) => tx.query<RoleFacts>(ROLE_FACTS));
    for (const { rows } of [viaControlPlane, viaTenant]) {
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ current_user: APP_ROLE, rolsuper: false, rolbypassrls: false, row_security: 'on' });
      // On PostgreSQL the pool logs in as the restricted role (PGlite switches with SET LOCAL ROLE).
      if (backend() === 'postgres') expect(rows[0]?.session_user).toBe(APP_ROLE);
    }
  });

  it('is a different role from the one migrations run as, which owns the tables', async () => {
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ me: string; ledger_owner: string }>(
        `SELECT current_user::text AS me, pg_get_userbyid(relowner) AS ledger_owner FROM pg_class
         WHERE oid = 'public.palazzo_migrations'::regclass`,
      ),
    );
    expect(rows[0]?.me).not.toBe(APP_ROLE);
    expect(rows[0]?.ledger_owner).toBe(rows[0]?.me);
  });

  it('owns no relation, function or schema at all', async () => {
    const { rows } = await ctx.db.withControlPlane((tx) =>
      tx.query<{ kind: string; name: string }>(
        `SELECT 'relation' AS kind, c.oid::regclass::text AS name FROM pg_class c WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = $1)
         UNION ALL SELECT 'function', p.oid::regprocedure::text FROM pg_proc p WHERE p.proowner = (SELECT oid FROM pg_roles WHERE rolname = $1)
         UNION ALL SELECT 'schema', n.nspname::text FROM pg_namespace n WHERE n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
        [APP_ROLE],
      ),
    );
    expect(rows).toEqual([]);
  });

  it('has no TRUNCATE on any table of schema public (TRUNCATE ignores row-level security)', async () => {
    const { rows } = await ctx.db.withControlPlane((tx) =>
      tx.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND has_table_privilege($1, c.oid, 'TRUNCATE')`,
        [APP_ROLE],
      ),
    );
    expect(rows).toEqual([]);
  });
});

describe('T02: row-level security catalog lint', () => {
  it('the control-plane allowlist of the purge module and of this lint agree, each entry with a reason', () => {
    expect([...CONTROL_PLANE_TENANT_COLUMNS].sort()).toEqual(Object.keys(CONTROL_PLANE_WITH_TENANT_ID).sort());
    for (const reason of [...Object.values(CONTROL_PLANE_WITH_TENANT_ID), ...Object.values(TABLES_WITHOUT_TENANT_ID)]) {
      expect(reason.length).toBeGreaterThan(20);
    }
  });

  it('finds nothing in the migrated schema, read through the app connection', async () => {
    const findings = await ctx.db.withControlPlane((tx) => lintTenantIsolation(tx));
    expect(findings).toEqual([]);
  });

  it('covers every tenant table from the catalog (positive control of the catalog query)', async () => {
    const { rows } = await ctx.db.withControlPlane((tx) =>
      tx.query<{ name: string; rls: boolean; forced: boolean; owner: string }>(
        `SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, pg_get_userbyid(c.relowner) AS owner
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> ALL($1::text[])`,
        [[...CONTROL_PLANE_TENANT_COLUMNS]],
      ),
    );
    const names = rows.map((r) => r.name);
    // The tables of migration 0001 are all there: the catalog query is not silently empty.
    for (const t of ['roles', 'users', 'sessions', 'refresh_tokens', 'api_keys', 'api_key_secrets', 'security_events', 'tenant_settings']) {
      expect(names).toContain(t);
    }
    for (const row of rows) {
      expect(row, row.name).toMatchObject({ rls: true, forced: true });
      expect(row.owner, row.name).not.toBe(APP_ROLE);
    }
  });

  /** Runs the lint in a rolled-back owner transaction after `setup` created scratch objects. */
  const lintAfter = (setup: string) =>
    rolledBack(
      (fn) => ctx.db.withOwner(fn),
      async (tx) => {
        await tx.exec(setup);
        return lintTenantIsolation(tx);
      },
    );
  const SCRATCH = 'isolation_lint_scratch';
  const create = `CREATE TABLE ${ident(SCRATCH)} (tenant_id uuid NOT NULL REFERENCES tenants (id), id uuid NOT NULL, note text,
                  PRIMARY KEY (tenant_id, id)); GRANT SELECT, INSERT, UPDATE, DELETE ON ${ident(SCRATCH)} TO ${APP_ROLE};`;
  const isolated = `${create} SELECT palazzo_enable_tenant_isolation('${SCRATCH}');`;
  const rulesFor = (findings: Finding[]) =>
    findings
      .filter((f) => f.table === SCRATCH)
      .map((f) => f.rule)
      .sort();

  it('self-check: flags a scratch table with tenant_id and no row-level security', async () => {
    const findings = await lintAfter(create);
    expect(rulesFor(findings)).toEqual(['no_restrictive_tenant_policy_for_all_commands', 'rls_not_enabled', 'rls_not_forced']);
    expect(findings.filter((f) => f.table !== SCRATCH)).toEqual([]);
  });

  it('self-check: does not flag a scratch table isolated the way migrations do it (negative control)', async () => {
    expect(rulesFor(await lintAfter(isolated))).toEqual([]);
  });

  it('self-check: flags each way an isolated table can be weakened', async () => {
    const t = ident(SCRATCH);
    const cases: Array<[string, string[]]> = [
      [`ALTER TABLE ${t} NO FORCE ROW LEVEL SECURITY`, ['rls_not_forced']],
      [`ALTER TABLE ${t} DISABLE ROW LEVEL SECURITY`, ['rls_not_enabled']],
      [`GRANT TRUNCATE ON ${t} TO ${APP_ROLE}`, ['app_role_can_truncate']],
      // An owner holds every privilege, TRUNCATE included.
      [`ALTER TABLE ${t} OWNER TO ${APP_ROLE}`, ['app_role_can_truncate', 'owned_by_app_role']],
      [`DROP POLICY tenant_floor ON ${t}`, ['no_restrictive_tenant_policy_for_all_commands']],
      [`ALTER POLICY tenant_floor ON ${t} USING (true)`, ['no_restrictive_tenant_policy_for_all_commands', 'policy_always_true']],
      [`ALTER POLICY tenant_access ON ${t} WITH CHECK (true)`, ['policy_always_true']],
      [`CREATE POLICY open_door ON ${t} FOR SELECT USING (true)`, ['policy_always_true']],
      [
        `DROP POLICY tenant_floor ON ${t};
         CREATE POLICY tenant_floor ON ${t} AS RESTRICTIVE FOR SELECT
           USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid))`,
        ['no_restrictive_tenant_policy_for_all_commands'],
      ],
      [
        `DROP POLICY tenant_floor ON ${t};
         CREATE POLICY tenant_floor ON ${t} AS RESTRICTIVE FOR ALL TO CURRENT_USER
           USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid))`,
        ['no_restrictive_tenant_policy_for_all_commands'],
      ],
    ];
    for (const [mutation, expected] of cases) {
      expect(rulesFor(await lintAfter(`${isolated} ${mutation};`)), mutation).toEqual(expected.sort());
    }
  });

  it('self-check: flags a table without tenant_id that is not on the allowlist', async () => {
    const findings = await lintAfter(`CREATE TABLE ${ident(SCRATCH)} (id uuid PRIMARY KEY, note text)`);
    expect(findings).toEqual([{ table: SCRATCH, rule: 'table_without_tenant_id_not_allowlisted' }]);
  });

  it('self-check: the scratch objects are gone after the rolled-back transactions', async () => {
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class WHERE relname = $1`, [SCRATCH]),
    );
    expect(rows[0]?.n).toBe(0);
  });
});
