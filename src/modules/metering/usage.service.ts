import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertThat } from '../../platform/errors.ts';
import type { TenantDirectory } from '../tenants/index.ts';
import { limitOf, METRIC_NAMES, METRICS, type Metric } from './metrics.ts';
import { type Granularity, nextMonthStart, periodStart } from './periods.ts';
import * as repo from './usage.repo.ts';

/** Counts a gauge metric from the data itself; modules register theirs (seats by identity, …). */
export type GaugeCounter = (tx: Tx) => Promise<number>;

export type UsageItem = {
  metric: Metric;
  used: number;
  limit: number | null;
  period: 'month' | 'absolute';
  resetsAt: string | null;
};

const MAX_POINTS = { hour: 24 * 93, day: 366 * 2, month: 120 } as const;

export function createUsageService(deps: { db: Database; directory: TenantDirectory }) {
  const { db, directory } = deps;
  const gauges = new Map<Metric, GaugeCounter>();

  async function limitsOf(tenantId: string) {
    const tenant = await directory.get(tenantId);
    assertThat(tenant, new AppError('not_found', 'tenant not found'));
    return tenant.limits;
  }

  /** Records the 80% and 100% alerts of a metric once per period. Runs in the caller's transaction. */
  async function checkAlerts(tx: Tx, tenantId: string, metric: Metric, used: number, limit: number | null, at = new Date()) {
    if (limit === null || limit <= 0) return;
    const start = METRICS[metric].period === 'month' ? periodStart(at, 'month') : new Date(0);
    for (const threshold of [80, 100] as const) {
      if (used * 100 >= limit * threshold) {
        await repo.insertAlert(tx, { tenantId, metric, periodStart: start, threshold, used, limit });
      }
    }
  }

  return {
    registerGauge(metric: Metric, counter: GaugeCounter) {
      gauges.set(metric, counter);
    },

    /**
     * Billable usage, written in the transaction of the action that consumed it: committed together
     * or not at all, so none is lost or counted twice across crashes.
     */
    async recordBillable(tx: Tx, tenantId: string, metric: Metric, quantity: number, at = new Date()) {
      if (quantity <= 0) return;
      await repo.addUsage(tx, tenantId, metric, quantity, { at });
      const tenant = await directory.getWithin(tx, tenantId);
      assertThat(tenant, new AppError('not_found', 'tenant not found'));
      const limit = limitOf(metric, tenant.limits);
      if (limit !== null) await checkAlerts(tx, tenantId, metric, await repo.monthTotal(tx, metric, at), limit, at);
    },

    checkAlerts,

    async overview(tenantId: string, apiCallsUsed: number): Promise<UsageItem[]> {
      const limits = await limitsOf(tenantId);
      const now = new Date();
      return db.withTenant(tenantId, async (tx) => {
        const totals = await repo.monthTotals(tx, now);
        const items: UsageItem[] = [];
        for (const metric of METRIC_NAMES) {
          const spec = METRICS[metric];
          let used: number;
          if (metric === 'api_calls') used = apiCallsUsed;
          else if (spec.kind === 'counter') used = totals.get(metric) ?? 0;
          else used = gauges.has(metric) ? await (gauges.get(metric) as GaugeCounter)(tx) : 0;
          items.push({
            metric,
            used,
            limit: limitOf(metric, limits),
            period: spec.period,
            resetsAt: spec.period === 'month' ? nextMonthStart(now).toISOString() : null,
          });
        }
        return items;
      });
    },

    async timeseries(tenantId: string, query: { metric: string; granularity: Granularity; from: Date; to: Date; dimension?: string }) {
      const bad = (path: string, message: string) =>
        new AppError('validation_failed', `${path} ${message}`, { errors: [{ path, message }] });
      assertThat(
        (METRIC_NAMES as string[]).includes(query.metric) && METRICS[query.metric as Metric].kind === 'counter',
        bad('querystring/metric', `must be one of ${METRIC_NAMES.filter((m) => METRICS[m].kind === 'counter').join(', ')}`),
      );
      assertThat(!Number.isNaN(query.from.getTime()), bad('querystring/from', 'is not a date-time'));
      assertThat(!Number.isNaN(query.to.getTime()), bad('querystring/to', 'is not a date-time'));
      assertThat(query.from < query.to, bad('querystring/to', 'must be after from'));
      const stepMs = { hour: 3_600_000, day: 86_400_000, month: 31 * 86_400_000 }[query.granularity];
      assertThat(
        (query.to.getTime() - query.from.getTime()) / stepMs <= MAX_POINTS[query.granularity],
        bad('querystring/from', `the range is too long for ${query.granularity} points (at most ${MAX_POINTS[query.granularity]})`),
      );
      const rows = await db.withTenant(tenantId, (tx) => repo.series(tx, { ...query, from: periodStart(query.from, query.granularity) }));
      return rows.map((row) => ({ periodStart: row.period_start.toISOString(), value: Number(row.value) }));
    },

    listAlerts(tenantId: string, filter: { after: string | null; limit: number }) {
      return db.withTenant(tenantId, (tx) => repo.listAlerts(tx, filter));
    },
  };
}

export type UsageService = ReturnType<typeof createUsageService>;
