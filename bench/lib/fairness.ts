import { type Comparison, comparisonOf, type LegRound, SETTINGS } from './compare.ts';
import type { SeededKey } from './datasets.ts';
import { runOpenLoop, type Stream, type StreamResult } from './openloop.ts';
import type { ServerHandle } from './servers.ts';
import { percentileOfSorted, sorted } from './stats.ts';

/** Fairness settings: F's requests-per-minute limit and flood multiple, the others' limit and rate. */
export const FAIRNESS = {
  floodLimitPerMinute: Number(process.env.BENCH_FAIRNESS_FLOOD_LIMIT ?? 600),
  floodMultiple: Number(process.env.BENCH_FAIRNESS_FLOOD_X ?? 10),
  otherLimitPerMinute: Number(process.env.BENCH_FAIRNESS_OTHER_LIMIT ?? 6000),
  otherRate: Number(process.env.BENCH_FAIRNESS_OTHER_RPS ?? 50),
};

export type FloodTally = { sent: number; ok: number; rateLimited: number; otherNon2xx: number; errors: number };
export type FairnessResult = {
  comparison: Comparison;
  /** F's responses over every measured flood window. */
  flood: FloodTally;
  /** The others' non-2xx responses and errors over every measured window of both legs. */
  othersNon2xx: number;
  othersErrors: number;
  /** The others' latency percentiles over every measured window of each leg (all rounds pooled), ms. */
  pooled: Record<'flood' | 'quiet', { p50: number; p95: number; p99: number }>;
  /** Per round and leg: each other tenant's 2xx count and p99, and F's tally. */
  detail: Array<{ round: number; leg: 'flood' | 'quiet'; others: Array<{ name: string; ok: number; p99: number }>; flood?: FloodTally }>;
};

const fmt = (n: number, digits = 0) => n.toFixed(digits);

function pooled(results: StreamResult[]): Float64Array {
  const all: number[] = [];
  for (const r of results) for (const v of r.latencies) all.push(v);
  return sorted(all);
}

/**
 * Issue 4 item 4: tenants O1..O3 send open-loop traffic within their limits while tenant F floods at
 * `floodMultiple` times its limit (leg A), versus the same others alone (leg B), interleaved A B A B.
 * Judged on the others' pooled p99 A/B; the others must get only 2xx, F must get 429s.
 */
