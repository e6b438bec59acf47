import { cpuDelta, type DbCpuProbe } from './dbcpu.ts';
import { type LoadResult, runLoad, type Target } from './load.ts';
import type { LoopLag } from './protocol.ts';
import type { ServerHandle } from './servers.ts';
import { type Spread, spread } from './stats.ts';

export const SETTINGS = {
  rounds: Number(process.env.BENCH_ROUNDS ?? 5),
  warmupSeconds: Number(process.env.BENCH_WARMUP ?? 2),
  seconds: Number(process.env.BENCH_SECONDS ?? 6),
};

/** One side of a comparison; `db` samples the CPU of the PostgreSQL backends serving it, when local. */
export type Leg = {
  label: string;
  server: ServerHandle;
  target: Target;
  db?: DbCpuProbe;
  /** Other work run against the server during this leg's warm-up and window (B9's login storm). */
  during?: { start(): void; stop(): Promise<void> };
};
export type LegRound = LoadResult & {
  /** Server CPU (user + system) per 2xx response, and its two parts. */
  cpuUsPerReq: number;
  userUsPerReq: number;
  systemUsPerReq: number;
  /** CPU of the PostgreSQL backends serving this leg per 2xx response (NaN when not measured). */
  dbUsPerReq: number;
  /** Server + database CPU per 2xx response (the server alone when the database is not measured). */
  totalUsPerReq: number;
  /** The server's event-loop delay during the window (absent where rounds are measured elsewhere). */
  loopLag?: LoopLag;
};
const RATIO_KEYS = ['cpu', 'dbCpu', 'totalCpu', 'rps', 'p50', 'p95', 'p99'] as const;
export type RatioKey = (typeof RATIO_KEYS)[number];
export type RoundRatios = Record<RatioKey, number>;
export type Ratios = Record<RatioKey, Spread>;
export type LegSummary = {
  label: string;
  rps: Spread;
  cpuUsPerReq: Spread;
  dbUsPerReq: Spread;
  totalUsPerReq: Spread;
  p50: Spread;
  p95: Spread;
  p99: Spread;
};

export type Comparison = {
  name: string;
  a: LegSummary;
  b: LegSummary;
  /** Per-round ratios: the CPU ones (server, database, both) are B/A of µs per request (higher is better for A); the others are A/B. */
  ratios: Ratios;
  rounds: Array<{ a: LegRound; b: LegRound; ratios: RoundRatios }>;
  warnings: string[];
};

const fmt = (n: number, digits = 0) => n.toFixed(digits);

async function measure(leg: Leg, log: (line: string) => void, name: string, round: number): Promise<LegRound> {
  leg.during?.start();
  let load: LoadResult;
  let before: NodeJS.CpuUsage;
  let after: NodeJS.CpuUsage;
  let dbBefore: Awaited<ReturnType<DbCpuProbe['sample']>> | undefined;
  let dbAfter: typeof dbBefore;
  let loopLag: LoopLag;
  try {
    if (SETTINGS.warmupSeconds > 0) await runLoad(leg.target, SETTINGS.warmupSeconds);
    [before, dbBefore] = await Promise.all([leg.server.cpu(), leg.db?.sample(), leg.server.lag()]);
    load = await runLoad(leg.target, SETTINGS.seconds);
    [after, dbAfter, loopLag] = await Promise.all([leg.server.cpu(), leg.db?.sample(), leg.server.lag()]);
  } finally {
    await leg.during?.stop();
  }
  const per = (us: number) => (load.ok ? us / load.ok : Number.NaN);
  const user = after.user - before.user;
  const system = after.system - before.system;
  const db = dbBefore && dbAfter ? per(cpuDelta(dbBefore, dbAfter)) : Number.NaN;
  const server = per(user + system);
  const result = {
    ...load,
    cpuUsPerReq: server,
    userUsPerReq: per(user),
    systemUsPerReq: per(system),
    dbUsPerReq: db,
    totalUsPerReq: Number.isNaN(db) ? server : server + db,
    loopLag,
  };
  log(
    `[${name}] round ${round}/${SETTINGS.rounds} ${leg.label.padEnd(34)} ${fmt(result.rps).padStart(6)} req/s  ` +
      `${fmt(result.cpuUsPerReq, 1).padStart(7)} µs/req (usr ${fmt(result.userUsPerReq, 0)} sys ${fmt(result.systemUsPerReq, 0)}` +
      `${Number.isNaN(result.dbUsPerReq) ? '' : `, db ${fmt(result.dbUsPerReq, 0)}`})  p50 ${fmt(result.latencyMs.p50, 2)} p95 ${fmt(result.latencyMs.p95, 2)} ` +
      `p99 ${fmt(result.latencyMs.p99, 2)} ms  loop lag p99 ${fmt(loopLag.p99Ms, 1)} ms${result.non2xx || result.errors ? `  non2xx ${result.non2xx} errors ${result.errors}` : ''}`,
  );
  return result;
}

