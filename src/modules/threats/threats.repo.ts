import type { Tx } from '../../platform/db/database.ts';

export type LockRow = { id: string; locked_until: Date | null; lock_reason: string | null };
export type SuspensionRow = { id: string; suspended_at: Date | null; suspend_reason: string | null };

export async function lockUser(tx: Tx, id: string, until: Date, reason: string): Promise<LockRow | undefined> {
  const { rows } = await tx.query<LockRow>(
    `UPDATE users SET locked_until = $2, lock_reason = $3, updated_at = now() WHERE id = $1
     RETURNING id, locked_until, lock_reason`,
    [id, until, reason],
  );
  return rows[0];
}

export async function unlockUser(tx: Tx, id: string): Promise<LockRow | undefined> {
  const { rows } = await tx.query<LockRow>(
    `UPDATE users SET locked_until = NULL, lock_reason = NULL, updated_at = now() WHERE id = $1
     RETURNING id, locked_until, lock_reason`,
    [id],
  );
  return rows[0];
}

/** Ends the user's sessions; returns their ids (to drop them from every node's cache). */
export async function revokeUserSessions(tx: Tx, userId: string, reason: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    'UPDATE sessions SET revoked_at = now(), revoke_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id',
    [userId, reason],
  );
  return rows.map((row) => row.id);
}

export async function suspendApiKey(tx: Tx, id: string, reason: string): Promise<SuspensionRow | undefined> {
  const { rows } = await tx.query<SuspensionRow>(
    `UPDATE api_keys SET suspended_at = COALESCE(suspended_at, now()), suspend_reason = $2, updated_at = now()
     WHERE id = $1 AND revoked_at IS NULL RETURNING id, suspended_at, suspend_reason`,
    [id, reason],
  );
  return rows[0];
}

export async function reinstateApiKey(tx: Tx, id: string): Promise<SuspensionRow | undefined> {
  const { rows } = await tx.query<SuspensionRow>(
    `UPDATE api_keys SET suspended_at = NULL, suspend_reason = NULL, updated_at = now() WHERE id = $1
     RETURNING id, suspended_at, suspend_reason`,
    [id],
  );
  return rows[0];
}
