/**
 * The statistics of experiment results, written out so that each step can be checked by hand:
 * the standard normal distribution, the Wilson score interval of a proportion and the pooled
 * two-proportion z-test.
 */

/** The two-sided 95% quantile of the standard normal distribution, Φ⁻¹(0.975). */
export const Z_95 = 1.959963984540054;

/**
 * The complementary error function, Abramowitz & Stegun formula 7.1.26 (absolute error below
 * 1.5e-7 for x ≥ 0). Computing erfc directly, rather than 1 − erf, keeps small p-values from
 * vanishing in the subtraction.
 */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return poly * Math.exp(-x * x);
}

/** Φ(z), the standard normal cumulative distribution function. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

export type Interval = { low: number; high: number };

/**
 * The Wilson score interval for `successes` out of `n` (better than the Wald interval p ± z·se for
 * small samples and rates near 0 or 1: it never leaves [0, 1]). Null without observations.
 */
export function wilsonInterval(successes: number, n: number, z = Z_95): Interval | null {
  if (n <= 0) return null;
  const p = successes / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denominator;
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export type ZTest = { z: number; pValue: number };

/**
 * The pooled two-proportion z-test of H0: p1 = p2, two-sided. z > 0 when the second proportion is
 * higher. Null when a group is empty or the pooled rate is 0 or 1 (no variance: nothing to test).
 */
export function twoProportionZTest(x1: number, n1: number, x2: number, n2: number): ZTest | null {
  if (n1 <= 0 || n2 <= 0) return null;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return null;
  const z = (x2 / n2 - x1 / n1) / se;
  return { z, pValue: Math.min(1, erfc(Math.abs(z) / Math.SQRT2)) };
}
