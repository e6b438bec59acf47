import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../../platform/db/database.ts';
import { periodStart } from './periods.ts';
import { addUsageBatch, monthTotal } from './usage.repo.ts';

type Pending = { tenantId: string; group: string; hour: number; count: number };

/** Tenants written per transaction by one flush. */
const FLUSH_CHUNK = 500;
/** How stale the database's month total may be before it is read again (other nodes' calls). */
const REREAD_MS = 60_000;

/**
 * API calls are too frequent to write one by one: they are counted in memory per tenant, route
 * group and hour, and every `flushMs` added to usage_counters, one statement per tenant and a few
 * hundred tenants per transaction. Bound on loss: a crash (kill -9) loses at most the calls of
 * the last `flushMs` on that node. API calls are not billable; billable quantities are written
 * with the action (see usage.service).
 */
export function createApiCallMeter(deps: {
  db: Database;
  log: FastifyBaseLogger;
  flushMs: number;
  /** Called after a flush with each flushed tenant's month total as this node knows it (alerts). */
  onFlushed?: (tenantId: string, monthTotal: number) => Promise<void>;
}) {
  let pending = new Map<string, Pending>();
  /** Per tenant: the month total read from the database, plus what this node flushed since. */
  const known = new Map<string, { month: number; total: number; readAt: number }>();
  /** Per tenant: calls counted here and not yet flushed. */
  const unflushed = new Map<string, number>();
  let flushing: Promise<void> | undefined;

  function record(tenantId: string, group: string, at = Date.now()) {
    const hour = at - (at % 3_600_000);
    const key = `${tenantId}|${group}|${hour}`;
    const entry = pending.get(key);
    if (entry) entry.count += 1;
    else pending.set(key, { tenantId, group, hour, count: 1 });
    unflushed.set(tenantId, (unflushed.get(tenantId) ?? 0) + 1);
  }

  async function flushOnce() {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    const byTenant = new Map<string, Pending[]>();
    for (const entry of batch.values()) {
      const list = byTenant.get(entry.tenantId);
      if (list) list.push(entry);
      else byTenant.set(entry.tenantId, [entry]);
    }
    const tenants = [...byTenant.keys()];
    for (let i = 0; i < tenants.length; i += FLUSH_CHUNK) {
      const chunk = tenants.slice(i, i + FLUSH_CHUNK);
      try {
        await deps.db.withTenants(chunk, async (tx, tenantId) => {
          const entries = (byTenant.get(tenantId) ?? []).map((e) => ({ dimension: e.group, at: new Date(e.hour), count: e.count }));
          await addUsageBatch(tx, tenantId, 'api_calls', entries);
        });
      } catch (error) {
        // Put the counts back so the next flush retries them.
        for (const tenantId of chunk) {
          for (const e of byTenant.get(tenantId) ?? []) {
            const key = `${e.tenantId}|${e.group}|${e.hour}`;
            const current = pending.get(key);
            if (current) current.count += e.count;
            else pending.set(key, { ...e });
          }
        }
        deps.log.warn({ err: error, tenants: chunk.length }, 'could not flush API call usage');
        continue;
      }
      const month = periodStart(new Date(), 'month').getTime();
      for (const tenantId of chunk) {
        const count = (byTenant.get(tenantId) ?? []).reduce((sum, e) => sum + e.count, 0);
        unflushed.set(tenantId, Math.max(0, (unflushed.get(tenantId) ?? 0) - count));
        const entry = known.get(tenantId);
        if (entry && entry.month === month) entry.total += count;
        if (deps.onFlushed) {
          try {
            await deps.onFlushed(tenantId, (entry?.month === month ? entry.total : 0) + (unflushed.get(tenantId) ?? 0));
          } catch (error) {
            deps.log.warn({ err: error, tenantId }, 'usage alert check failed');
          }
        }
      }
    }
  }

  /** One flush at a time: a slow flush is never overlapped by the next tick. */
  function flush(): Promise<void> {
    if (!flushing) {
      flushing = flushOnce().finally(() => {
        flushing = undefined;
      });
      return flushing;
    }
    // A flush is running: wait for it, then flush what arrived meanwhile.
    return flushing.then(() => flush());
  }

  const timer = setInterval(() => {
    if (!flushing) void flush();
  }, deps.flushMs);
  timer.unref();

  return {
    record,
    flush,
    /**
     * This month's API calls for the quota check: the database total (read again at most every
     * minute, to learn other nodes' calls) plus what this node flushed and counted since. Several
     * nodes may overshoot a quota by what the others counted within that minute.
     */
    async monthUsed(tenantId: string): Promise<number> {
      const month = periodStart(new Date(), 'month').getTime();
      let entry = known.get(tenantId);
      if (!entry || entry.month !== month || Date.now() - entry.readAt > REREAD_MS) {
        const total = await deps.db.withTenant(tenantId, (tx) => monthTotal(tx, 'api_calls', new Date()));
        entry = { month, total, readAt: Date.now() };
        known.set(tenantId, entry);
      }
      return entry.total + (unflushed.get(tenantId) ?? 0);
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

export type ApiCallMeter = ReturnType<typeof createApiCallMeter>;
