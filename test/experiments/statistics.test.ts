import { describe, expect, it } from 'vitest';
import { assignVariant, bucketOf, erfc, normalCdf, twoProportionZTest, wilsonInterval, Z_95 } from '../../src/modules/experiments/index.ts';

describe('normal distribution (Abramowitz & Stegun 7.1.26)', () => {
  it('matches table values of Φ within the approximation error', () => {
    // Standard normal table values.
    const table: Array<[number, number]> = [
      [0, 0.5],
      [1, 0.841344746],
      [-1, 0.158655254],
      [1.96, 0.975002105],
      [2.5758293035489, 0.995],
      [-3, 0.001349898],
    ];
    for (const [z, phi] of table) expect(Math.abs(normalCdf(z) - phi), `Φ(${z})`).toBeLessThan(2e-7);
    expect(erfc(0)).toBeCloseTo(1, 6);
    expect(Math.abs(normalCdf(Z_95) - 0.975)).toBeLessThan(2e-7);
  });
});

describe('hand-computed case: control 200/1000, treatment 250/1000', () => {
  /*
   * Wilson, z = 1.96 (z² = 3.8415), n = 1000:
   *   control p = 0.2:  centre = (0.2 + 3.8415/2000) / (1 + 3.8415/1000) = 0.201921 / 1.0038415 = 0.201148
   *                     half   = 1.96 · √(0.2·0.8/1000 + 3.8415/4e6) / 1.0038415 = 1.96 · √0.00016096 / 1.0038415 = 0.024771
   *                     → [0.17638, 0.22592]
   *   treatment p = 0.25: centre = 0.251921 / 1.0038415 = 0.250957; half = 1.96 · √0.00018846 / 1.0038415 = 0.026803
   *                     → [0.22415, 0.27776]
   * Pooled z-test: p̂ = 450/2000 = 0.225; se = √(0.225 · 0.775 · (1/1000 + 1/1000)) = √0.00034875 = 0.0186748
   *                z = (0.25 − 0.2) / 0.0186748 = 2.67740; p = 2 · (1 − Φ(2.6774)) = 2 · 0.0037098 = 0.0074196
   */
  it('gives the Wilson intervals', () => {
    const control = wilsonInterval(200, 1000);
    const treatment = wilsonInterval(250, 1000);
    expect(control?.low).toBeCloseTo(0.17638, 5);
    expect(control?.high).toBeCloseTo(0.22592, 5);
    expect(treatment?.low).toBeCloseTo(0.22415, 5);
    expect(treatment?.high).toBeCloseTo(0.27776, 5);
  });

  it('gives the z statistic and the two-sided p-value', () => {
    const test = twoProportionZTest(200, 1000, 250, 1000);
    expect(test?.z).toBeCloseTo(2.6774, 4);
    expect(test?.pValue).toBeCloseTo(0.0074196, 6);
    // Symmetric: swapping the groups flips z, not p.
    const swapped = twoProportionZTest(250, 1000, 200, 1000);
    expect(swapped?.z).toBeCloseTo(-2.6774, 4);
    expect(swapped?.pValue).toBeCloseTo(test?.pValue as number, 12);
  });

  it('handles the edges: no observations, no variance, rates at 0 and 1', () => {
    expect(wilsonInterval(0, 0)).toBeNull();
    expect(twoProportionZTest(0, 0, 5, 10)).toBeNull();
    expect(twoProportionZTest(0, 10, 0, 10)).toBeNull();
    expect(twoProportionZTest(10, 10, 10, 10)).toBeNull();
    const zero = wilsonInterval(0, 10);
    expect(zero?.low).toBe(0);
    expect(zero?.high).toBeCloseTo(0.27753, 5);
    const all = wilsonInterval(10, 10);
    expect(all?.high).toBeCloseTo(1, 12);
    expect(twoProportionZTest(4, 10, 7, 10)?.pValue).toBeCloseTo(0.17753, 5);
  });
});

describe('deterministic assignment', () => {
  const variants = [
    { key: 'control', weight: 50 },
    { key: 'b', weight: 30 },
    { key: 'c', weight: 20 },
  ];
  const experiment = '01890000-0000-7000-8000-00000000abcd';

  it('is a pure function of experiment and subject', () => {
    for (let i = 0; i < 100; i += 1) {
      expect(assignVariant(experiment, `user-${i}`, variants)).toBe(assignVariant(experiment, `user-${i}`, variants));
    }
    // A known bucket pins the hash: any change of the function (which would move every subject) fails here.
    expect(bucketOf(experiment, 'user-1')).toBe(bucketOf(experiment, 'user-1'));
    // SHA-256("a\0b") starts 59b271ae1bbc: 0x59b271ae1bbc / 2^48 · 10,000 = 3503.0… (checked with Python's hashlib).
    expect(bucketOf('a', 'b')).toBe(3503);
  });

  it('allocates close to the weights over 20,000 subjects', () => {
    const counts: Record<string, number> = { control: 0, b: 0, c: 0 };
    const n = 20_000;
    for (let i = 0; i < n; i += 1) {
      const variant = assignVariant(experiment, `subject-${i}`, variants);
      counts[variant] = (counts[variant] ?? 0) + 1;
    }
    // Binomial sd at n = 20,000 is under 0.36 points; 1.5 points is more than 4 sd.
    expect(Math.abs((counts.control as number) / n - 0.5)).toBeLessThan(0.015);
    expect(Math.abs((counts.b as number) / n - 0.3)).toBeLessThan(0.015);
    expect(Math.abs((counts.c as number) / n - 0.2)).toBeLessThan(0.015);
  });

  it('gives a zero-weight variant nobody and is independent across experiments', () => {
    const paused = [
      { key: 'a', weight: 100 },
      { key: 'b', weight: 0 },
    ];
    for (let i = 0; i < 500; i += 1) expect(assignVariant(experiment, `s${i}`, paused)).toBe('a');
    const half = [
      { key: 'x', weight: 50 },
      { key: 'y', weight: 50 },
    ];
    let same = 0;
    for (let i = 0; i < 4000; i += 1) if (assignVariant('exp-1', `s${i}`, half) === assignVariant('exp-2', `s${i}`, half)) same += 1;
    expect(same / 4000).toBeGreaterThan(0.45);
    expect(same / 4000).toBeLessThan(0.55);
  });
});
