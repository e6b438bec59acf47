import type { Tx } from '../../platform/db/database.ts';

export type TotpRow = {
  user_id: string;
  secret_sealed: string;
  status: 'pending' | 'active';
  last_used_step: string;
  created_at: Date;
  confirmed_at: Date | null;
};

export async function findTotp(tx: Tx, userId: string): Promise<TotpRow | undefined> {
  const { rows } = await tx.query<TotpRow>(
    'SELECT user_id, secret_sealed, status, last_used_step::text, created_at, confirmed_at FROM mfa_totp WHERE user_id = $1',
    [userId],
  );
  return rows[0];
}

/** A new pending factor, replacing any earlier pending one; never an active one (the caller checks). */
export async function upsertPendingTotp(tx: Tx, tenantId: string, userId: string, sealed: string): Promise<void> {
  await tx.query(
    `INSERT INTO mfa_totp (tenant_id, user_id, secret_sealed, status) VALUES ($1, $2, $3, 'pending')
     ON CONFLICT (tenant_id, user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, status = 'pending',
       last_used_step = 0, confirmed_at = NULL, created_at = now(), updated_at = now()
     WHERE mfa_totp.status = 'pending'`,
    [tenantId, userId, sealed],
  );
}

/**
 * Records the use of a time step if, and only if, it is after the last one used: of two requests
 * with the same code only one gets the row, and an older code after a newer one is refused.
 */
export async function useTotpStep(tx: Tx, userId: string, step: number, status: 'pending' | 'active'): Promise<boolean> {
  const result = await tx.query(
    `UPDATE mfa_totp SET last_used_step = $2, updated_at = now(),
       status = 'active', confirmed_at = COALESCE(confirmed_at, now())
     WHERE user_id = $1 AND status = $3 AND last_used_step < $2`,
    [userId, step, status],
  );
  return result.rowCount > 0;
}

export async function deleteTotp(tx: Tx, userId: string): Promise<boolean> {
  const result = await tx.query('DELETE FROM mfa_totp WHERE user_id = $1', [userId]);
  await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
  return result.rowCount > 0;
}

export async function replaceRecoveryCodes(tx: Tx, tenantId: string, userId: string, codes: { id: string; hash: string }[]): Promise<void> {
  await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
  for (const code of codes) {
    await tx.query('INSERT INTO mfa_recovery_codes (tenant_id, id, user_id, code_hash) VALUES ($1, $2, $3, $4)', [
      tenantId,
      code.id,
      userId,
      code.hash,
    ]);
  }
}

export async function listUnusedRecoveryCodes(tx: Tx, userId: string): Promise<{ id: string; code_hash: string }[]> {
  const { rows } = await tx.query<{ id: string; code_hash: string }>(
    'SELECT id, code_hash FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL',
    [userId],
  );
  return rows;
}

/** Single use: the conditional UPDATE lets exactly one of two concurrent uses through. */
export async function useRecoveryCode(tx: Tx, id: string): Promise<boolean> {
  const result = await tx.query('UPDATE mfa_recovery_codes SET used_at = now() WHERE id = $1 AND used_at IS NULL', [id]);
  return result.rowCount > 0;
}

export type ChallengeMethod = 'totp' | 'email' | 'totp_enrollment';

export type ChallengeRow = {
  id: string;
  user_id: string;
  method: ChallengeMethod;
  code_hash: string | null;
  attempts: number;
  expires_at: Date;
  used_at: Date | null;
  signals: Record<string, unknown>;
};

export async function insertChallenge(
  tx: Tx,
  challenge: {
    tenantId: string;
    id: string;
    userId: string;
    tokenHash: string;
    method: ChallengeMethod;
    codeHash: string | null;
    signals: Record<string, unknown>;
    ip: string | null;
    userAgent: string | null;
    expiresAt: Date;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO mfa_challenges (tenant_id, id, user_id, token_hash, method, code_hash, signals, ip, user_agent, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      challenge.tenantId,
      challenge.id,
      challenge.userId,
      challenge.tokenHash,
      challenge.method,
      challenge.codeHash,
      JSON.stringify(challenge.signals),
      challenge.ip,
      challenge.userAgent?.slice(0, 500) ?? null,
      challenge.expiresAt,
    ],
  );
}

/** Challenges of a user that ended more than a day ago carry nothing any more (failures live in security events). */
export async function deleteStaleChallenges(tx: Tx, userId: string): Promise<void> {
  await tx.query("DELETE FROM mfa_challenges WHERE user_id = $1 AND expires_at < now() - interval '1 day'", [userId]);
}

export async function lockChallenge(tx: Tx, tokenHash: string): Promise<ChallengeRow | undefined> {
  const { rows } = await tx.query<ChallengeRow>(
    `SELECT id, user_id, method, code_hash, attempts, expires_at, used_at, signals FROM mfa_challenges
     WHERE token_hash = $1 FOR UPDATE`,
    [tokenHash],
  );
  return rows[0];
}

export async function countFailedAttempt(tx: Tx, id: string): Promise<void> {
  await tx.query('UPDATE mfa_challenges SET attempts = attempts + 1 WHERE id = $1', [id]);
}

export async function useChallenge(tx: Tx, id: string): Promise<boolean> {
  const result = await tx.query('UPDATE mfa_challenges SET used_at = now() WHERE id = $1 AND used_at IS NULL', [id]);
  return result.rowCount > 0;
}

/**
 * Security events of a user of the given types in the last `windowMs` (throttling, risk). Measured
 * against the database clock, which also stamped the events.
 */
export async function countRecentFailures(tx: Tx, userId: string, types: string[], windowMs: number): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM security_events
     WHERE actor_id = $1 AND type = ANY($2::text[]) AND created_at > now() - make_interval(secs => $3::double precision / 1000)`,
    [userId, types, windowMs],
  );
  return rows[0]?.n ?? 0;
}

/** What a login challenge needs to know about the user beyond the users repository's row. */
export async function findUserLocale(tx: Tx, userId: string): Promise<string | null> {
  // The user's own locale, else the tenant's.
  const { rows } = await tx.query<{ locale: string | null }>(
    'SELECT COALESCE(u.locale, t.locale) AS locale FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1',
    [userId],
  );
  return rows[0]?.locale ?? null;
}

export async function countUnusedRecoveryCodes(tx: Tx, userId: string): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL',
    [userId],
  );
  return rows[0]?.n ?? 0;
}
