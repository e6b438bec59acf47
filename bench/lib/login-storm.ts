import { percentileOfSorted, sorted } from './stats.ts';

export type StormWindow = { sent: number; ok: number; busy: number; other: number; errors: number; p50Ms: number; p95Ms: number };

/**
 * B9's login storm: `perSecond` password logins, evenly spaced (open loop: a slow answer does not
 * slow the storm), from start() until stop(); each window's outcome is kept in `windows`.
 */
export function loginStorm(url: string, body: { tenant: string; email: string; password: string }, perSecond: number) {
  const windows: StormWindow[] = [];
  let timer: NodeJS.Timeout | undefined;
  let inflight = new Set<Promise<void>>();
  let latencies: number[] = [];
  let counts = { sent: 0, ok: 0, busy: 0, other: 0, errors: 0 };
  const payload = JSON.stringify(body);

  function fire() {
    counts.sent += 1;
    const started = performance.now();
    const work = fetch(`${url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) {
          counts.ok += 1;
          latencies.push(performance.now() - started);
        } else if (res.status === 503) counts.busy += 1;
        else counts.other += 1;
      })
      .catch(() => {
        counts.errors += 1;
      })
      .finally(() => inflight.delete(work));
    inflight.add(work);
  }

  return {
    windows,
    start() {
      latencies = [];
      counts = { sent: 0, ok: 0, busy: 0, other: 0, errors: 0 };
      inflight = new Set();
      timer = setInterval(fire, 1000 / perSecond);
    },
    async stop() {
      clearInterval(timer);
      await Promise.all([...inflight]);
      const s = sorted(latencies);
      windows.push({ ...counts, p50Ms: percentileOfSorted(s, 50), p95Ms: percentileOfSorted(s, 95) });
    },
  };
}
