import type { FastifyBaseLogger } from 'fastify';
import { LRUCache } from 'lru-cache';
import {
  type Actor,
  type Condition,
  conditionMap,
  inheritConditions,
  isPermission,
  isSubset,
  type TenantPrincipal,
} from '../access/index.ts';
import type { Database } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, notFound } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { mintSecret, parseSecret } from '../../platform/secrets.ts';
import { hasAdminScope } from '../identity/index.ts';
import * as repo from './api-keys.repo.ts';

export const API_KEY_PREFIX = 'pzk';
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 24 * 3600;

type CachedKey = {
  tenantId: string;
  apiKeyId: string;
  permissions: ReadonlySet<string>;
  conditions: ReadonlyMap<string, readonly Condition[]> | undefined;
  /** The earliest of key expiry and secret expiry, in ms; null when neither expires. */
  validUntil: number | null;
};

export function createApiKeyService(deps: {
  db: Database;
  bus: InvalidationBus;
  log: FastifyBaseLogger;
  cacheTtlMs: number;
  usageFlushMs?: number;
  /** Step-up check for keys with admin scopes (throws step_up_required when the session's login is not recent). */
  requireRecentAuth?: (principal: TenantPrincipal) => Promise<void>;
}) {
  const { db, bus, log } = deps;
  // Keyed by the SHA-256 of the presented key, never the key itself.
  const cache = new LRUCache<string, CachedKey>({ max: 50_000, ttl: Math.max(deps.cacheTtlMs, 1) });
  bus.on((event) => {
    if (event.type !== 'api_key' && event.type !== 'tenant') return;
    for (const [hash, entry] of cache.entries()) {
      if (event.type === 'api_key' ? entry.apiKeyId === event.apiKeyId : entry.tenantId === event.tenantId) {
        cache.delete(hash);
      }
    }
  });

  // Usage is counted in memory and written in batches, so a request never waits on a write for it.
  // A crash loses at most one flush interval of last-used times and counts (not billable data).
  let pending = new Map<string, { tenantId: string; at: Date; count: number }>();
  async function flushUsage() {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    const byTenant = new Map<string, Array<[string, { at: Date; count: number }]>>();
    for (const [id, usage] of batch) {
      const list = byTenant.get(usage.tenantId) ?? [];
      list.push([id, usage]);
      byTenant.set(usage.tenantId, list);
    }
    const tenants = [...byTenant.keys()];
    for (let i = 0; i < tenants.length; i += 500) {
      const chunk = tenants.slice(i, i + 500);
      try {
        // One transaction visits each tenant in turn (RLS bounds every statement to it).
        await db.withTenants(chunk, async (tx, tenantId) => {
          for (const [id, usage] of byTenant.get(tenantId) ?? []) await repo.recordUsage(tx, id, usage.at, usage.count);
        });
      } catch (error) {
        log.warn({ err: error, tenants: chunk.length }, 'could not record API key usage');
      }
    }
  }
  const flushTimer = setInterval(() => void flushUsage(), deps.usageFlushMs ?? 5000);
  flushTimer.unref();

  function validateScopes(scopes: string[], granted: ReadonlySet<string>) {
    for (const scope of scopes) {
      assertThat(isPermission(scope), new AppError('invalid_scope', `unknown permission "${scope}"`, { scope }));
    }
    const missing = isSubset(scopes, granted);
    assertThat(
      missing.length === 0,
      new AppError('scope_exceeds_permissions', `you cannot grant permissions you do not have: ${missing.join(', ')}`, {
        permissions: missing,
      }),
    );
  }

  function hintOf(value: string) {
    return `${API_KEY_PREFIX}_…${value.slice(-4)}`;
  }

  return {
    /** Resolves a presented key to its principal; undefined for unknown, revoked or expired keys. */
    async resolve(presented: string): Promise<TenantPrincipal | undefined> {
      const parsed = parseSecret(API_KEY_PREFIX, presented);
      if (!parsed) return undefined;
      let entry = cache.get(parsed.hash);
      if (!entry) {
        const row = await db.withTenant(parsed.tenantId, (tx) => repo.findBySecretHash(tx, parsed.hash));
        // A key suspended by the anomaly detector is refused until an admin reinstates it.
        if (!row || row.revoked_at || row.suspended_at) return undefined;
        const ends = [row.key_expires_at, row.secret_expires_at].filter((d): d is Date => d !== null).map((d) => d.getTime());
        entry = {
          tenantId: parsed.tenantId,
          apiKeyId: row.api_key_id,
          permissions: new Set(row.scopes),
          conditions: conditionMap(row.conditions),
          validUntil: ends.length ? Math.min(...ends) : null,
        };
        cache.set(parsed.hash, entry);
      }
      const now = Date.now();
      if (entry.validUntil !== null && entry.validUntil <= now) return undefined;
      const usage = pending.get(entry.apiKeyId);
      if (usage) {
        usage.count += 1;
        usage.at = new Date(now);
      } else {
        pending.set(entry.apiKeyId, { tenantId: entry.tenantId, at: new Date(now), count: 1 });
      }
      return {
        kind: 'api_key',
        tenantId: entry.tenantId,
        apiKeyId: entry.apiKeyId,
        permissions: entry.permissions,
        ...(entry.conditions ? { conditions: entry.conditions } : {}),
      };
    },

    async create(principal: TenantPrincipal, actor: Actor, input: { name: string; scopes: string[]; expiresAt?: string | null }) {
      const scopes = [...new Set(input.scopes)].sort();
      validateScopes(scopes, principal.permissions);
      if (deps.requireRecentAuth && hasAdminScope(scopes)) await deps.requireRecentAuth(principal);
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
      assertThat(
        expiresAt === null || expiresAt.getTime() > Date.now(),
        new AppError('validation_failed', 'expiresAt must be in the future', {
          errors: [{ path: 'body/expiresAt', message: 'must be in the future' }],
        }),
      );
      const id = uuidv7();
      const secret = mintSecret(API_KEY_PREFIX, principal.tenantId);
      const row = await db.withTenant(principal.tenantId, async (tx) => {
        const created = await repo.insertApiKey(tx, {
          tenantId: principal.tenantId,
          id,
          name: input.name,
          scopes,
          hint: hintOf(secret.value),
          createdByType: actor.type,
          createdById: actor.id,
          expiresAt,
          // The key keeps its maker's conditions on the scopes it gets (F-B5).
          conditions: inheritConditions(principal, scopes),
        });
        await repo.insertApiKeySecret(tx, { tenantId: principal.tenantId, apiKeyId: id, hash: secret.hash, expiresAt: null });
        return created;
      });
      return { row, key: secret.value };
    },

    list(tenantId: string, filter: { includeRevoked: boolean; after: string | null; limit: number }) {
      return db.withTenant(tenantId, (tx) => repo.listApiKeys(tx, filter));
    },

    async get(tenantId: string, id: string) {
      assertId(id, 'API key');
      const row = await db.withTenant(tenantId, (tx) => repo.findApiKey(tx, id));
      assertThat(row, notFound('API key'));
      return row;
    },

    async revoke(tenantId: string, id: string) {
      assertId(id, 'API key');
      const row = await db.withTenant(tenantId, async (tx) => {
        const revoked = await repo.revokeApiKey(tx, id);
        if (revoked) await repo.expireApiKeySecrets(tx, id, null);
        return revoked;
      });
      assertThat(row, notFound('API key'));
      await bus.publish({ type: 'api_key', tenantId, apiKeyId: id });
      return row;
    },

    /** A new secret; the previous ones keep working until `overlapSeconds` from now. */
    async rotate(principal: TenantPrincipal, id: string, overlapSeconds: number) {
      assertId(id, 'API key');
      const secret = mintSecret(API_KEY_PREFIX, principal.tenantId);
      const row = await db.withTenant(principal.tenantId, async (tx) => {
        const existing = await repo.findApiKey(tx, id);
        assertThat(existing, notFound('API key'));
        assertThat(!existing.revoked_at, new AppError('conflict', 'a revoked key cannot be rotated'));
        // Rotating cannot raise a key above the rotator's own permissions.
        validateScopes(existing.scopes, principal.permissions);
        await repo.expireApiKeySecrets(tx, id, new Date(Date.now() + overlapSeconds * 1000));
        await repo.insertApiKeySecret(tx, { tenantId: principal.tenantId, apiKeyId: id, hash: secret.hash, expiresAt: null });
        await repo.touchApiKey(tx, id, hintOf(secret.value));
        return { ...existing, hint: hintOf(secret.value) };
      });
      await bus.publish({ type: 'api_key', tenantId: principal.tenantId, apiKeyId: id });
      return { row, key: secret.value, previousValidUntil: new Date(Date.now() + overlapSeconds * 1000) };
    },

    flushUsage,
    async close() {
      clearInterval(flushTimer);
      await flushUsage();
    },
  };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;
