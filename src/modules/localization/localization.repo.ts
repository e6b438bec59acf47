import type { Tx } from '../../platform/db/database.ts';

export type PreferencesRow = {
  tenant_locale: string;
  tenant_timezone: string;
  user_locale: string | null;
  user_timezone: string | null;
};

/** The tenant's locale and time zone, and the user's own (NULL: inherits), in one read. */
export async function findPreferences(tx: Tx, tenantId: string, userId: string | null): Promise<PreferencesRow | undefined> {
  const { rows } = await tx.query<PreferencesRow>(
    `SELECT t.locale AS tenant_locale, t.timezone AS tenant_timezone, u.locale AS user_locale, u.timezone AS user_timezone
     FROM tenants t LEFT JOIN users u ON u.tenant_id = t.id AND u.id = $2::uuid
     WHERE t.id = $1`,
    [tenantId, userId],
  );
  return rows[0];
}

/** Sets the fields that are present (null clears a field, so the user inherits the tenant's value). */
export async function updateUserPreferences(
  tx: Tx,
  userId: string,
  patch: { locale?: string | null; timezone?: string | null },
): Promise<boolean> {
  const result = await tx.query(
    `UPDATE users SET
       locale = CASE WHEN $2::boolean THEN $3 ELSE locale END,
       timezone = CASE WHEN $4::boolean THEN $5 ELSE timezone END,
       updated_at = now()
     WHERE id = $1`,
    [userId, 'locale' in patch, patch.locale ?? null, 'timezone' in patch, patch.timezone ?? null],
  );
  return result.rowCount > 0;
}
