import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, conflict, notFound } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import type { JobRunner } from '../../platform/jobs.ts';
import { insertBuiltinRoles } from '../access/index.ts';
import { readRateLimits, type TenantRateLimits } from './directory.ts';
import { canTransition, type Transition } from './lifecycle.ts';
import { withoutAudit } from '../audit/audit.context.ts';
import { type PurgeReport, purgeTenantRows } from './purge.ts';
import * as repo from './tenants.repo.ts';
import { BUILTIN_TIERS, type CustomLimits, effectiveLimits, TIER_NAMES, type TierLimits } from './tiers.ts';

export const PURGE_JOB = 'tenant.purge';

export type OwnerInput = { email: string; name: string; password: string };

/** Provisioning steps of other modules, run in the creating transaction (composition root wires them). */
export type PreparedOwner = { email: string; name: string; passwordHash: string };
export type CreateOwner = (tx: Tx, tenantId: string, owner: PreparedOwner) => Promise<void>;
export type PrepareOwner = (tenant: { name: string; slug: string }, owner: OwnerInput) => Promise<PreparedOwner>;

export type CreateTenantInput = {
  slug: string;
  name: string;
  tier: string;
  profile?: string | null;
  region?: string | null;
  locale?: string;
  timezone?: string;
  metadata?: Record<string, unknown>;
  customLimits?: CustomLimits;
  owner: OwnerInput;
};