export async function runFairness(
  server: ServerHandle,
  others: SeededKey[],
  flood: SeededKey,
  log: (line: string) => void,
): Promise<FairnessResult> {
  const streamOf = (name: string, key: SeededKey, rate: number): Stream => ({
    name,
    url: server.url,
    path: `/v1/api-keys/${key.apiKeyId}`,
    headers: { authorization: `Bearer ${key.key}` },
    rate,
  });
  const otherStreams = others.map((key, i) => streamOf(`O${i + 1}`, key, FAIRNESS.otherRate));
  const floodRate = (FAIRNESS.floodLimitPerMinute * FAIRNESS.floodMultiple) / 60;
  const floodStream = streamOf('F', flood, floodRate);

  const measured: Array<{ a: LegRound; b: LegRound }> = [];
  const warnings: string[] = [];
  const detail: FairnessResult['detail'] = [];
  const floodTotal: FloodTally = { sent: 0, ok: 0, rateLimited: 0, otherNon2xx: 0, errors: 0 };
  let othersNon2xx = 0;
  let othersErrors = 0;
  const all = { flood: [] as number[], quiet: [] as number[] };

  const leg = async (round: number, withFlood: boolean): Promise<LegRound> => {
    const streams = withFlood ? [...otherStreams, floodStream] : otherStreams;
    if (SETTINGS.warmupSeconds > 0) await runOpenLoop(streams, SETTINGS.warmupSeconds);
    const before = await server.cpu();
    const started = performance.now();
    const results = await runOpenLoop(streams, SETTINGS.seconds);
    const seconds = (performance.now() - started) / 1000;
    const after = await server.cpu();
    const otherResults = results.filter((r) => r.name !== 'F');
    const f = results.find((r) => r.name === 'F');
    const latencies = pooled(otherResults);
    for (const v of latencies) all[withFlood ? 'flood' : 'quiet'].push(v);
    const ok = otherResults.reduce((n, r) => n + r.ok, 0);
    const non2xx = otherResults.reduce((n, r) => n + r.non2xx, 0);
    const errors = otherResults.reduce((n, r) => n + r.errors, 0);
    othersNon2xx += non2xx;
    othersErrors += errors;
    let tally: FloodTally | undefined;
    if (f) {
      const rateLimited = f.byStatus['429'] ?? 0;
      tally = { sent: f.sent, ok: f.ok, rateLimited, otherNon2xx: f.non2xx - rateLimited, errors: f.errors };
      floodTotal.sent += tally.sent;
      floodTotal.ok += tally.ok;
      floodTotal.rateLimited += tally.rateLimited;
      floodTotal.otherNon2xx += tally.otherNon2xx;
      floodTotal.errors += tally.errors;
    }
    detail.push({
      round,
      leg: withFlood ? 'flood' : 'quiet',
      others: otherResults.map((r) => ({ name: r.name, ok: r.ok, p99: percentileOfSorted(r.latencies, 99) })),
      ...(tally ? { flood: tally } : {}),
    });
    // Server CPU per answered request of any tenant (F's refusals included).
    const responses = results.reduce((n, r) => n + r.ok + r.non2xx, 0);
    const user = after.user - before.user;
    const system = after.system - before.system;
    const per = (us: number) => (responses ? us / responses : Number.NaN);
    let sum = 0;
    for (const v of latencies) sum += v;
    const result: LegRound = {
      ok,
      non2xx,
      errors,
      timeouts: 0,
      seconds,
      rps: ok / seconds,
      latencyMs: {
        p50: percentileOfSorted(latencies, 50),
        p95: percentileOfSorted(latencies, 95),
        p99: percentileOfSorted(latencies, 99),
        mean: latencies.length ? sum / latencies.length : Number.NaN,
      },
      cpuUsPerReq: per(user + system),
      userUsPerReq: per(user),
      systemUsPerReq: per(system),
      dbUsPerReq: Number.NaN,
      totalUsPerReq: per(user + system),
    };
    if (non2xx || errors) warnings.push(`round ${round} ${withFlood ? 'flood' : 'quiet'}: others got ${non2xx} non-2xx, ${errors} errors`);
    log(
      `[fairness] round ${round}/${SETTINGS.rounds} ${(withFlood ? 'others + F flood' : 'others alone').padEnd(17)} others ${fmt(result.rps)} req/s ` +
        `p50 ${fmt(result.latencyMs.p50, 2)} p95 ${fmt(result.latencyMs.p95, 2)} p99 ${fmt(result.latencyMs.p99, 2)} ms, non-2xx ${non2xx}, errors ${errors}; ` +
        `server CPU ${fmt(((user + system) / 1e6 / seconds) * 100)}%` +
        (tally
          ? `; F sent ${tally.sent}: ${tally.ok} 2xx, ${tally.rateLimited} 429, ${tally.otherNon2xx} other, ${tally.errors} errors`
          : ''),
    );
    return result;
  };

  for (let round = 1; round <= SETTINGS.rounds; round += 1) {
    const a = await leg(round, true);
    const b = await leg(round, false);
    measured.push({ a, b });
  }
  const comparison = comparisonOf(
    'fairness',
    { a: `O1..O3 while F floods ${FAIRNESS.floodMultiple}×`, b: 'O1..O3 alone' },
    measured,
    warnings,
  );
  const percentiles = (values: number[]) => {
    const s = sorted(values);
    return { p50: percentileOfSorted(s, 50), p95: percentileOfSorted(s, 95), p99: percentileOfSorted(s, 99) };
  };
  const pooledAll = { flood: percentiles(all.flood), quiet: percentiles(all.quiet) };
  return { comparison, flood: floodTotal, othersNon2xx, othersErrors, pooled: pooledAll, detail };
}
