import http from 'node:http';
import { percentileOfSorted, type Spread, sorted, spread } from './stats.ts';

/** One client sending `rate` requests per second at evenly spaced times, whatever the answers take. */
export type Stream = { name: string; url: string; path: string; headers: Record<string, string>; rate: number };

export type StreamResult = {
  name: string;
  sent: number;
  /** Responses by status code. */
  byStatus: Record<string, number>;
  /** 2xx responses, non-2xx responses, and requests that failed or timed out. */
  ok: number;
  non2xx: number;
  errors: number;
  /** Latencies of the 2xx responses in ms (request dispatched → body read), sorted. */
  latencies: Float64Array;
};

const TIMEOUT_MS = 10_000;
const MAX_SOCKETS = 64;

/**
 * Open-loop load: every stream has its own keep-alive agent (its own connections, up to 64) and
 * dispatches its requests on a fixed schedule (k / rate seconds after the start, with a random phase
 * per stream), so a slow server does not slow the senders down. Requests stop being scheduled after
 * `seconds`; the call returns when every request has been answered or has timed out (10 s).
 */
export async function runOpenLoop(streams: Stream[], seconds: number): Promise<StreamResult[]> {
  const states = streams.map((stream) => {
    const url = new URL(stream.url);
    return {
      stream,
      host: url.hostname,
      port: Number(url.port),
      agent: new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      phaseMs: Math.random() * (1000 / stream.rate),
      due: 0,
      latencies: [] as number[],
      result: { name: stream.name, sent: 0, byStatus: {} as Record<string, number>, ok: 0, non2xx: 0, errors: 0 },
    };
  });
  const pending = new Set<Promise<void>>();

  const send = (state: (typeof states)[number]) => {
    const started = performance.now();
    state.result.sent += 1;
    const done = new Promise<void>((resolve) => {
      let finished = false;
      const finish = (status: number | undefined) => {
        if (finished) return;
        finished = true;
        if (status === undefined) state.result.errors += 1;
        else {
          state.result.byStatus[status] = (state.result.byStatus[status] ?? 0) + 1;
          if (status >= 200 && status <= 299) {
            state.result.ok += 1;
            state.latencies.push(performance.now() - started);
          } else state.result.non2xx += 1;
        }
        resolve();
      };
      const req = http.request(
        { host: state.host, port: state.port, path: state.stream.path, method: 'GET', headers: state.stream.headers, agent: state.agent },
        (res) => {
          res.resume();
          res.on('end', () => finish(res.statusCode ?? 0));
          res.on('error', () => finish(undefined));
        },
      );
      req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error('timeout')));
      req.on('error', () => finish(undefined));
      req.end();
    });
    pending.add(done);
    void done.then(() => pending.delete(done));
  };

  const start = performance.now();
  const endMs = seconds * 1000;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = Math.min(performance.now() - start, endMs);
      for (const state of states) {
        // Requests due by now: those scheduled at phase + k / rate, for k = 0, 1, …
        const due = elapsed < state.phaseMs ? 0 : Math.floor(((elapsed - state.phaseMs) * state.stream.rate) / 1000) + 1;
        while (state.due < due) {
          state.due += 1;
          send(state);
        }
      }
      if (elapsed >= endMs) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  while (pending.size > 0) await Promise.all([...pending]);
  for (const state of states) state.agent.destroy();
  return states.map((state) => ({ ...state.result, latencies: sorted(state.latencies) }));
}

export type LatencyLeg = { label: string; url: string; path: string; headers: Record<string, string> };
type Percentiles = { p50: number; p95: number; p99: number };
type LatencyLegRound = Percentiles & { ok: number; non2xx: number; errors: number };
export type LatencyComparison = {
  rate: number;
  a: { label: string; p50: Spread; p95: Spread; p99: Spread; pooled: Percentiles };
  b: { label: string; p50: Spread; p95: Spread; p99: Spread; pooled: Percentiles };
  /** Per round: A p99 − B p99 in ms, and A p99 / B p99. */
  addedP99Ms: Spread;
  p99Ratio: Spread;
  rounds: Array<{ a: LatencyLegRound; b: LatencyLegRound }>;
  warnings: string[];
};

function percentiles(values: Float64Array): Percentiles {
  return { p50: percentileOfSorted(values, 50), p95: percentileOfSorted(values, 95), p99: percentileOfSorted(values, 99) };
}

/**
 * Latency at a fixed, unsaturated rate: A and B interleaved (A B, B A, …) for `rounds`, each leg a warm-up then a
 * measured window of open-loop load at `rate` requests per second. Closed-loop saturation latencies
 * are mostly queueing (20 connections / req/s), so an added p99 is judged here instead.
 */
export async function compareLatency(
  name: string,
  a: LatencyLeg,
  b: LatencyLeg,
  rate: number,
  settings: { rounds: number; warmupSeconds: number; seconds: number },
  log: (line: string) => void,
): Promise<LatencyComparison> {
  const rounds: LatencyComparison['rounds'] = [];
  const warnings: string[] = [];
  const all = { a: [] as number[], b: [] as number[] };
  const leg = async (which: 'a' | 'b', round: number): Promise<LatencyLegRound> => {
    const l = which === 'a' ? a : b;
    const stream: Stream = { name: l.label, url: l.url, path: l.path, headers: l.headers, rate };
    if (settings.warmupSeconds > 0) await runOpenLoop([stream], settings.warmupSeconds);
    const [r] = (await runOpenLoop([stream], settings.seconds)) as [StreamResult];
    for (const v of r.latencies) all[which].push(v);
    const out = { ...percentiles(r.latencies), ok: r.ok, non2xx: r.non2xx, errors: r.errors };
    if (r.non2xx || r.errors) warnings.push(`latency round ${round} ${l.label}: ${r.ok} ok, ${r.non2xx} non-2xx, ${r.errors} errors`);
    log(
      `[${name}] latency round ${round}/${settings.rounds} ${l.label.padEnd(34)} ${rate} req/s open loop  ` +
        `p50 ${out.p50.toFixed(2)} p95 ${out.p95.toFixed(2)} p99 ${out.p99.toFixed(2)} ms`,
    );
    return out;
  };
  for (let round = 1; round <= settings.rounds; round += 1) {
    // A B, then B A: a leg's position in the round (what ran just before it) does not favour one side.
    if (round % 2 === 1) {
      const ra = await leg('a', round);
      rounds.push({ a: ra, b: await leg('b', round) });
    } else {
      const rb = await leg('b', round);
      rounds.push({ a: await leg('a', round), b: rb });
    }
  }
  const side = (label: string, which: 'a' | 'b') => ({
    label,
    p50: spread(rounds.map((r) => r[which].p50)),
    p95: spread(rounds.map((r) => r[which].p95)),
    p99: spread(rounds.map((r) => r[which].p99)),
    pooled: percentiles(sorted(all[which])),
  });
  return {
    rate,
    a: side(a.label, 'a'),
    b: side(b.label, 'b'),
    addedP99Ms: spread(rounds.map((r) => r.a.p99 - r.b.p99)),
    p99Ratio: spread(rounds.map((r) => r.a.p99 / r.b.p99)),
    rounds,
    warnings,
  };
}
