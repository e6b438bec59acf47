import { createHash } from 'node:crypto';

/**
 * Whether a tenant is in a rollout's cohort: a hash of rollout id and tenant id mapped onto
 * [0, 100). Deterministic (every node agrees, no state), independent between rollouts, and
 * monotonic: widening the percentage keeps every tenant that already had the change.
 */
export function cohortPoint(rolloutId: string, tenantId: string): number {
  const digest = createHash('sha256').update(`${rolloutId}:${tenantId.toLowerCase()}`).digest();
  return (digest.readUInt32BE(0) / 0x1_0000_0000) * 100;
}

export function inCohort(rollout: { id: string; percentage: number }, tenantId: string): boolean {
  return cohortPoint(rollout.id, tenantId) < rollout.percentage;
}

export type RequestCounts = { requests: number; errors: number };

/**
 * Where the rollout monitor reads request outcomes: cumulative counts per tenant since the node
 * started. The app feeds it from an onResponse hook; tests may record outcomes or pass their own.
 */
export type RequestErrorSource = {
  snapshot(): ReadonlyMap<string, RequestCounts>;
};

export type RequestErrorTracker = RequestErrorSource & {
  /** One answered request of a tenant; 5xx counts as an error. */
  record(tenantId: string, status: number): void;
};

/** In-memory, per node, no I/O: two increments per request. Bounded by the number of active tenants. */
export function createRequestErrorTracker(): RequestErrorTracker {
  const counts = new Map<string, RequestCounts>();
  return {
    record(tenantId, status) {
      let entry = counts.get(tenantId);
      if (!entry) {
        entry = { requests: 0, errors: 0 };
        counts.set(tenantId, entry);
      }
      entry.requests += 1;
      if (status >= 500) entry.errors += 1;
    },
    snapshot() {
      return new Map([...counts].map(([tenantId, c]) => [tenantId, { ...c }]));
    },
  };
}

export type CohortStats = { requests: number; errors: number; rate: number };

/**
 * Error rates of the cohort and of the other tenants since `baseline` (the counts when this node
 * started watching the rollout at its current percentage).
 */
export function compareCohort(
  rollout: { id: string; percentage: number },
  now: ReadonlyMap<string, RequestCounts>,
  baseline: ReadonlyMap<string, RequestCounts>,
): { cohort: CohortStats; rest: CohortStats } {
  const cohort = { requests: 0, errors: 0 };
  const rest = { requests: 0, errors: 0 };
  for (const [tenantId, counts] of now) {
    const before = baseline.get(tenantId) ?? { requests: 0, errors: 0 };
    const side = inCohort(rollout, tenantId) ? cohort : rest;
    side.requests += counts.requests - before.requests;
    side.errors += counts.errors - before.errors;
  }
  const rate = (s: { requests: number; errors: number }) => (s.requests > 0 ? s.errors / s.requests : 0);
  return { cohort: { ...cohort, rate: rate(cohort) }, rest: { ...rest, rate: rate(rest) } };
}
