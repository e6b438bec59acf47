import type { Tx } from '../../platform/db/database.ts';

export type RoleMapping = { claim: string; value: string; role: string };

export type ConnectionRow = {
  issuer: string;
  client_id: string;
  client_secret_sealed: string | null;
  scopes: string[];
  allowed_domains: string[];
  role_mappings: RoleMapping[];
  default_role: string;
  enforced: boolean;
  link_existing_by_email: boolean;
  return_urls: string[];
  created_at: Date;
  updated_at: Date;
};

const CONNECTION = `issuer, client_id, client_secret_sealed, scopes, allowed_domains, role_mappings, default_role, enforced,
  link_existing_by_email, return_urls, created_at, updated_at`;

export async function findConnection(tx: Tx): Promise<ConnectionRow | undefined> {
  const { rows } = await tx.query<ConnectionRow>(`SELECT ${CONNECTION} FROM sso_connections`);
  return rows[0];
}

export async function upsertConnection(
  tx: Tx,
  tenantId: string,
  c: Omit<ConnectionRow, 'created_at' | 'updated_at'>,
): Promise<{ row: ConnectionRow; created: boolean }> {
  const { rows } = await tx.query<ConnectionRow & { inserted: boolean }>(
    `INSERT INTO sso_connections (tenant_id, issuer, client_id, client_secret_sealed, scopes, allowed_domains, role_mappings,
       default_role, enforced, link_existing_by_email, return_urls)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (tenant_id) DO UPDATE SET issuer = EXCLUDED.issuer, client_id = EXCLUDED.client_id,
       client_secret_sealed = EXCLUDED.client_secret_sealed, scopes = EXCLUDED.scopes, allowed_domains = EXCLUDED.allowed_domains,
       role_mappings = EXCLUDED.role_mappings, default_role = EXCLUDED.default_role, enforced = EXCLUDED.enforced,
       link_existing_by_email = EXCLUDED.link_existing_by_email, return_urls = EXCLUDED.return_urls, updated_at = now()
     RETURNING ${CONNECTION}, (xmax = 0) AS inserted`,
    [
      tenantId,
      c.issuer,
      c.client_id,
      c.client_secret_sealed,
      c.scopes,
      c.allowed_domains,
      JSON.stringify(c.role_mappings),
      c.default_role,
      c.enforced,
      c.link_existing_by_email,
      c.return_urls,
    ],
  );
  const { inserted, ...row } = rows[0] as ConnectionRow & { inserted: boolean };
  return { row, created: inserted };
}

export async function deleteConnection(tx: Tx): Promise<boolean> {
  const result = await tx.query('DELETE FROM sso_connections');
  return result.rowCount > 0;
}

export async function insertLoginState(
  tx: Tx,
  state: {
    tenantId: string;
    hash: string;
    nonce: string;
    verifierSealed: string;
    issuer: string;
    returnUrl: string | null;
    expiresAt: Date;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO sso_login_states (tenant_id, state_hash, nonce, code_verifier_sealed, issuer, return_url, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [state.tenantId, state.hash, state.nonce, state.verifierSealed, state.issuer, state.returnUrl, state.expiresAt],
  );
}

export type LoginStateRow = { nonce: string; code_verifier_sealed: string; issuer: string; return_url: string | null };

/** Marks the state used if, and only if, it is unused and unexpired: a state works once. */
export async function consumeLoginState(tx: Tx, hash: string): Promise<LoginStateRow | undefined> {
  const { rows } = await tx.query<LoginStateRow>(
    `UPDATE sso_login_states SET used_at = now() WHERE state_hash = $1 AND used_at IS NULL AND expires_at > now()
     RETURNING nonce, code_verifier_sealed, issuer, return_url`,
    [hash],
  );
  return rows[0];
}

/** Old login states are of no use: they are dropped when new ones are made. */
export async function deleteStaleLoginStates(tx: Tx): Promise<void> {
  await tx.query(`DELETE FROM sso_login_states WHERE expires_at < now() - interval '1 hour'`);
}

export type IdentityRow = { user_id: string; email: string | null };

export async function findIdentity(tx: Tx, issuer: string, subject: string): Promise<IdentityRow | undefined> {
  const { rows } = await tx.query<IdentityRow>('SELECT user_id, email FROM sso_identities WHERE issuer = $1 AND subject = $2', [
    issuer,
    subject,
  ]);
  return rows[0];
}

export async function countIdentitiesOfUser(tx: Tx, userId: string): Promise<number> {
  const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM sso_identities WHERE user_id = $1', [userId]);
  return rows[0]?.n ?? 0;
}

export async function insertIdentity(
  tx: Tx,
  identity: { tenantId: string; issuer: string; subject: string; userId: string; email: string },
): Promise<void> {
  await tx.query('INSERT INTO sso_identities (tenant_id, issuer, subject, user_id, email) VALUES ($1, $2, $3, $4, $5)', [
    identity.tenantId,
    identity.issuer,
    identity.subject,
    identity.userId,
    identity.email,
  ]);
}

export async function touchIdentity(tx: Tx, issuer: string, subject: string, email: string): Promise<void> {
  await tx.query('UPDATE sso_identities SET last_login_at = now(), email = $3 WHERE issuer = $1 AND subject = $2', [
    issuer,
    subject,
    email,
  ]);
}

export async function insertExchangeCode(tx: Tx, code: { tenantId: string; hash: string; userId: string; expiresAt: Date }): Promise<void> {
  await tx.query('INSERT INTO sso_exchange_codes (tenant_id, code_hash, user_id, expires_at) VALUES ($1, $2, $3, $4)', [
    code.tenantId,
    code.hash,
    code.userId,
    code.expiresAt,
  ]);
}

export async function consumeExchangeCode(tx: Tx, hash: string): Promise<{ user_id: string } | undefined> {
  const { rows } = await tx.query<{ user_id: string }>(
    `UPDATE sso_exchange_codes SET used_at = now() WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id`,
    [hash],
  );
  return rows[0];
}
