import type { ConditionalGrant } from '../access/index.ts';
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
  session: {
    tenantId: string;
    id: string;
    userId: string;
    expiresAt: Date;
    ip: string | null;
    userAgent: string | null;
    /** How the user authenticated (RFC 8176 `amr`); the session's auth_time is its creation. */
    amr?: string[];
    /** Creation time when a clock is injected (tests); the database's now() otherwise. */
    at?: Date;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO sessions (tenant_id, id, user_id, expires_at, ip, user_agent, amr, created_at, last_seen_at, auth_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, now()), COALESCE($8, now()), COALESCE($8, now()))`,
    [
      session.tenantId,
      session.id,
      session.userId,
      session.expiresAt,
      session.ip,
      session.userAgent?.slice(0, 500) ?? null,
      session.amr ?? ['pwd'],
      session.at ?? null,
    ],
  );
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
  created_at: Date;
  last_seen_at: Date;
  auth_time: Date | null;
  amr: string[];
  /** Conditional grants of a custom role (F-B5). */
  role_conditions: ConditionalGrant[];
};

/** One read gives everything the request path needs to trust a session. */
export async function findSessionPrincipal(tx: Tx, sessionId: string): Promise<SessionPrincipalRow | undefined> {
  const { rows } = await tx.query<SessionPrincipalRow>(
    `SELECT s.id AS session_id, s.user_id, s.revoked_at, s.expires_at, u.status AS user_status, u.role_key, r.builtin AS role_builtin, r.permissions,
       s.created_at, s.last_seen_at, s.auth_time, s.amr,
       r.conditions AS role_conditions
     FROM sessions s
     JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
     JOIN roles r ON r.tenant_id = u.tenant_id AND r.key = u.role_key
     WHERE s.id = $1`,
    [sessionId],
  );
  return rows[0];
}

export async function touchSession(tx: Tx, sessionId: string, at?: Date): Promise<void> {
  await tx.query('UPDATE sessions SET last_seen_at = COALESCE($2, now()) WHERE id = $1', [sessionId, at ?? null]);
}

export async function revokeSession(tx: Tx, sessionId: string, reason: string): Promise<boolean> {
  const result = await tx.query('UPDATE sessions SET revoked_at = now(), revoke_reason = $2 WHERE id = $1 AND revoked_at IS NULL', [
    sessionId,
    reason,
  ]);
  return result.rowCount > 0;
}

/**
 * Ends every live session of a user, except `exceptSessionId` when given (the session that made the
 * change: "sign out everywhere else"). Returns the ended ids: publish them after the commit
 * (`publishSessionsEnded`) so every node drops its cached copy.
 */
export async function revokeUserSessions(tx: Tx, userId: string, reason: string, exceptSessionId?: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE sessions SET revoked_at = now(), revoke_reason = $2
     WHERE user_id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3) RETURNING id`,
    [userId, reason, exceptSessionId ?? null],
  );
  return rows.map((row) => row.id);
}

/** Ends every session of the user but one (a password change keeps the session that made it). */
export async function revokeOtherSessions(tx: Tx, userId: string, keepSessionId: string, reason: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    'UPDATE sessions SET revoked_at = now(), revoke_reason = $3 WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL RETURNING id',
    [userId, keepSessionId, reason],
  );
  return rows.map((row) => row.id);
}
