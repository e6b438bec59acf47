import type { Tx } from '../../platform/db/database.ts';
import type { Change } from './document.ts';
import type { PartialDocument } from './config.schema.ts';

/** One configuration level: the tenant's own (tenant table, RLS) or an operator level (control plane). */
export type LevelRef = { scope: 'tenant'; tenantId: string } | { scope: 'global' } | { scope: 'profile' | 'tier'; name: string };
export type OperatorScope = 'global' | 'profile' | 'tier';

export type VersionRow = {
  version: number;
  document: PartialDocument;
  diff: Change[];
  message: string | null;
  author_type: 'user' | 'api_key' | 'operator' | 'system';
  author_id: string | null;
  restored_from: number | null;
  created_at: Date;
};

const COLUMNS = 'version, document, diff, message, author_type, author_id, restored_from, created_at';

/** The table and the key of a level, as SQL and parameters (no identifier ever comes from input). */
function target(ref: LevelRef): { table: string; where: string; params: unknown[] } {
  if (ref.scope === 'tenant') return { table: 'tenant_config_versions', where: 'tenant_id = $1', params: [ref.tenantId] };
  return { table: 'config_versions', where: 'scope = $1 AND name = $2', params: [ref.scope, ref.scope === 'global' ? '' : ref.name] };
}

export async function findCurrentVersion(tx: Tx, ref: LevelRef): Promise<VersionRow | undefined> {
  const t = target(ref);
  const { rows } = await tx.query<VersionRow>(`SELECT ${COLUMNS} FROM ${t.table} WHERE ${t.where} ORDER BY version DESC LIMIT 1`, t.params);
  return rows[0];
}

export async function findVersion(tx: Tx, ref: LevelRef, version: number): Promise<VersionRow | undefined> {
  const t = target(ref);
  const { rows } = await tx.query<VersionRow>(`SELECT ${COLUMNS} FROM ${t.table} WHERE ${t.where} AND version = $${t.params.length + 1}`, [
    ...t.params,
    version,
  ]);
  return rows[0];
}

/** Newest first; `before` is the last version of the previous page. */
export async function listVersions(tx: Tx, ref: LevelRef, page: { before: number | null; limit: number }): Promise<VersionRow[]> {
  const t = target(ref);
  const n = t.params.length;
  const { rows } = await tx.query<VersionRow>(
    `SELECT ${COLUMNS} FROM ${t.table} WHERE ${t.where} AND ($${n + 1}::int IS NULL OR version < $${n + 1})
     ORDER BY version DESC LIMIT $${n + 2}`,
    [...t.params, page.before, page.limit + 1],
  );
  return rows;
}

export type NewVersion = {
  version: number;
  document: PartialDocument;
  diff: Change[];
  message: string | null;
  authorType: VersionRow['author_type'];
  authorId: string | null;
  restoredFrom: number | null;
};

/** Inserts version N. A concurrent writer that took N first makes this fail with 23505 (caller maps it to 412). */
export async function insertVersion(tx: Tx, ref: LevelRef, row: NewVersion): Promise<VersionRow> {
  const values = [
    row.version,
    JSON.stringify(row.document),
    JSON.stringify(row.diff),
    row.message,
    row.authorType,
    row.authorId,
    row.restoredFrom,
  ];
  const sql =
    ref.scope === 'tenant'
      ? `INSERT INTO tenant_config_versions (tenant_id, version, document, diff, message, author_type, author_id, restored_from)
         VALUES ($8, $1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`
      : `INSERT INTO config_versions (scope, name, version, document, diff, message, author_type, author_id, restored_from)
         VALUES ($8, $9, $1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`;
  const params = ref.scope === 'tenant' ? [...values, ref.tenantId] : [...values, ref.scope, ref.scope === 'global' ? '' : ref.name];
  const { rows } = await tx.query<VersionRow>(sql, params);
  return rows[0] as VersionRow;
}

/** The current document of every operator level (global, each profile, each tier). */
export async function listOperatorDocuments(
  tx: Tx,
): Promise<Array<{ scope: OperatorScope; name: string; version: number; document: PartialDocument }>> {
  const { rows } = await tx.query<{ scope: OperatorScope; name: string; version: number; document: PartialDocument }>(
    `SELECT DISTINCT ON (scope, name) scope, name, version, document FROM config_versions ORDER BY scope, name, version DESC`,
  );
  return rows;
}

// ───────────── profiles ─────────────

export type ProfileRow = { name: string; description: string; builtin: boolean; created_at: Date };

