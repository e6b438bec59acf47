import type { ConditionalGrant } from '../access/index.ts';
import type { Tx } from '../../platform/db/database.ts';

export type ApiKeyRow = {
  id: string;
  name: string;
  scopes: string[];
  hint: string;
  created_by_type: string;
  created_by_id: string | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  usage_count: number;
  created_at: Date;
  updated_at: Date;
  conditions: ConditionalGrant[];
  suspended_at: Date | null;
  suspend_reason: string | null;
};

const COLUMNS = `id, name, scopes, hint, created_by_type, created_by_id, expires_at, revoked_at, last_used_at,
  usage_count::float8 AS usage_count, created_at, updated_at, conditions, suspended_at, suspend_reason`;

export async function insertApiKey(
  tx: Tx,
  key: {
    tenantId: string;
    id: string;
    name: string;
    scopes: string[];
    hint: string;
    createdByType: string;
    createdById: string | null;
    expiresAt: Date | null;
    conditions?: ConditionalGrant[];
  },
): Promise<ApiKeyRow> {
  const { rows } = await tx.query<ApiKeyRow>(
    `INSERT INTO api_keys (tenant_id, id, name, scopes, hint, created_by_type, created_by_id, expires_at, conditions)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
    [
      key.tenantId,
      key.id,
      key.name,
      key.scopes,
      key.hint,
      key.createdByType,
      key.createdById,
      key.expiresAt,
      JSON.stringify(key.conditions ?? []),
    ],
  );
  return rows[0] as ApiKeyRow;
}

export async function insertApiKeySecret(
  tx: Tx,
  secret: { tenantId: string; apiKeyId: string; hash: string; expiresAt: Date | null },
): Promise<void> {
  await tx.query('INSERT INTO api_key_secrets (tenant_id, key_hash, api_key_id, expires_at) VALUES ($1, $2, $3, $4)', [
    secret.tenantId,
    secret.hash,
    secret.apiKeyId,
    secret.expiresAt,
  ]);
}

/** Ends every secret of the key that would outlive `until` (rotation overlap) or all of them (revocation). */
export async function expireApiKeySecrets(tx: Tx, apiKeyId: string, until: Date | null): Promise<void> {
  if (until === null) {
    await tx.query('DELETE FROM api_key_secrets WHERE api_key_id = $1', [apiKeyId]);
    return;
  }
  await tx.query(`UPDATE api_key_secrets SET expires_at = LEAST(COALESCE(expires_at, $2), $2) WHERE api_key_id = $1`, [apiKeyId, until]);
}

export async function findApiKey(tx: Tx, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await tx.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
  return rows[0];
}

export async function listApiKeys(tx: Tx, filter: { includeRevoked: boolean; after: string | null; limit: number }): Promise<ApiKeyRow[]> {
  const { rows } = await tx.query<ApiKeyRow>(
    `SELECT ${COLUMNS} FROM api_keys WHERE ($1::boolean OR revoked_at IS NULL) AND ($2::uuid IS NULL OR id > $2)
     ORDER BY id LIMIT $3`,
    [filter.includeRevoked, filter.after, filter.limit + 1],
  );
  return rows;
}

export async function revokeApiKey(tx: Tx, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await tx.query<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()), updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id],
  );
  return rows[0];
}

export async function touchApiKey(tx: Tx, id: string, hint: string): Promise<void> {
  await tx.query('UPDATE api_keys SET hint = $2, updated_at = now() WHERE id = $1', [id, hint]);
}

export type ResolvedSecret = {
  api_key_id: string;
  scopes: string[];
  key_expires_at: Date | null;
  secret_expires_at: Date | null;
  revoked_at: Date | null;
  suspended_at: Date | null;
  conditions: ConditionalGrant[];
};

export async function findBySecretHash(tx: Tx, hash: string): Promise<ResolvedSecret | undefined> {
  const { rows } = await tx.query<ResolvedSecret>(
    `SELECT k.id AS api_key_id, k.scopes, k.expires_at AS key_expires_at, s.expires_at AS secret_expires_at, k.revoked_at,
       k.suspended_at, k.conditions
     FROM api_key_secrets s JOIN api_keys k ON k.tenant_id = s.tenant_id AND k.id = s.api_key_id
     WHERE s.key_hash = $1`,
    [hash],
  );
  return rows[0];
}

export async function recordUsage(tx: Tx, id: string, lastUsedAt: Date, count: number): Promise<void> {
  await tx.query(
    `UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, $2), $2), usage_count = usage_count + $3
     WHERE id = $1`,
    [id, lastUsedAt, count],
  );
}