function summarize(label: string, rounds: LegRound[]): LegSummary {
  return {
    label,
    rps: spread(rounds.map((r) => r.rps)),
    cpuUsPerReq: spread(rounds.map((r) => r.cpuUsPerReq)),
    dbUsPerReq: spread(rounds.map((r) => r.dbUsPerReq)),
    totalUsPerReq: spread(rounds.map((r) => r.totalUsPerReq)),
    p50: spread(rounds.map((r) => r.latencyMs.p50)),
    p95: spread(rounds.map((r) => r.latencyMs.p95)),
    p99: spread(rounds.map((r) => r.latencyMs.p99)),
  };
}

/** Per-round ratios of two legs: CPU ones B/A (higher is better for A), the others A/B. */
export function roundRatios(ra: LegRound, rb: LegRound): RoundRatios {
  return {
    cpu: rb.cpuUsPerReq / ra.cpuUsPerReq,
    dbCpu: rb.dbUsPerReq / ra.dbUsPerReq,
    totalCpu: rb.totalUsPerReq / ra.totalUsPerReq,
    rps: ra.rps / rb.rps,
    p50: ra.latencyMs.p50 / rb.latencyMs.p50,
    p95: ra.latencyMs.p95 / rb.latencyMs.p95,
    p99: ra.latencyMs.p99 / rb.latencyMs.p99,
  };
}

/** A comparison from rounds measured elsewhere (e.g. the open-loop fairness benchmark). */
export function comparisonOf(
  name: string,
  labels: { a: string; b: string },
  measured: Array<{ a: LegRound; b: LegRound }>,
  warnings: string[],
): Comparison {
  const rounds = measured.map(({ a, b }) => ({ a, b, ratios: roundRatios(a, b) }));
  const ratios = Object.fromEntries(RATIO_KEYS.map((key) => [key, spread(rounds.map((r) => r.ratios[key]))])) as Ratios;
  return {
    name,
    a: summarize(
      labels.a,
      rounds.map((r) => r.a),
    ),
    b: summarize(
      labels.b,
      rounds.map((r) => r.b),
    ),
    ratios,
    rounds,
    warnings,
  };
}

/** Runs A and B interleaved (A B A B …), each round a warm-up then a measured window, and returns per-round ratios. */
export async function compare(name: string, a: Leg, b: Leg, log: (line: string) => void): Promise<Comparison> {
  const measured: Array<{ a: LegRound; b: LegRound }> = [];
  const warnings: string[] = [];
  for (let round = 1; round <= SETTINGS.rounds; round += 1) {
    const ra = await measure(a, log, name, round);
    const rb = await measure(b, log, name, round);
    for (const [leg, r] of [
      [a, ra],
      [b, rb],
    ] as const) {
      if (r.non2xx || r.errors || r.timeouts || r.ok === 0) {
        warnings.push(`round ${round} ${leg.label}: ${r.ok} ok, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
      }
    }
    measured.push({ a: ra, b: rb });
  }
  return comparisonOf(name, { a: a.label, b: b.label }, measured, warnings);
}
