import type { FastifyBaseLogger } from 'fastify';
import type { Database, Tx } from './db/database.ts';
import { uuidv7 } from './ids.ts';

export type Job = {
  id: string;
  kind: string;
  tenant_id: string | null;
  payload: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
};

export type JobHandler = (job: Job) => Promise<Record<string, unknown> | undefined>;

export type EnqueueOptions = {
  kind: string;
  tenantId?: string;
  payload?: Record<string, unknown>;
  runAt?: Date;
  priority?: number;
  maxAttempts?: number;
};

/** Enqueues in the caller's transaction, so a job exists exactly when the write that caused it commits. */
export async function enqueue(tx: Tx, options: EnqueueOptions): Promise<string> {
  const id = uuidv7();
  await tx.query(
    `INSERT INTO jobs (id, kind, tenant_id, payload, run_at, priority, max_attempts)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      id,
      options.kind,
      options.tenantId ?? null,
      JSON.stringify({ ...(options.payload ?? {}), version: 1 }),
      options.runAt ?? new Date(),
      options.priority ?? 100,
      options.maxAttempts ?? 5,
    ],
  );
  return id;
}

/** A job left `running` longer than this by a crashed worker is picked up again (default; PALAZZO_JOB_STALE_SECONDS). */
const STALE_LOCK_SECONDS = 300;

/**
 * A PostgreSQL-backed queue (FOR UPDATE SKIP LOCKED), so several nodes can work it and jobs survive
 * restarts. Handlers that touch tenant data re-enter withTenant with the job's tenant.
 */
export function createJobRunner(
  db: Database,
  log: FastifyBaseLogger,
  pollMs: number,
  /** The tenant's job priority (its tier's `jobPriority`; lower runs first), read in the caller's transaction. */
  priorityOf?: (tx: Tx, tenantId: string) => Promise<number>,
  options: { staleLockSeconds?: number } = {},
) {
  const staleLockSeconds = options.staleLockSeconds ?? STALE_LOCK_SECONDS;
  const handlers = new Map<string, JobHandler>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  async function claim(): Promise<Job | undefined> {
    return db.withControlPlane(async (tx) => {
      const { rows } = await tx.query<Job>(
        `UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_at = now(), updated_at = now()
         WHERE id = (
           SELECT id FROM jobs
           WHERE (status = 'queued' AND run_at <= now())
              OR (status = 'running' AND locked_at < now() - make_interval(secs => $1))
           ORDER BY priority, run_at
           FOR UPDATE SKIP LOCKED
           LIMIT 1)
         RETURNING id, kind, tenant_id, payload, attempts, max_attempts`,
        [staleLockSeconds],
      );
      return rows[0];
    });
  }

  async function finish(job: Job, error: unknown, result?: Record<string, unknown>) {
    await db.withControlPlane(async (tx) => {
      if (!error) {
        await tx.query(
          `UPDATE jobs SET status = 'done', result = $2, finished_at = now(), updated_at = now(), locked_at = NULL
           WHERE id = $1 AND status = 'running'`,
          [job.id, result ? JSON.stringify(result) : null],
        );
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      const dead = job.attempts >= job.max_attempts;
      // Exponential backoff: 2^attempts seconds, capped at an hour.
      await tx.query(
        `UPDATE jobs SET status = $2, last_error = $3, locked_at = NULL, updated_at = now(),
           run_at = now() + make_interval(secs => $4), finished_at = CASE WHEN $2 = 'failed' THEN now() END
         WHERE id = $1 AND status = 'running'`,
        [job.id, dead ? 'failed' : 'queued', message.slice(0, 2000), Math.min(2 ** job.attempts, 3600)],
      );
    });
  }

  /** Runs ready jobs until none is left. Returns how many ran. */
  async function drain(): Promise<number> {
    let count = 0;
    for (;;) {
      const job = await claim();
      if (!job) return count;
      count += 1;
      const handler = handlers.get(job.kind);
      try {
        if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
        const result = await handler(job);
        await finish(job, undefined, result);
      } catch (error) {
        log.error({ err: error, jobId: job.id, kind: job.kind, tenantId: job.tenant_id }, 'job failed');
        await finish(job, error);
      }
    }
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(() => {
      running = drain()
        .catch((error) => log.error({ err: error }, 'job poll failed'))
        .then(() => {
          running = undefined;
          schedule();
        });
    }, pollMs);
    timer.unref();
  }

  return {
    /** Enqueues a tenant's job at its tier's priority, in the caller's transaction. */
    async enqueueForTenant(tx: Tx, options: EnqueueOptions & { tenantId: string }): Promise<string> {
      const priority = options.priority ?? (priorityOf ? await priorityOf(tx, options.tenantId) : undefined);
      return enqueue(tx, { ...options, priority });
    },
    register(kind: string, handler: JobHandler) {
      handlers.set(kind, handler);
    },
    drain,
    /**
     * Start-up recovery for a node that is the only one working the queue (embedded PGlite: one
     * process owns the data directory): jobs left `running` by this node's previous life (kill -9)
     * are queued again at once instead of after the stale-lock delay. Never call it where other
     * nodes may be running jobs. Their attempts stay counted, so a job that kills its node keeps
     * counting towards max_attempts. Returns how many were requeued.
     */
    async requeueAbandoned(): Promise<number> {
      return db.withControlPlane(async (tx) => {
        const result = await tx.query(
          `UPDATE jobs SET status = 'queued', locked_at = NULL, run_at = now(), updated_at = now(),
             last_error = 'requeued at start-up: the process running it stopped'
           WHERE status = 'running'`,
        );
        return result.rowCount;
      });
    },
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

export type JobRunner = ReturnType<typeof createJobRunner>;
