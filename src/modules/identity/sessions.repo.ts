import type { Tx } from '../../platform/db/database.ts';

export type SessionRow = {
  id: string;
  user_id: string;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
};

export async function insertSession(
  tx: Tx,
  session: { tenantId: string; id: string; userId: string; expiresAt: Date; ip: string | null; userAgent: string | null },
): Promise<void> {
  await tx.query('INSERT INTO sessions (tenant_id, id, user_id, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6)', [
    session.tenantId,
    session.id,
    session.userId,
    session.expiresAt,
    session.ip,
    session.userAgent?.slice(0, 500) ?? null,
  ]);
}

export async function insertRefreshToken(
  tx: Tx,
  token: { tenantId: string; id: string; sessionId: string; hash: string; expiresAt: Date },
): Promise<void> {
  await tx.query('INSERT INTO refresh_tokens (tenant_id, id, session_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)', [
    token.tenantId,
    token.id,
    token.sessionId,
    token.hash,
    token.expiresAt,
  ]);
}

/**
 * Marks the token used if, and only if, it is unused and unexpired. The conditional UPDATE is the
 * atomic step: of two concurrent refreshes with the same token, exactly one gets the row.
 */
export async function consumeRefreshToken(tx: Tx, hash: string): Promise<{ session_id: string } | undefined> {
  const { rows } = await tx.query<{ session_id: string }>(
    `UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
     RETURNING session_id`,
    [hash],
  );
  return rows[0];
}

export async function findRefreshToken(tx: Tx, hash: string): Promise<{ session_id: string; used_at: Date | null } | undefined> {
  const { rows } = await tx.query<{ session_id: string; used_at: Date | null }>(
    'SELECT session_id, used_at FROM refresh_tokens WHERE token_hash = $1',
    [hash],
  );
  return rows[0];
}

export type SessionPrincipalRow = {
  session_id: string;
  user_id: string;
  revoked_at: Date | null;
  expires_at: Date;
  user_status: string;
  role_key: string;
  role_builtin: boolean;
  permissions: string[];
};

/** One read gives everything the request path needs to trust a session. */
export async function findSessionPrincipal(tx: Tx, sessionId: string): Promise<SessionPrincipalRow | undefined> {
  const { rows } = await tx.query<SessionPrincipalRow>(
    `SELECT s.id AS session_id, s.user_id, s.revoked_at, s.expires_at, u.status AS user_status, u.role_key, r.builtin AS role_builtin, r.permissions
     FROM sessions s
     JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
     JOIN roles r ON r.tenant_id = u.tenant_id AND r.key = u.role_key
     WHERE s.id = $1`,
    [sessionId],
  );
  return rows[0];
}

export async function touchSession(tx: Tx, sessionId: string): Promise<void> {
  await tx.query('UPDATE sessions SET last_seen_at = now() WHERE id = $1', [sessionId]);
}

export async function revokeSession(tx: Tx, sessionId: string, reason: string): Promise<boolean> {
  const result = await tx.query('UPDATE sessions SET revoked_at = now(), revoke_reason = $2 WHERE id = $1 AND revoked_at IS NULL', [
    sessionId,
    reason,
  ]);
  return result.rowCount > 0;
}

export async function revokeUserSessions(tx: Tx, userId: string, reason: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    'UPDATE sessions SET revoked_at = now(), revoke_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id',
    [userId, reason],
  );
  return rows.map((row) => row.id);
}
