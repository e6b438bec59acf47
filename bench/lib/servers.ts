import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoopLag, ParentMessage, ServerKind, ServerMessage } from './protocol.ts';

const SERVER_ENTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../server.ts');
export const SERVER_CPU = '0';
export const LOAD_CPU = '1';

export type ServerHandle = {
  kind: ServerKind;
  label: string;
  pid: number;
  url: string;
  /** User and system CPU of the server process so far, in µs (all its threads). */
  cpu(): Promise<NodeJS.CpuUsage>;
  /** The server's event-loop delay since the previous call (the first call: since it started). */
  lag(): Promise<LoopLag>;
  stop(): Promise<void>;
};

const running = new Set<ChildProcess>();

/** Kills any server still running (called on exit and on signals). */
export function killAllServers() {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  running.clear();
}

/**
 * Starts a benchmark server in a child process pinned to CPU 0 (`taskset -c 0`); taskset execs node,
 * so the IPC channel and the pid are the server's own.
 */
export function startServer(kind: ServerKind, label: string, env: Record<string, string | undefined> = {}): Promise<ServerHandle> {
  const child = spawn('taskset', ['-c', SERVER_CPU, process.execPath, '--import', 'tsx', SERVER_ENTRY], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env, BENCH_SERVER: kind, NODE_ENV: 'production' },
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let seq = 0;
  const waiting = new Map<number, (answer: NodeJS.CpuUsage | LoopLag) => void>();
  const ask = <T extends NodeJS.CpuUsage | LoopLag>(type: 'cpu' | 'lag'): Promise<T> => {
    seq += 1;
    const id = seq;
    return new Promise((done, fail) => {
      const guard = setTimeout(() => fail(new Error(`${label}: no ${type} reading`)), 10_000);
      waiting.set(id, (answer) => {
        clearTimeout(guard);
        done(answer as T);
      });
      child.send({ type, seq: id } satisfies ParentMessage);
    });
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label}: server did not start within 120 s`));
    }, 120_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${label}: server exited early (code ${code}, signal ${signal})`));
    });
    child.on('message', (message: ServerMessage) => {
      if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${label}: server failed to start\n${message.error}`));
      } else if (message.type === 'cpu' || message.type === 'lag') {
        waiting.get(message.seq)?.(message.type === 'cpu' ? message.usage : message.lag);
        waiting.delete(message.seq);
      } else if (message.type === 'ready') {
        clearTimeout(timer);
        resolve({
          kind,
          label,
          pid: message.pid,
          url: `http://127.0.0.1:${message.port}`,
          cpu: () => ask<NodeJS.CpuUsage>('cpu'),
          lag: () => ask<LoopLag>('lag'),
          stop() {
            return new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              const force = setTimeout(() => child.kill('SIGKILL'), 5000);
              child.once('exit', () => {
                clearTimeout(force);
                done();
              });
              child.send({ type: 'stop' } satisfies ParentMessage);
            });
          },
        });
      }
    });
  });
}
