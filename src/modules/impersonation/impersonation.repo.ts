import type { Tx } from '../../platform/db/database.ts';

export async function insertGrant(
  tx: Tx,
  grant: { tenantId: string; id: string; operatorId: string; reason: string; userId: string | null; roleKey: string; expiresAt: Date },
): Promise<void> {
  await tx.query(
    `INSERT INTO impersonation_grants (tenant_id, id, operator_id, reason, user_id, role_key, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [grant.tenantId, grant.id, grant.operatorId, grant.reason, grant.userId, grant.roleKey, grant.expiresAt],
  );
}

export type GrantPrincipalRow = {
  id: string;
  operator_id: string;
  reason: string;
  user_id: string | null;
  expires_at: Date;
  revoked_at: Date | null;
  user_status: string | null;
  role_key: string;
  role_builtin: boolean | null;
  permissions: string[] | null;
};

/**
 * The grant with what it acts as: the named user's current role (a role change applies at once),
 * or the role recorded in the grant when no user is named.
 */
export async function findGrantPrincipal(tx: Tx, id: string): Promise<GrantPrincipalRow | undefined> {
  const { rows } = await tx.query<GrantPrincipalRow>(
    `SELECT g.id, g.operator_id, g.reason, g.user_id, g.expires_at, g.revoked_at, u.status AS user_status,
            COALESCE(u.role_key, g.role_key) AS role_key, r.builtin AS role_builtin, r.permissions
     FROM impersonation_grants g
     LEFT JOIN users u ON u.tenant_id = g.tenant_id AND u.id = g.user_id
     LEFT JOIN roles r ON r.tenant_id = g.tenant_id AND r.key = COALESCE(u.role_key, g.role_key)
     WHERE g.id = $1`,
    [id],
  );
  return rows[0];
}
