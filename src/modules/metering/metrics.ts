import type { TierLimits } from '../tenants/index.ts';

/**
 * The usage metrics. `counter` metrics accumulate per period (hour, day, month) in usage_counters;
 * `gauge` metrics are current amounts counted from the data itself (always exact). A metric with a
 * `limit` is a quota: refused at its point of use with 429 quota_exceeded.
 */
export const METRICS = {
  api_calls: { kind: 'counter', limit: 'apiCallsPerMonth', period: 'month', billable: false },
  llm_tokens: { kind: 'counter', limit: 'llmTokensPerMonth', period: 'month', billable: true },
  embedding_tokens: { kind: 'counter', limit: null, period: 'month', billable: true },
  messages: { kind: 'counter', limit: null, period: 'month', billable: true },
  seats: { kind: 'gauge', limit: 'seats', period: 'absolute', billable: true },
  knowledge_bases: { kind: 'gauge', limit: 'knowledgeBases', period: 'absolute', billable: false },
  documents: { kind: 'gauge', limit: 'documents', period: 'absolute', billable: true },
  storage_bytes: { kind: 'gauge', limit: 'storageBytes', period: 'absolute', billable: true },
  webhooks: { kind: 'gauge', limit: 'webhooks', period: 'absolute', billable: false },
  custom_roles: { kind: 'gauge', limit: 'customRoles', period: 'absolute', billable: false },
} as const satisfies Record<
  string,
  { kind: 'counter' | 'gauge'; limit: keyof TierLimits | null; period: 'month' | 'absolute'; billable: boolean }
>;

export type Metric = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as Metric[];
export const COUNTER_METRICS = METRIC_NAMES.filter((m) => METRICS[m].kind === 'counter');

export function limitOf(metric: Metric, limits: TierLimits): number | null {
  const key = METRICS[metric].limit;
  if (key === null) return null;
  const value = limits[key];
  return typeof value === 'number' ? value : null;
}

/** Route group of an API call for metering: `/v1/api-keys/:id/rotate` → `api-keys`. */
export function routeGroup(url: string | undefined): string {
  const parts = (url ?? '').split('/').filter(Boolean);
  return (parts[0] === 'v1' ? parts[1] : parts[0])?.replace(/[^a-z0-9-]/gi, '').slice(0, 40) || 'other';
}
