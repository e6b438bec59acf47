import type { Tx } from '../../platform/db/database.ts';

export type SessionViewRow = {
  id: string;
  user_id: string;
  ip: string | null;
  user_agent: string | null;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  auth_time: Date | null;
  amr: string[];
};

const COLUMNS = 'id, user_id, ip, user_agent, created_at, last_seen_at, expires_at, auth_time, amr';

/** Live sessions of a user: not revoked, not expired, within the idle and absolute lifetimes. Newest first. */
export async function listLiveSessions(
  tx: Tx,
  userId: string,
  filter: { now: Date; idleSince: Date; createdSince: Date; after: string | null; limit: number },
): Promise<SessionViewRow[]> {
  const { rows } = await tx.query<SessionViewRow>(
    `SELECT ${COLUMNS} FROM sessions
     WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_seen_at > $3 AND created_at > $4
       AND ($5::uuid IS NULL OR id < $5)
     ORDER BY id DESC LIMIT $6`,
    [userId, filter.now, filter.idleSince, filter.createdSince, filter.after, filter.limit + 1],
  );
  return rows;
}

/** Ends one live session of the user; false when it is not theirs, unknown or already ended. */
export async function revokeUserSession(tx: Tx, userId: string, sessionId: string, reason: string): Promise<boolean> {
  const result = await tx.query(
    'UPDATE sessions SET revoked_at = now(), revoke_reason = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL',
    [sessionId, userId, reason],
  );
  return result.rowCount > 0;
}

/** Recent sessions of a user, ended ones included: the devices and networks the user is known from. */
export async function listRecentClients(tx: Tx, userId: string, since: Date): Promise<{ ip: string | null; user_agent: string | null }[]> {
  const { rows } = await tx.query<{ ip: string | null; user_agent: string | null }>(
    'SELECT ip, user_agent FROM sessions WHERE user_id = $1 AND created_at > $2 ORDER BY created_at DESC LIMIT 100',
    [userId, since],
  );
  return rows;
}

/** Marks the session as authenticated now (step-up), adding how. */
export async function updateAuthTime(tx: Tx, sessionId: string, amr: string[], at: Date): Promise<boolean> {
  const result = await tx.query(
    `UPDATE sessions SET auth_time = $3, last_seen_at = GREATEST(last_seen_at, $3),
       amr = ARRAY(SELECT DISTINCT unnest(amr || $2::text[]) ORDER BY 1)
     WHERE id = $1 AND revoked_at IS NULL`,
    [sessionId, amr, at],
  );
  return result.rowCount > 0;
}
