import { createHash } from 'node:crypto';

export type Variant = { key: string; weight: number };

/** Buckets per experiment; weights are whole percentages, so each percent is 100 buckets. */
export const BUCKETS = 10_000;

/**
 * The bucket of a subject in an experiment: the first 48 bits of SHA-256(experiment id, subject id)
 * scaled to [0, BUCKETS). Depends on nothing but the two ids, so every node, every call and every
 * restart gives the same answer, and a subject's buckets in two experiments are independent.
 */
export function bucketOf(experimentId: string, subjectId: string): number {
  const digest = createHash('sha256').update(experimentId).update('\u0000').update(subjectId).digest();
  return Math.floor((digest.readUIntBE(0, 6) / 2 ** 48) * BUCKETS);
}

/** The variant whose cumulative weight range holds the subject's bucket. Weights must sum to 100. */
export function assignVariant(experimentId: string, subjectId: string, variants: readonly Variant[]): string {
  const bucket = bucketOf(experimentId, subjectId);
  let upper = 0;
  for (const variant of variants) {
    upper += variant.weight * (BUCKETS / 100);
    if (bucket < upper) return variant.key;
  }
  throw new Error('variant weights do not sum to 100');
}
