import http from 'node:http';
import { sorted } from './stats.ts';

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
