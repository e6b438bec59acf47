import { LRUCache } from 'lru-cache';
import type { Database, Tx } from '../../platform/db/database.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { findTenantById, findTenantBySlug, findTier, type TenantRow, type TenantStatus } from './tenants.repo.ts';
import { type CustomLimits, effectiveLimits, type TierLimits } from './tiers.ts';

/** Per-user and per-API-key request limits a tenant may set below its tier's tenant-wide limit. */
export type TenantRateLimits = { perUserPerMinute: number | null; perApiKeyPerMinute: number | null };
export const NO_EXTRA_LIMITS: TenantRateLimits = { perUserPerMinute: null, perApiKeyPerMinute: null };

export type TenantSummary = {
  id: string;
  slug: string;
  name: string;
  tier: string;
  status: TenantStatus;
  limits: TierLimits;
  rateLimits: TenantRateLimits;
};

async function summarize(tx: Tx, row: TenantRow, rateLimits: TenantRateLimits = NO_EXTRA_LIMITS): Promise<TenantSummary> {
  const tier = await findTier(tx, row.tier);
  if (!tier) throw new Error(`tenant ${row.id} has unknown tier ${row.tier}`);
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    tier: row.tier,
    status: row.status,
    limits: effectiveLimits(row.tier, tier.limits, row.custom_limits as CustomLimits),
    rateLimits,
  };
}

export async function readRateLimits(tx: Tx): Promise<TenantRateLimits> {
  const { rows } = await tx.query<{ limits: Partial<TenantRateLimits> | null }>(
    "SELECT settings -> 'rateLimits' AS limits FROM tenant_settings",
  );
  return { ...NO_EXTRA_LIMITS, ...(rows[0]?.limits ?? {}) };
}

/**
 * What the request path needs to know about a tenant (status, tier limits), cached per node and
 * dropped on every node when the tenant changes, so a suspension applies at once everywhere.
 */
export function createTenantDirectory(deps: { db: Database; bus: InvalidationBus; ttlMs?: number }) {
  // Changes are pushed through the bus; the TTL only bounds staleness should a message be lost.
  const cache = new LRUCache<string, TenantSummary>({ max: 100_000, ttl: deps.ttlMs ?? 300_000 });
  deps.bus.on((event) => {
    if (event.type === 'tenant') cache.delete(event.tenantId);
  });
  return {
    async get(id: string): Promise<TenantSummary | undefined> {
      const hit = cache.get(id);
      if (hit) return hit;
      // A tenant transaction: the control-plane row and the tenant's own settings in one read.
      const summary = await deps.db.withTenant(id, async (tx) => {
        const row = await findTenantById(tx, id);
        return row ? summarize(tx, row, await readRateLimits(tx)) : undefined;
      });
      if (summary) cache.set(id, summary);
      return summary;
    },
    /**
     * The same, inside a transaction the caller already holds: never opens a second transaction
     * (on PGlite's single connection a nested one would wait for the outer one forever).
     */
    async getWithin(tx: Tx, id: string): Promise<TenantSummary | undefined> {
      const hit = cache.get(id);
      if (hit) return hit;
      const row = await findTenantById(tx, id);
      if (!row) return undefined;
      const summary = await summarize(tx, row, await readRateLimits(tx));
      cache.set(id, summary);
      return summary;
    },
    async getBySlug(slug: string): Promise<TenantSummary | undefined> {
      return deps.db.withControlPlane(async (tx) => {
        const row = await findTenantBySlug(tx, slug);
        return row ? summarize(tx, row) : undefined;
      });
    },
    summarize,
  };
}

export type TenantDirectory = ReturnType<typeof createTenantDirectory>;
