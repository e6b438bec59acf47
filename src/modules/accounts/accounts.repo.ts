import type { Tx } from '../../platform/db/database.ts';

export type TokenPurpose = 'verify_email' | 'password_reset';

export type AccountTokenRow = {
  id: string;
  purpose: TokenPurpose;
  user_id: string;
  email: string;
  expires_at: Date;
  used_at: Date | null;
};

const TOKEN_COLUMNS = 'id, purpose, user_id, email, expires_at, used_at';

export async function insertAccountToken(
  tx: Tx,
  token: { tenantId: string; id: string; purpose: TokenPurpose; userId: string; email: string; hash: string; expiresAt: Date },
): Promise<void> {
  await tx.query(
    `INSERT INTO account_tokens (tenant_id, id, purpose, user_id, email, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [token.tenantId, token.id, token.purpose, token.userId, token.email, token.hash, token.expiresAt],
  );
}

/**
 * Marks the token used if, and only if, it has this purpose and is unused and unexpired: the
 * conditional UPDATE is the atomic step, so of two concurrent uses exactly one gets the row.
 */
export async function consumeAccountToken(tx: Tx, hash: string, purpose: TokenPurpose): Promise<AccountTokenRow | undefined> {
  const { rows } = await tx.query<AccountTokenRow>(
    `UPDATE account_tokens SET used_at = now()
     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
     RETURNING ${TOKEN_COLUMNS}`,
    [hash, purpose],
  );
  return rows[0];
}

export async function findAccountToken(tx: Tx, hash: string, purpose: TokenPurpose): Promise<AccountTokenRow | undefined> {
  const { rows } = await tx.query<AccountTokenRow>(`SELECT ${TOKEN_COLUMNS} FROM account_tokens WHERE token_hash = $1 AND purpose = $2`, [
    hash,
    purpose,
  ]);
  return rows[0];
}

/** A new link supersedes the user's older unused links of the same purpose. */
export async function retireUnusedTokens(tx: Tx, userId: string, purpose: TokenPurpose): Promise<void> {
  await tx.query('UPDATE account_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL', [userId, purpose]);
}

export type InvitationRow = {
  id: string;
  email: string;
  role_key: string;
  invited_by_type: string;
  invited_by_id: string | null;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_user_id: string | null;
  revoked_at: Date | null;
  created_at: Date;
};

const INVITATION_COLUMNS =
  'id, email, role_key, invited_by_type, invited_by_id, expires_at, accepted_at, accepted_user_id, revoked_at, created_at';

export async function insertInvitation(
  tx: Tx,
  invitation: {
    tenantId: string;
    id: string;
    email: string;
    roleKey: string;
    hash: string;
    invitedByType: string;
    invitedById: string | null;
    expiresAt: Date;
  },
): Promise<InvitationRow> {
  const { rows } = await tx.query<InvitationRow>(
    `INSERT INTO invitations (tenant_id, id, email, role_key, token_hash, invited_by_type, invited_by_id, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${INVITATION_COLUMNS}`,
    [
      invitation.tenantId,
      invitation.id,
      invitation.email,
      invitation.roleKey,
      invitation.hash,
      invitation.invitedByType,
      invitation.invitedById,
      invitation.expiresAt,
    ],
  );
  return rows[0] as InvitationRow;
}

export async function findInvitationByHash(tx: Tx, hash: string, lock = false): Promise<InvitationRow | undefined> {
  const { rows } = await tx.query<InvitationRow>(
    `SELECT ${INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1${lock ? ' FOR UPDATE' : ''}`,
    [hash],
  );
  return rows[0];
}

export async function findInvitation(tx: Tx, id: string, lock = false): Promise<InvitationRow | undefined> {
  const { rows } = await tx.query<InvitationRow>(
    `SELECT ${INVITATION_COLUMNS} FROM invitations WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0];
}

export async function findOpenInvitationByEmail(tx: Tx, email: string): Promise<InvitationRow | undefined> {
  const { rows } = await tx.query<InvitationRow>(
    `SELECT ${INVITATION_COLUMNS} FROM invitations WHERE email = $1 AND accepted_at IS NULL AND revoked_at IS NULL FOR UPDATE`,
    [email],
  );
  return rows[0];
}

/** Pending = not accepted, not revoked, not expired: each holds a seat until it ends. */
export async function countPendingInvitations(tx: Tx): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM invitations WHERE accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()',
  );
  return rows[0]?.n ?? 0;
}

export type InvitationState = 'pending' | 'accepted' | 'revoked' | 'expired';

export async function listInvitations(
  tx: Tx,
  filter: { status?: InvitationState; after: string | null; limit: number },
): Promise<InvitationRow[]> {
  const { rows } = await tx.query<InvitationRow>(
    `SELECT ${INVITATION_COLUMNS} FROM invitations
     WHERE ($1::uuid IS NULL OR id > $1)
       AND CASE $2::text
         WHEN 'pending' THEN accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
         WHEN 'accepted' THEN accepted_at IS NOT NULL
         WHEN 'revoked' THEN revoked_at IS NOT NULL
         WHEN 'expired' THEN accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= now()
         ELSE true END
     ORDER BY id LIMIT $3`,
    [filter.after, filter.status ?? null, filter.limit + 1],
  );
  return rows;
}

export async function revokeInvitation(tx: Tx, id: string): Promise<InvitationRow | undefined> {
  const { rows } = await tx.query<InvitationRow>(
    `UPDATE invitations SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL AND accepted_at IS NULL RETURNING ${INVITATION_COLUMNS}`,
    [id],
  );
  return rows[0];
}

export async function markInvitationAccepted(tx: Tx, id: string, userId: string): Promise<void> {
  await tx.query('UPDATE invitations SET accepted_at = now(), accepted_user_id = $2 WHERE id = $1', [id, userId]);
}

export function invitationState(row: InvitationRow, now = Date.now()): InvitationState {
  if (row.accepted_at) return 'accepted';
  if (row.revoked_at) return 'revoked';
  if (row.expires_at.getTime() <= now) return 'expired';
  return 'pending';
}
