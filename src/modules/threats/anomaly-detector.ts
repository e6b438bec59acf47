import { LRUCache } from 'lru-cache';

/** What the detector watches. */
export type SignalKind = 'login_failed' | 'forbidden' | 'tenant_mismatch';

export type Signal = {
  tenantId: string;
  kind: SignalKind;
  /** Who caused it: the calling user or API key; for failed logins, the targeted user when it exists. */
  actor: { type: 'user' | 'api_key'; id: string } | null;
  ip: string | null;
};

export type Anomaly = {
  tenantId: string;
  kind: SignalKind;
  actor: Signal['actor'];
  ip: string | null;
  count: number;
  threshold: number;
  /** The tenant's usual count of this signal per window (its rolling hourly rate, scaled). */
  baseline: number;
  windowSeconds: number;
};

export type AnomalyOptions = {
  /** The least count in one window that is ever an anomaly, whatever the baseline. */
  floor: number;
  /** How many times the tenant's usual rate a count must reach. */
  multiplier: number;
  windowSeconds: number;
  now?: () => number;
};

const HOUR = 3600_000;
const HOURS_KEPT = 24;

/**
 * Per-tenant anomaly detection, in memory on each node (no database work per request).
 *
 * Rule: an actor (user or API key) is anomalous when its count of one signal within the sliding
 * window reaches max(floor, multiplier × baseline), where baseline is the tenant's own average count
 * of that signal per window over the previous 24 hours (hourly buckets). Cross-tenant probes
 * (tenant_mismatch) are rarer and graver: their floor is a quarter of the configured one. Failed
 * logins are also judged for the tenant as a whole (credential stuffing), against the same rule.
 * An anomaly fires once per actor and window. Each node judges what it sees; with several nodes
 * behind a balancer an actor is caught once any node sees enough.
 */
export function createAnomalyDetector(options: AnomalyOptions, onAnomaly: (anomaly: Anomaly) => void) {
  const now = options.now ?? Date.now;
  const windowMs = options.windowSeconds * 1000;
  // tenant|kind → counts per hour (hour number → count)
  const hourly = new LRUCache<string, Map<number, number>>({ max: 50_000 });
  // tenant|kind|actor → timestamps within the window
  const recent = new LRUCache<string, number[]>({ max: 100_000 });
  // tenant|kind|actor → when it last fired
  const fired = new LRUCache<string, number>({ max: 100_000 });

  function baselineOf(key: string, at: number): number {
    const buckets = hourly.get(key);
    if (!buckets) return 0;
    const current = Math.floor(at / HOUR);
    let sum = 0;
    let oldest = current;
    for (const [hour, n] of buckets) {
      if (hour < current - HOURS_KEPT) buckets.delete(hour);
      else if (hour < current) {
        sum += n;
        oldest = Math.min(oldest, hour);
      }
    }
    const hours = Math.max(1, current - oldest);
    return (sum / hours) * (windowMs / HOUR);
  }

  function observe(signal: Signal, actorKey: string, floor: number) {
    const at = now();
    const tenantKey = `${signal.tenantId}|${signal.kind}`;
    const key = `${tenantKey}|${actorKey}`;
    const times = (recent.get(key) ?? []).filter((t) => t > at - windowMs);
    times.push(at);
    recent.set(key, times);
    const baseline = baselineOf(tenantKey, at);
    const threshold = Math.max(floor, Math.ceil(options.multiplier * baseline));
    if (times.length < threshold) return;
    const last = fired.get(key);
    if (last !== undefined && last > at - windowMs) return;
    fired.set(key, at);
    onAnomaly({
      tenantId: signal.tenantId,
      kind: signal.kind,
      actor: actorKey === '*' ? null : signal.actor,
      ip: signal.ip,
      count: times.length,
      threshold,
      baseline: Math.round(baseline * 100) / 100,
      windowSeconds: options.windowSeconds,
    });
  }

  return {
    record(signal: Signal) {
      const at = now();
      const tenantKey = `${signal.tenantId}|${signal.kind}`;
      const floor = signal.kind === 'tenant_mismatch' ? Math.max(1, Math.ceil(options.floor / 4)) : options.floor;
      // Judge against the baseline before this signal joins the current hour.
      if (signal.actor && signal.kind !== 'login_failed') observe(signal, `${signal.actor.type}:${signal.actor.id}`, floor);
      if (signal.kind === 'login_failed') observe(signal, '*', floor);
      const buckets = hourly.get(tenantKey) ?? new Map<number, number>();
      const hour = Math.floor(at / HOUR);
      buckets.set(hour, (buckets.get(hour) ?? 0) + 1);
      hourly.set(tenantKey, buckets);
    },
  };
}

export type AnomalyDetector = ReturnType<typeof createAnomalyDetector>;