export function toTenantView(row: repo.TenantRow, limits: TierLimits) {
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    tier: row.tier,
    status: row.status,
    statusReason: row.status_reason,
    profile: row.profile,
    region: row.region,
    locale: row.locale,
    timezone: row.timezone,
    metadata: row.metadata,
    customLimits: row.custom_limits,
    limits,
    suspendedAt: iso(row.suspended_at),
    offboardedAt: iso(row.offboarded_at),
    purgeAfter: iso(row.purge_after),
    purgedAt: iso(row.purged_at),
    purgeReport: row.purge_report,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export type TenantView = ReturnType<typeof toTenantView>;

export function createTenantService(deps: {
  db: Database;
  bus: InvalidationBus;
  jobs: JobRunner;
  offboardGraceDays: number;
  prepareOwner: PrepareOwner;
  createOwner: CreateOwner;
}) {
  const { db, bus } = deps;

  async function view(tx: Tx, row: repo.TenantRow): Promise<TenantView> {
    const tier = await repo.findTier(tx, row.tier);
    if (!tier) throw new Error(`unknown tier ${row.tier}`);
    return toTenantView(row, effectiveLimits(row.tier, tier.limits, row.custom_limits));
  }

  async function assertTier(tx: Tx, tier: string) {
    const found = await repo.findTier(tx, tier);
    assertThat(
      found,
      new AppError('validation_failed', `tier "${tier}" does not exist`, { errors: [{ path: 'body/tier', message: 'unknown tier' }] }),
    );
  }

  /** Loads and locks the tenant, checks the transition is allowed, returns the row. */
  async function begin(tx: Tx, id: string, action: Transition): Promise<repo.TenantRow> {
    const row = await repo.lockTenant(tx, id);
    assertThat(row && row.status !== 'deleted', notFound('tenant'));
    assertThat(
      canTransition(action, row.status),
      new AppError('invalid_transition', `a tenant that is ${row.status} cannot ${action}`, { status: row.status, action }),
    );
    return row;
  }

  async function changed(id: string) {
    await bus.publish({ type: 'tenant', tenantId: id });
  }

  async function purgeNow(id: string, keepJobId?: string): Promise<{ tenant: TenantView; report: PurgeReport }> {
    // Outside the request's audit scope: the log it would write to is being erased with the tenant.
    const result = await withoutAudit(() =>
      db.withTenant(id, async (tx) => {
        const row = await begin(tx, id, 'purge');
        const report = await purgeTenantRows(tx, row.id, keepJobId);
        if (!report.verified) throw new Error(`purge of tenant ${id} left rows behind`);
        const updated = await repo.updateTenantStatus(tx, id, {
          status: 'deleted',
          reason: row.status_reason,
          offboardedAt: row.offboarded_at,
          purgedAt: new Date(),
          purgeReport: report,
        });
        return { tenant: await view(tx, updated), report };
      }),
    );
    await changed(id);
    return result;
  }

  deps.jobs.register(PURGE_JOB, async (job) => {
    const id = job.tenant_id;
    if (!id) throw new Error('purge job without tenant');
    const row = await db.withControlPlane((tx) => repo.findTenantById(tx, id));
    // Resumed (or already purged) since the job was scheduled: nothing to do.
    if (!row || row.status !== 'offboarding') return { skipped: row?.status ?? 'missing' };
    if (row.purge_after && row.purge_after.getTime() > Date.now()) throw new Error('grace period not over');
    const { report } = await purgeNow(id, job.id);
    return report;
  });

  return {
    async ensureBuiltinTiers() {
      await db.withControlPlane(async (tx) => {
        for (const name of TIER_NAMES) {
          await repo.upsertBuiltinTier(tx, name, BUILTIN_TIERS[name].description, BUILTIN_TIERS[name].limits);
        }
      });
    },

    /** `provisioned` runs last in the creating transaction (signup: the verification token and mail). */
    async create(input: CreateTenantInput, provisioned?: (tx: Tx, tenantId: string) => Promise<void>): Promise<TenantView> {
      // Everything that can be refused is checked before the transaction opens, and everything
      // is written in one transaction: a refusal leaves no trace, a success leaves an active tenant.
      const owner = await deps.prepareOwner({ name: input.name, slug: input.slug }, input.owner);
      const id = uuidv7();
      const created = await db.withTenant(id, async (tx) => {
        await assertTier(tx, input.tier);
        const taken = await repo.findTenantBySlug(tx, input.slug);
        assertThat(!taken, conflict(`slug "${input.slug}" is taken`, { field: 'slug' }));
        await repo.insertTenant(tx, {
          id,
          slug: input.slug,
          name: input.name,
          tier: input.tier,
          profile: input.profile ?? null,
          region: input.region ?? null,
          locale: input.locale ?? 'en',
          timezone: input.timezone ?? 'UTC',
          metadata: input.metadata ?? {},
          customLimits: input.customLimits ?? {},
        });
        // Provisioning: default roles, default settings, the owner. Then the tenant is active.
        await insertBuiltinRoles(tx, id);
        await tx.query('INSERT INTO tenant_settings (tenant_id, settings) VALUES ($1, $2)', [id, JSON.stringify({})]);
        await deps.createOwner(tx, id, owner);
        await provisioned?.(tx, id);
        await begin(tx, id, 'activate');
        const row = await repo.updateTenantStatus(tx, id, { status: 'active' });
        return view(tx, row);
      });
      return created;
    },

    async list(filter: { status?: string; tier?: string; after: string | null; limit: number }) {
      return db.withControlPlane(async (tx) => {
        const rows = await repo.listTenants(tx, filter);
        // One connection runs one query at a time: views are built in sequence.
        const views: TenantView[] = [];
        for (const row of rows) views.push(await view(tx, row));
        return views;
      });
    },

    async get(id: string): Promise<TenantView> {
      assertId(id, 'tenant');
      return db.withControlPlane(async (tx) => {
        const row = await repo.findTenantById(tx, id);
        assertThat(row, notFound('tenant'));
        return view(tx, row);
      });
    },

    async findBySlug(slug: string) {
      return db.withControlPlane((tx) => repo.findTenantBySlug(tx, slug));
    },

    async update(id: string, patch: repo.TenantPatch): Promise<TenantView> {
      assertId(id, 'tenant');
      const result = await db.withControlPlane(async (tx) => {
        const row = await repo.lockTenant(tx, id);
        assertThat(row && row.status !== 'deleted', notFound('tenant'));
        if (patch.tier) await assertTier(tx, patch.tier);
        const updated = await repo.updateTenant(tx, id, patch);
        return view(tx, updated as repo.TenantRow);
      });
      await changed(id);
      return result;
    },

    async suspend(id: string, reason: string): Promise<TenantView> {
      assertId(id, 'tenant');
      const result = await db.withControlPlane(async (tx) => {
        await begin(tx, id, 'suspend');
        return view(tx, await repo.updateTenantStatus(tx, id, { status: 'suspended', reason, suspendedAt: new Date() }));
      });
      await changed(id);
      return result;
    },

    async resume(id: string): Promise<TenantView> {
      assertId(id, 'tenant');
      const result = await db.withControlPlane(async (tx) => {
        const row = await begin(tx, id, 'resume');
        if (row.status === 'offboarding') {
          // Cancelling an offboarding cancels its scheduled purge.
          await tx.query(
            "UPDATE jobs SET status = 'cancelled', updated_at = now(), finished_at = now() WHERE tenant_id = $1 AND kind = $2 AND status = 'queued'",
            [id, PURGE_JOB],
          );
        }
        return view(tx, await repo.updateTenantStatus(tx, id, { status: 'active' }));
      });
      await changed(id);
      return result;
    },

    async offboard(id: string, graceDays = deps.offboardGraceDays): Promise<TenantView> {
      assertId(id, 'tenant');
      const result = await db.withControlPlane(async (tx) => {
        const row = await begin(tx, id, 'offboard');
        const now = new Date();
        const purgeAfter = new Date(now.getTime() + graceDays * 86_400_000);
        const updated = await repo.updateTenantStatus(tx, id, {
          status: 'offboarding',
          reason: row.status_reason,
          suspendedAt: row.suspended_at,
          offboardedAt: now,
          purgeAfter,
        });
        // The purge is a durable job committed with the state change: it runs after the grace period
        // even if every node restarts in between.
        await deps.jobs.enqueueForTenant(tx, { kind: PURGE_JOB, tenantId: id, runAt: purgeAfter });
        return view(tx, updated);
      });
      await changed(id);
      return result;
    },

    /** Immediate purge by an operator, who must confirm with the tenant's slug. */
    async purge(id: string, confirm: string | undefined) {
      assertId(id, 'tenant');
      const row = await db.withControlPlane((tx) => repo.findTenantById(tx, id));
      assertThat(row && row.status !== 'deleted', notFound('tenant'));
      assertThat(confirm === row.slug, new AppError('confirmation_required', `to purge, repeat the tenant's slug: ?confirm=${row.slug}`));
      return purgeNow(id);
    },

    async getRateLimits(tenantId: string): Promise<TenantRateLimits> {
      return db.withTenant(tenantId, (tx) => readRateLimits(tx));
    },

    async setRateLimits(tenantId: string, limits: TenantRateLimits): Promise<TenantRateLimits> {
      await db.withTenant(tenantId, (tx) =>
        tx.query(
          `UPDATE tenant_settings SET settings = jsonb_set(settings, '{rateLimits}', $2::jsonb), updated_at = now()
           WHERE tenant_id = $1`,
          [tenantId, JSON.stringify(limits)],
        ),
      );
      await changed(tenantId);
      return limits;
    },

    listTiers: () => db.withControlPlane((tx) => repo.listTiers(tx)),

    async updateTier(name: string, limits: TierLimits, description?: string) {
      const row = await db.withControlPlane((tx) => repo.updateTierLimits(tx, name, limits, description));
      assertThat(row, notFound('tier'));
      // Every tenant of the tier has new effective limits.
      const ids = await db.withControlPlane((tx) =>
        tx.query<{ id: string }>("SELECT id FROM tenants WHERE tier = $1 AND status <> 'deleted'", [name]),
      );
      for (const { id } of ids.rows) await changed(id);
      return row;
    },
  };
}

export type TenantService = ReturnType<typeof createTenantService>;
