import { LRUCache } from 'lru-cache';
import type { Database, Tx } from '../../platform/db/database.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { findTenantById, findTenantBySlug, findTier, type TenantRow, type TenantStatus } from './tenants.repo.ts';
import { type CustomLimits, effectiveLimits, type TierLimits } from './tiers.ts';

export type TenantSummary = {
  id: string;
  slug: string;
  name: string;
  tier: string;
  status: TenantStatus;
  limits: TierLimits;
};

async function summarize(tx: Tx, row: TenantRow): Promise<TenantSummary> {
  const tier = await findTier(tx, row.tier);
  if (!tier) throw new Error(`tenant ${row.id} has unknown tier ${row.tier}`);
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    tier: row.tier,
    status: row.status,
    limits: effectiveLimits(row.tier, tier.limits, row.custom_limits as CustomLimits),
  };
}

/**
 * What the request path needs to know about a tenant (status, tier limits), cached per node and
 * dropped on every node when the tenant changes, so a suspension applies at once everywhere.
 */
export function createTenantDirectory(deps: { db: Database; bus: InvalidationBus; ttlMs?: number }) {
  const cache = new LRUCache<string, TenantSummary>({ max: 100_000, ttl: deps.ttlMs ?? 30_000 });
  deps.bus.on((event) => {
    if (event.type === 'tenant') cache.delete(event.tenantId);
  });
  return {
    async get(id: string): Promise<TenantSummary | undefined> {
      const hit = cache.get(id);
      if (hit) return hit;
      const summary = await deps.db.withControlPlane(async (tx) => {
        const row = await findTenantById(tx, id);
        return row ? summarize(tx, row) : undefined;
      });
      if (summary) cache.set(id, summary);
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
