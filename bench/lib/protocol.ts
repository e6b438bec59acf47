/** Messages between the orchestrator and a benchmark server child (Node IPC). */

export type ServerKind = 'node-hello' | 'fastify-hello' | 'fastify-me-static' | 'palazzo' | 'plain-read-postgres' | 'plain-read-pglite';

export type ParentMessage = { type: 'cpu'; seq: number } | { type: 'stop' };

export type ServerMessage =
  | { type: 'ready'; port: number; pid: number }
  | { type: 'failed'; error: string }
  | { type: 'cpu'; seq: number; usage: NodeJS.CpuUsage };
