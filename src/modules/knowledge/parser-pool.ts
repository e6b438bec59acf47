import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DEFAULT_PARSE_LIMITS, type MediaType, type ParseLimits, type Parsed, ParseFailure } from './parsers/types.ts';

export type ParserOptions = {
  /** Longest a document may take to parse; past it the worker is terminated (the document fails parse_timeout). */
  timeoutMs: number;
  /** Old-generation heap of the worker; a document that needs more fails too_complex. */
  memoryMb: number;
  limits?: Partial<ParseLimits>;
};

export type Parser = {
  parse(bytes: Uint8Array, mediaType: MediaType): Promise<Parsed>;
  close(): Promise<void>;
};

/**
 * The worker runs TypeScript through tsx's loader, registered inside the worker (a worker does not
 * inherit the parent's loader hooks). Resolved from this file so it works from any working directory.
 */
function bootstrapSource(): string {
  // The ESM build of tsx's API (the CommonJS one registers a loader that cannot be found from a worker).
  const require = createRequire(import.meta.url);
  const tsx = pathToFileURL(require.resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL('./parse.worker.ts', import.meta.url).href;
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
}

type Pending = { resolve: (parsed: Parsed) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };

/**
 * One parser worker, reused from document to document and replaced when it dies: a hostile file
 * can exhaust the worker's heap or time, never the server's. Documents are parsed one at a time
 * (ingestion jobs run one at a time per node); a crash or timeout fails only the document at hand.
 */
export function createParser(options: ParserOptions): Parser {
  const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...options.limits };
  let worker: Worker | undefined;
  let ready: Promise<void> | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  let queue: Promise<unknown> = Promise.resolve();

  function failAll(error: Error) {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(id);
      p.reject(error);
    }
  }

  function spawn(): Promise<void> {
    const w = new Worker(bootstrapSource(), {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: options.memoryMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    worker = w;
    w.unref();
    const started = new Promise<void>((resolve, reject) => {
      w.on('message', (message: { ready?: boolean; id?: number; ok?: boolean; parsed?: Parsed; code?: string; reason?: string }) => {
        if (message.ready) return resolve();
        const p = pending.get(message.id as number);
        if (!p) return;
        clearTimeout(p.timer);
        pending.delete(message.id as number);
        if (message.ok) p.resolve(message.parsed as Parsed);
        else
          p.reject(
            new ParseFailure((message.code ?? 'corrupt_file') as ParseFailure['code'], message.reason ?? 'the file could not be read'),
          );
      });
      w.on('error', (error: Error & { code?: string }) => {
        reject(error);
        const oom = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
        failAll(
          new ParseFailure(
            'too_complex',
            oom ? 'reading the document needed more memory than a document may use' : 'the parser stopped on this document',
          ),
        );
      });
      w.on('exit', () => {
        if (worker === w) {
          worker = undefined;
          ready = undefined;
        }
        reject(new Error('the parser worker exited'));
        failAll(new ParseFailure('too_complex', 'the parser stopped on this document'));
      });
    });
    return started;
  }

  async function parseOne(bytes: Uint8Array, mediaType: MediaType): Promise<Parsed> {
    if (!worker || !ready) ready = spawn();
    await ready;
    const w = worker as Worker;
    const id = nextId++;
    return new Promise<Parsed>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new ParseFailure('parse_timeout', `reading the document took longer than ${options.timeoutMs} ms`));
        // The worker may be stuck in a loop: it is replaced, never reused.
        if (worker === w) {
          worker = undefined;
          ready = undefined;
        }
        void w.terminate();
      }, options.timeoutMs);
      pending.set(id, { resolve, reject, timer });
      w.postMessage({ id, bytes, mediaType, limits });
    });
  }

  return {
    parse(bytes, mediaType) {
      const run = queue.then(() => parseOne(bytes, mediaType));
      queue = run.catch(() => {});
      return run;
    },
    async close() {
      const w = worker;
      worker = undefined;
      ready = undefined;
      failAll(new Error('the parser is closed'));
      if (w) await w.terminate();
    },
  };
}
