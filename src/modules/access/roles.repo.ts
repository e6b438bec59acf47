import type { Tx } from '../../platform/db/database.ts';
import type { ConditionalGrant } from './conditions.ts';
import { BUILTIN_ROLES, roleGrants } from './permissions.ts';

export type RoleRow = {
  key: string;
  name: string;
  description: string;
  permissions: string[];
  conditions: ConditionalGrant[];
  builtin: boolean;
  created_at: Date;
  updated_at: Date;
};

const COLUMNS = 'key, name, description, permissions, conditions, builtin, created_at, updated_at';

export async function insertBuiltinRoles(tx: Tx, tenantId: string): Promise<void> {
  for (const role of BUILTIN_ROLES) {
    await tx.query(
      `INSERT INTO roles (tenant_id, key, name, description, permissions, builtin) VALUES ($1, $2, $3, $4, $5, true)
       ON CONFLICT (tenant_id, key) DO NOTHING`,
      [tenantId, role.key, role.name, role.description, role.permissions],
    );
  }
}

/** Built-in roles take their grants from code (roleGrants) and carry no conditions. */
function view(row: RoleRow): RoleRow {
  return { ...row, permissions: roleGrants(row), conditions: row.builtin ? [] : (row.conditions ?? []) };
}

export async function listRoles(tx: Tx): Promise<RoleRow[]> {
  const { rows } = await tx.query<RoleRow>(`SELECT ${COLUMNS} FROM roles ORDER BY builtin DESC, key`);
  return rows.map(view);
}

export async function findRole(tx: Tx, key: string): Promise<RoleRow | undefined> {
  const { rows } = await tx.query<RoleRow>(`SELECT ${COLUMNS} FROM roles WHERE key = $1`, [key]);
  return rows[0] && view(rows[0]);
}

export async function lockRole(tx: Tx, key: string): Promise<RoleRow | undefined> {
  const { rows } = await tx.query<RoleRow>(`SELECT ${COLUMNS} FROM roles WHERE key = $1 FOR UPDATE`, [key]);
  return rows[0] && view(rows[0]);
}

export async function insertRole(
  tx: Tx,
  role: { tenantId: string; key: string; name: string; description: string; permissions: string[]; conditions: ConditionalGrant[] },
): Promise<RoleRow> {
  const { rows } = await tx.query<RoleRow>(
    `INSERT INTO roles (tenant_id, key, name, description, permissions, conditions, builtin) VALUES ($1, $2, $3, $4, $5, $6, false)
     RETURNING ${COLUMNS}`,
    [role.tenantId, role.key, role.name, role.description, role.permissions, JSON.stringify(role.conditions)],
  );
  return view(rows[0] as RoleRow);
}

export async function updateRole(
  tx: Tx,
  key: string,
  patch: { name?: string; description?: string; permissions?: string[]; conditions?: ConditionalGrant[] },
): Promise<RoleRow | undefined> {
  const { rows } = await tx.query<RoleRow>(
    `UPDATE roles SET name = COALESCE($2, name), description = COALESCE($3, description), permissions = COALESCE($4, permissions),
       conditions = COALESCE($5::jsonb, conditions), updated_at = now()
     WHERE key = $1 AND NOT builtin RETURNING ${COLUMNS}`,
    [
      key,
      patch.name ?? null,
      patch.description ?? null,
      patch.permissions ?? null,
      patch.conditions === undefined ? null : JSON.stringify(patch.conditions),
    ],
  );
  return rows[0] && view(rows[0]);
}

export async function deleteRole(tx: Tx, key: string): Promise<boolean> {
  const result = await tx.query('DELETE FROM roles WHERE key = $1 AND NOT builtin', [key]);
  return result.rowCount > 0;
}

export async function countCustomRoles(tx: Tx): Promise<number> {
  const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM roles WHERE NOT builtin');
  return rows[0]?.n ?? 0;
}

/** Users of any status hold the role (a deactivated user keeps it for reactivation). */
export async function countRoleUsers(tx: Tx, key: string): Promise<number> {
  const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE role_key = $1', [key]);
  return rows[0]?.n ?? 0;
}