export async function listProfiles(tx: Tx): Promise<ProfileRow[]> {
  const { rows } = await tx.query<ProfileRow>('SELECT name, description, builtin, created_at FROM config_profiles ORDER BY name');
  return rows;
}

export async function findProfile(tx: Tx, name: string): Promise<ProfileRow | undefined> {
  const { rows } = await tx.query<ProfileRow>('SELECT name, description, builtin, created_at FROM config_profiles WHERE name = $1', [name]);
  return rows[0];
}

/** Returns false when the profile already exists. */
export async function insertProfile(tx: Tx, profile: { name: string; description: string; builtin: boolean }): Promise<boolean> {
  const result = await tx.query(
    'INSERT INTO config_profiles (name, description, builtin) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
    [profile.name, profile.description, profile.builtin],
  );
  return result.rowCount > 0;
}

export async function listTierNames(tx: Tx): Promise<string[]> {
  const { rows } = await tx.query<{ name: string }>('SELECT name FROM tiers ORDER BY name');
  return rows.map((row) => row.name);
}

// ───────────── rollouts ─────────────

export type RolloutStatus = 'active' | 'completed' | 'rolled_back';
export type RolloutRow = {
  id: string;
  patch: PartialDocument;
  percentage: number;
  error_threshold: number;
  min_requests: number;
  message: string | null;
  status: RolloutStatus;
  author_type: string;
  author_id: string | null;
  created_at: Date;
  updated_at: Date;
  ended_at: Date | null;
  rollback: Record<string, unknown> | null;
  completed_version: number | null;
};

const ROLLOUT_COLUMNS =
  'id, patch, percentage, error_threshold, min_requests, message, status, author_type, author_id, created_at, updated_at, ended_at, rollback, completed_version';

export async function insertRollout(
  tx: Tx,
  r: {
    id: string;
    patch: PartialDocument;
    percentage: number;
    errorThreshold: number;
    minRequests: number;
    message: string | null;
    authorType: string;
    authorId: string | null;
  },
): Promise<RolloutRow> {
  const { rows } = await tx.query<RolloutRow>(
    `INSERT INTO config_rollouts (id, patch, percentage, error_threshold, min_requests, message, status, author_type, author_id)
     VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8) RETURNING ${ROLLOUT_COLUMNS}`,
    [r.id, JSON.stringify(r.patch), r.percentage, r.errorThreshold, r.minRequests, r.message, r.authorType, r.authorId],
  );
  return rows[0] as RolloutRow;
}

export async function findRollout(tx: Tx, id: string, options: { lock?: boolean } = {}): Promise<RolloutRow | undefined> {
  const { rows } = await tx.query<RolloutRow>(
    `SELECT ${ROLLOUT_COLUMNS} FROM config_rollouts WHERE id = $1${options.lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0];
}

export async function listRollouts(tx: Tx, page: { after: string | null; limit: number; activeOnly?: boolean }): Promise<RolloutRow[]> {
  const { rows } = await tx.query<RolloutRow>(
    `SELECT ${ROLLOUT_COLUMNS} FROM config_rollouts
     WHERE ($1::uuid IS NULL OR id < $1) AND ($2::boolean IS NOT TRUE OR status = 'active')
     ORDER BY id DESC LIMIT $3`,
    [page.after, page.activeOnly ?? false, page.limit + 1],
  );
  return rows;
}

export async function listActiveRollouts(tx: Tx): Promise<RolloutRow[]> {
  const { rows } = await tx.query<RolloutRow>(
    `SELECT ${ROLLOUT_COLUMNS} FROM config_rollouts WHERE status = 'active' ORDER BY created_at, id`,
  );
  return rows;
}

export async function updateRollout(
  tx: Tx,
  id: string,
  patch: { percentage?: number; status?: RolloutStatus; rollback?: Record<string, unknown>; completedVersion?: number },
): Promise<RolloutRow> {
  const { rows } = await tx.query<RolloutRow>(
    `UPDATE config_rollouts SET
       percentage = COALESCE($2, percentage),
       status = COALESCE($3, status),
       rollback = COALESCE($4::jsonb, rollback),
       completed_version = COALESCE($5, completed_version),
       ended_at = CASE WHEN $3::text IS NOT NULL AND $3 <> 'active' THEN now() ELSE ended_at END,
       updated_at = now()
     WHERE id = $1 RETURNING ${ROLLOUT_COLUMNS}`,
    [
      id,
      patch.percentage ?? null,
      patch.status ?? null,
      patch.rollback ? JSON.stringify(patch.rollback) : null,
      patch.completedVersion ?? null,
    ],
  );
  return rows[0] as RolloutRow;
}
