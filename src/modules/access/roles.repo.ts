import type { Tx } from '../../platform/db/database.ts';
import { BUILTIN_ROLES, roleGrants } from './permissions.ts';

export type RoleRow = {
  key: string;
  name: string;
  description: string;
  permissions: string[];
  builtin: boolean;
  created_at: Date;
  updated_at: Date;
};

export async function insertBuiltinRoles(tx: Tx, tenantId: string): Promise<void> {
  for (const role of BUILTIN_ROLES) {
    await tx.query(
      `INSERT INTO roles (tenant_id, key, name, description, permissions, builtin) VALUES ($1, $2, $3, $4, $5, true)
       ON CONFLICT (tenant_id, key) DO NOTHING`,
      [tenantId, role.key, role.name, role.description, role.permissions],
    );
  }
}

export async function listRoles(tx: Tx): Promise<RoleRow[]> {
  const { rows } = await tx.query<RoleRow>(
    'SELECT key, name, description, permissions, builtin, created_at, updated_at FROM roles ORDER BY builtin DESC, key',
  );
  return rows.map((row) => ({ ...row, permissions: roleGrants(row) }));
}

export async function findRole(tx: Tx, key: string): Promise<RoleRow | undefined> {
  const { rows } = await tx.query<RoleRow>(
    'SELECT key, name, description, permissions, builtin, created_at, updated_at FROM roles WHERE key = $1',
    [key],
  );
  return rows[0] && { ...rows[0], permissions: roleGrants(rows[0]) };
}
