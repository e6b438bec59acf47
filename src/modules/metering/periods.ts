export type Granularity = 'hour' | 'day' | 'month';

/** Start of the UTC period that contains `at`. */
export function periodStart(at: Date, granularity: Granularity): Date {
  const d = new Date(at.getTime());
  d.setUTCMinutes(0, 0, 0);
  if (granularity === 'hour') return d;
  d.setUTCHours(0);
  if (granularity === 'day') return d;
  d.setUTCDate(1);
  return d;
}

export function nextMonthStart(at: Date): Date {
  const start = periodStart(at, 'month');
  return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
}
