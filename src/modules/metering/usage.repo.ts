import type { Tx } from '../../platform/db/database.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { type Granularity, periodStart } from './periods.ts';

const GRANULARITIES: Granularity[] = ['hour', 'day', 'month'];

/** Adds `quantity` to the hour, day and month counters of the metric, in the caller's transaction. */
export async function addUsage(
  tx: Tx,
  tenantId: string,
  metric: string,
  quantity: number,
  options: { at?: Date; dimension?: string } = {},
): Promise<void> {
  const at = options.at ?? new Date();
  for (const granularity of GRANULARITIES) {
    await tx.query(
      `INSERT INTO usage_counters (tenant_id, metric, dimension, granularity, period_start, value)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (tenant_id, metric, granularity, period_start, dimension)
       DO UPDATE SET value = usage_counters.value + EXCLUDED.value, updated_at = now()`,
      [tenantId, metric, options.dimension ?? '', granularity, periodStart(at, granularity), quantity],
    );
  }
}

/**
 * Adds many counts of one metric in one statement: the hour, day and month rows of every
 * (dimension, hour) entry, summed first so that no row is touched twice by the statement.
 */
export async function addUsageBatch(
  tx: Tx,
  tenantId: string,
  metric: string,
  entries: ReadonlyArray<{ dimension: string; at: Date; count: number }>,
): Promise<void> {
  const sums = new Map<string, { dimension: string; granularity: Granularity; start: Date; value: number }>();
  for (const entry of entries) {
    for (const granularity of GRANULARITIES) {
      const start = periodStart(entry.at, granularity);
      const key = `${entry.dimension}|${granularity}|${start.getTime()}`;
      const current = sums.get(key);
      if (current) current.value += entry.count;
      else sums.set(key, { dimension: entry.dimension, granularity, start, value: entry.count });
    }
  }
  const rows = [...sums.values()];
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO usage_counters (tenant_id, metric, dimension, granularity, period_start, value)
     SELECT $1, $2, x.dimension, x.granularity, x.period_start, x.value
     FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::bigint[]) AS x(dimension, granularity, period_start, value)
     ON CONFLICT (tenant_id, metric, granularity, period_start, dimension)
     DO UPDATE SET value = usage_counters.value + EXCLUDED.value, updated_at = now()`,
    [tenantId, metric, rows.map((r) => r.dimension), rows.map((r) => r.granularity), rows.map((r) => r.start), rows.map((r) => r.value)],
  );
}

export async function monthTotal(tx: Tx, metric: string, at: Date): Promise<number> {
  const { rows } = await tx.query<{ total: number }>(
    `SELECT COALESCE(sum(value), 0)::float8 AS total FROM usage_counters
     WHERE metric = $1 AND granularity = 'month' AND period_start = $2`,
    [metric, periodStart(at, 'month')],
  );
  return rows[0]?.total ?? 0;
}

export async function monthTotals(tx: Tx, at: Date): Promise<Map<string, number>> {
  const { rows } = await tx.query<{ metric: string; total: number }>(
    `SELECT metric, sum(value)::float8 AS total FROM usage_counters
     WHERE granularity = 'month' AND period_start = $1 GROUP BY metric`,
    [periodStart(at, 'month')],
  );
  return new Map(rows.map((row) => [row.metric, row.total]));
}

export type SeriesPoint = { period_start: Date; value: number };

export async function series(
  tx: Tx,
  filter: { metric: string; granularity: Granularity; from: Date; to: Date; dimension?: string },
): Promise<SeriesPoint[]> {
  const { rows } = await tx.query<SeriesPoint>(
    `SELECT period_start, sum(value)::float8 AS value FROM usage_counters
     WHERE metric = $1 AND granularity = $2 AND period_start >= $3 AND period_start < $4
       AND ($5::text IS NULL OR dimension = $5)
     GROUP BY period_start ORDER BY period_start`,
    [filter.metric, filter.granularity, filter.from, filter.to, filter.dimension ?? null],
  );
  return rows;
}

export async function insertAlert(
  tx: Tx,
  alert: { tenantId: string; metric: string; periodStart: Date; threshold: 80 | 100; used: number; limit: number },
): Promise<boolean> {
  const result = await tx.query(
    `INSERT INTO usage_alerts (tenant_id, id, metric, period_start, threshold, used, "limit")
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, metric, period_start, threshold) DO NOTHING`,
    [alert.tenantId, uuidv7(), alert.metric, alert.periodStart, alert.threshold, alert.used, alert.limit],
  );
  return result.rowCount > 0;
}

export type AlertRow = {
  id: string;
  metric: string;
  period_start: Date;
  threshold: number;
  used: number;
  limit: number;
  created_at: Date;
};

export async function listAlerts(tx: Tx, filter: { after: string | null; limit: number }): Promise<AlertRow[]> {
  const { rows } = await tx.query<AlertRow>(
    `SELECT id, metric, period_start, threshold, used::float8 AS used, "limit"::float8 AS "limit", created_at
     FROM usage_alerts WHERE ($1::uuid IS NULL OR id < $1) ORDER BY id DESC LIMIT $2`,
    [filter.after, filter.limit + 1],
  );
  return rows;
}
