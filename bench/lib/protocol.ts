/** Messages between the orchestrator and a benchmark server child (Node IPC). */

export type ServerKind = 'node-hello' | 'fastify-hello' | 'fastify-me-static' | 'palazzo' | 'plain-read-postgres' | 'plain-read-pglite';

/** `lag` reads the server's event-loop delay since the previous `lag` and starts a new window. */
export type ParentMessage = { type: 'cpu'; seq: number } | { type: 'lag'; seq: number } | { type: 'stop' };

export type ServerMessage =
  | { type: 'ready'; port: number; pid: number }
  | { type: 'failed'; error: string }
  | { type: 'cpu'; seq: number; usage: NodeJS.CpuUsage }
  | { type: 'lag'; seq: number; lag: LoopLag };

/** Event-loop delay of a window, in ms (perf_hooks.monitorEventLoopDelay, 10 ms resolution). */
export type LoopLag = { p50Ms: number; p99Ms: number; maxMs: number };
