import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../../platform/db/database.ts';
import { periodStart } from './periods.ts';
import { addUsage, monthTotal } from './usage.repo.ts';

type Pending = { tenantId: string; group: string; hour: number; count: number };

/**
 * API calls are too frequent to write one by one: they are counted in memory per tenant, route
 * group and hour, and added to usage_counters in one transaction per tenant every `flushMs`.
 * Bound on loss: a crash (kill -9) loses at most the calls of the last `flushMs` on that node.
 * API calls are not billable; billable quantities are written with the action (see usage.service).
 */
export function createApiCallMeter(deps: {
  db: Database;
  log: FastifyBaseLogger;
  flushMs: number;
  /** Called after a tenant's calls are flushed, with its month total (alerts). */
  onFlushed?: (tenantId: string, monthTotal: number) => Promise<void>;
}) {
  let pending = new Map<string, Pending>();
  // The month total as last read from the database, per tenant, plus what this node counted since.
  const flushedTotals = new Map<string, { month: number; total: number; readAt: number }>();
  const unflushed = new Map<string, number>();

  function record(tenantId: string, group: string, at = Date.now()) {
    const hour = periodStart(new Date(at), 'hour').getTime();
    const key = `${tenantId}|${group}|${hour}`;
    const entry = pending.get(key);
    if (entry) entry.count += 1;
    else pending.set(key, { tenantId, group, hour, count: 1 });
    unflushed.set(tenantId, (unflushed.get(tenantId) ?? 0) + 1);
  }

  async function flush() {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    const byTenant = new Map<string, Pending[]>();
    for (const entry of batch.values()) {
      const list = byTenant.get(entry.tenantId) ?? [];
      list.push(entry);
      byTenant.set(entry.tenantId, list);
    }
    for (const [tenantId, entries] of byTenant) {
      const count = entries.reduce((sum, e) => sum + e.count, 0);
      try {
        const total = await deps.db.withTenant(tenantId, async (tx) => {
          for (const e of entries) {
            await addUsage(tx, tenantId, 'api_calls', e.count, { at: new Date(e.hour), dimension: e.group });
          }
          return monthTotal(tx, 'api_calls', new Date());
        });
        unflushed.set(tenantId, Math.max(0, (unflushed.get(tenantId) ?? 0) - count));
        flushedTotals.set(tenantId, { month: periodStart(new Date(), 'month').getTime(), total, readAt: Date.now() });
        await deps.onFlushed?.(tenantId, total);
      } catch (error) {
        // Put the counts back so the next flush retries them.
        for (const e of entries) {
          const key = `${e.tenantId}|${e.group}|${e.hour}`;
          const current = pending.get(key);
          if (current) current.count += e.count;
          else pending.set(key, { ...e });
        }
        deps.log.warn({ err: error, tenantId }, 'could not flush API call usage');
      }
    }
  }

  const timer = setInterval(() => void flush(), deps.flushMs);
  timer.unref();

  return {
    record,
    flush,
    /**
     * This month's API calls for the quota check: the database total (re-read at most every 10 s)
     * plus this node's unflushed calls. Several nodes may overshoot by their unflushed calls.
     */
    async monthUsed(tenantId: string): Promise<number> {
      const month = periodStart(new Date(), 'month').getTime();
      let known = flushedTotals.get(tenantId);
      if (!known || known.month !== month || Date.now() - known.readAt > 10_000) {
        const total = await deps.db.withTenant(tenantId, (tx) => monthTotal(tx, 'api_calls', new Date()));
        known = { month, total, readAt: Date.now() };
        flushedTotals.set(tenantId, known);
      }
      return known.total + (unflushed.get(tenantId) ?? 0);
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

export type ApiCallMeter = ReturnType<typeof createApiCallMeter>;
