import autocannon, { type Request } from 'autocannon';
import { percentileOfSorted, sorted } from './stats.ts';

/** What to send: one fixed request, or a generator called for every request (many keys or tenants). */
export type Target = {
  url: string;
  path: string;
  headers?: Record<string, string>;
  next?: () => { path: string; headers: Record<string, string> };
};

export type LoadResult = {
  /** 2xx responses in the window. */
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
  rps: number;
  latencyMs: { p50: number; p95: number; p99: number; mean: number };
};

export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);

function requestsOf(target: Target): Request[] {
  const { next } = target;
  if (!next) return [{ method: 'GET', path: target.path, headers: target.headers ?? {} }];
  return [
    {
      method: 'GET',
      setupRequest: (request) => {
        const { path, headers } = next();
        return { ...request, path, headers };
      },
    },
  ];
}

/** Closed-loop load with autocannon (`-c 20 -p 1`) for `seconds`; latencies of 2xx responses are kept exactly. */
export async function runLoad(target: Target, seconds: number): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let non2xx = 0;
  const started = process.hrtime.bigint();
  const instance = autocannon({
    url: target.url,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
    requests: requestsOf(target),
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode < 200 || statusCode > 299) {
      non2xx += 1;
      return;
    }
    if (count === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2);
      bigger.set(latencies);
      latencies = bigger;
    }
    latencies[count] = responseTime;
    count += 1;
  });
  const result = await instance;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const s = sorted(latencies.subarray(0, count));
  let sum = 0;
  for (const value of s) sum += value;
  return {
    ok: count,
    non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: elapsed,
    rps: count / elapsed,
    latencyMs: {
      p50: percentileOfSorted(s, 50),
      p95: percentileOfSorted(s, 95),
      p99: percentileOfSorted(s, 99),
      mean: count ? sum / count : Number.NaN,
    },
  };
}
