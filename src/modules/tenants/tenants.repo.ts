import type { Tx } from '../../platform/db/database.ts';
import type { CustomLimits, TierLimits } from './tiers.ts';

export type TenantStatus = 'provisioning' | 'active' | 'suspended' | 'offboarding' | 'deleted';

export type TenantRow = {
  id: string;
  slug: string;
  name: string;
  tier: string;
  status: TenantStatus;
  profile: string | null;
  region: string | null;
  locale: string;
  timezone: string;
  metadata: Record<string, unknown>;
  custom_limits: CustomLimits;
  status_reason: string | null;
  suspended_at: Date | null;
  offboarded_at: Date | null;
  purge_after: Date | null;
  purged_at: Date | null;
  purge_report: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
};

export type TierRow = { name: string; description: string; limits: TierLimits; created_at: Date; updated_at: Date };

const COLUMNS = `id, slug, name, tier, status, profile, region, locale, timezone, metadata, custom_limits,
  status_reason, suspended_at, offboarded_at, purge_after, purged_at, purge_report, created_at, updated_at`;

export async function findTenantById(tx: Tx, id: string): Promise<TenantRow | undefined> {
  const { rows } = await tx.query<TenantRow>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [id]);
  return rows[0];
}

export async function findTenantBySlug(tx: Tx, slug: string): Promise<TenantRow | undefined> {
  const { rows } = await tx.query<TenantRow>(`SELECT ${COLUMNS} FROM tenants WHERE slug = $1 AND status <> 'deleted'`, [slug]);
  return rows[0];
}

export async function lockTenant(tx: Tx, id: string): Promise<TenantRow | undefined> {
  const { rows } = await tx.query<TenantRow>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0];
}

export async function listTenants(
  tx: Tx,
  filter: { status?: string; tier?: string; after: string | null; limit: number },
): Promise<TenantRow[]> {
  const { rows } = await tx.query<TenantRow>(
    `SELECT ${COLUMNS} FROM tenants
     WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR tier = $2) AND ($3::uuid IS NULL OR id > $3)
     ORDER BY id LIMIT $4`,
    [filter.status ?? null, filter.tier ?? null, filter.after, filter.limit + 1],
  );
  return rows;
}

export type NewTenant = Pick<TenantRow, 'id' | 'slug' | 'name' | 'tier' | 'profile' | 'region' | 'locale' | 'timezone'> & {
  metadata: Record<string, unknown>;
  customLimits: CustomLimits;
};

export async function insertTenant(tx: Tx, tenant: NewTenant): Promise<void> {
  await tx.query(
    `INSERT INTO tenants (id, slug, name, tier, status, profile, region, locale, timezone, metadata, custom_limits)
     VALUES ($1, $2, $3, $4, 'provisioning', $5, $6, $7, $8, $9, $10)`,
    [
      tenant.id,
      tenant.slug,
      tenant.name,
      tenant.tier,
      tenant.profile,
      tenant.region,
      tenant.locale,
      tenant.timezone,
      JSON.stringify(tenant.metadata),
      JSON.stringify(tenant.customLimits),
    ],
  );
}

export type TenantPatch = Partial<{
  name: string;
  tier: string;
  profile: string | null;
  region: string | null;
  locale: string;
  timezone: string;
  metadata: Record<string, unknown>;
  customLimits: CustomLimits;
}>;

export async function updateTenant(tx: Tx, id: string, patch: TenantPatch): Promise<TenantRow | undefined> {
  const { rows } = await tx.query<TenantRow>(
    `UPDATE tenants SET
       name = COALESCE($2, name),
       tier = COALESCE($3, tier),
       profile = CASE WHEN $4::boolean THEN $5 ELSE profile END,
       region = CASE WHEN $6::boolean THEN $7 ELSE region END,
       locale = COALESCE($8, locale),
       timezone = COALESCE($9, timezone),
       metadata = COALESCE($10::jsonb, metadata),
       custom_limits = COALESCE($11::jsonb, custom_limits),
       updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [
      id,
      patch.name ?? null,
      patch.tier ?? null,
      'profile' in patch,
      patch.profile ?? null,
      'region' in patch,
      patch.region ?? null,
      patch.locale ?? null,
      patch.timezone ?? null,
      patch.metadata ? JSON.stringify(patch.metadata) : null,
      patch.customLimits ? JSON.stringify(patch.customLimits) : null,
    ],
  );
  return rows[0];
}

export type StatusChange = {
  status: TenantStatus;
  reason?: string | null;
  suspendedAt?: Date | null;
  offboardedAt?: Date | null;
  purgeAfter?: Date | null;
  purgedAt?: Date | null;
  purgeReport?: Record<string, unknown> | null;
};

export async function updateTenantStatus(tx: Tx, id: string, change: StatusChange): Promise<TenantRow> {
  const { rows } = await tx.query<TenantRow>(
    `UPDATE tenants SET status = $2, status_reason = $3, suspended_at = $4, offboarded_at = $5, purge_after = $6,
       purged_at = $7, purge_report = $8, updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [
      id,
      change.status,
      change.reason ?? null,
      change.suspendedAt ?? null,
      change.offboardedAt ?? null,
      change.purgeAfter ?? null,
      change.purgedAt ?? null,
      change.purgeReport ? JSON.stringify(change.purgeReport) : null,
    ],
  );
  return rows[0] as TenantRow;
}

export async function listTiers(tx: Tx): Promise<TierRow[]> {
  const { rows } = await tx.query<TierRow>('SELECT name, description, limits, created_at, updated_at FROM tiers ORDER BY name');
  return rows;
}

export async function findTier(tx: Tx, name: string): Promise<TierRow | undefined> {
  const { rows } = await tx.query<TierRow>('SELECT name, description, limits, created_at, updated_at FROM tiers WHERE name = $1', [name]);
  return rows[0];
}

export async function upsertBuiltinTier(tx: Tx, name: string, description: string, limits: TierLimits): Promise<void> {
  // Built-in tiers are inserted once; an operator's later edits are kept across restarts.
  await tx.query(`INSERT INTO tiers (name, description, limits) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`, [
    name,
    description,
    JSON.stringify(limits),
  ]);
}

export async function updateTierLimits(tx: Tx, name: string, limits: TierLimits, description?: string) {
  const { rows } = await tx.query<TierRow>(
    `UPDATE tiers SET limits = $2, description = COALESCE($3, description), updated_at = now() WHERE name = $1
     RETURNING name, description, limits, created_at, updated_at`,
    [name, JSON.stringify(limits), description ?? null],
  );
  return rows[0];
}
