import type { Tx } from '../../platform/db/database.ts';

export type UserRow = {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
  role_key: string;
  status: 'active' | 'deactivated';
  created_at: Date;
  updated_at: Date;
  last_login_at: Date | null;
  deactivated_at: Date | null;
  email_verified_at: Date | null;
};

const COLUMNS =
  'id, email, name, password_hash, role_key, status, created_at, updated_at, last_login_at, deactivated_at, email_verified_at';

/** The user a password login names, with whether anomaly detection has locked the account (migration 0008). */
export async function findLoginUser(tx: Tx, email: string): Promise<(UserRow & { locked: boolean }) | undefined> {
  const { rows } = await tx.query<UserRow & { locked: boolean }>(
    `SELECT ${COLUMNS}, coalesce(locked_until > now(), false) AS locked FROM users WHERE email = $1`,
    [email],
  );
  return rows[0];
}

export async function findUserById(tx: Tx, id: string): Promise<UserRow | undefined> {
  const { rows } = await tx.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
  return rows[0];
}

export async function findUserByEmail(tx: Tx, email: string): Promise<UserRow | undefined> {
  const { rows } = await tx.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE email = $1`, [email]);
  return rows[0];
}

export async function lockUser(tx: Tx, id: string): Promise<UserRow | undefined> {
  const { rows } = await tx.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0];
}

export async function listUsers(
  tx: Tx,
  filter: { status?: string; role?: string; after: string | null; limit: number },
): Promise<UserRow[]> {
  const { rows } = await tx.query<UserRow>(
    `SELECT ${COLUMNS} FROM users
     WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR role_key = $2) AND ($3::uuid IS NULL OR id > $3)
     ORDER BY id LIMIT $4`,
    [filter.status ?? null, filter.role ?? null, filter.after, filter.limit + 1],
  );
  return rows;
}

export async function insertUser(
  tx: Tx,
  user: {
    tenantId: string;
    id: string;
    email: string;
    name: string;
    passwordHash: string | null;
    roleKey: string;
    /** The address is proved (an accepted invitation was mailed to it). */
    emailVerified?: boolean;
  },
): Promise<UserRow> {
  const { rows } = await tx.query<UserRow>(
    `INSERT INTO users (tenant_id, id, email, name, password_hash, role_key, email_verified_at)
     VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::boolean THEN now() END)
     RETURNING ${COLUMNS}`,
    [user.tenantId, user.id, user.email, user.name, user.passwordHash, user.roleKey, user.emailVerified ?? false],
  );
  return rows[0] as UserRow;
}

export async function updateUser(
  tx: Tx,
  id: string,
  patch: { name?: string; roleKey?: string; status?: 'active' | 'deactivated' },
): Promise<UserRow | undefined> {
  const { rows } = await tx.query<UserRow>(
    `UPDATE users SET name = COALESCE($2, name), role_key = COALESCE($3, role_key), status = COALESCE($4, status),
       deactivated_at = CASE WHEN $4 = 'deactivated' THEN now() WHEN $4 = 'active' THEN NULL ELSE deactivated_at END,
       updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, patch.name ?? null, patch.roleKey ?? null, patch.status ?? null],
  );
  return rows[0];
}

export async function recordLogin(tx: Tx, id: string, rehashed: string | null): Promise<void> {
  await tx.query('UPDATE users SET last_login_at = now(), password_hash = COALESCE($2, password_hash) WHERE id = $1', [id, rehashed]);
}

export async function countActiveUsers(tx: Tx): Promise<number> {
  const { rows } = await tx.query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE status = 'active'");
  return rows[0]?.n ?? 0;
}

export async function countActiveOwners(tx: Tx): Promise<number> {
  const { rows } = await tx.query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE status = 'active' AND role_key = 'owner'");
  return rows[0]?.n ?? 0;
}

export async function updatePasswordHash(tx: Tx, id: string, passwordHash: string): Promise<void> {
  await tx.query('UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1', [id, passwordHash]);
}

/** Marks the address verified if it is still the one that was proved. */
export async function markEmailVerified(tx: Tx, id: string, email: string): Promise<boolean> {
  const result = await tx.query(
    'UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()), updated_at = now() WHERE id = $1 AND email = $2',
    [id, email],
  );
  return result.rowCount > 0;
}
