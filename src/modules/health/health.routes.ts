import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Database } from '../../platform/db/database.ts';
import { pendingMigrations } from '../../platform/db/migrate.ts';

export const healthRoutes =
  (deps: {
    db: Database;
    degraded: () => { rateLimiter: { store: string; degraded: boolean; degradedSince: string | null } };
  }): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/healthz',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags: ['health'],
          summary: 'Liveness: the process answers',
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    const Ready = Type.Object({
      status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
      database: Type.String(),
      migrations: Type.String(),
      pending: Type.Array(Type.String()),
      rateLimiter: Type.Object({
        store: Type.String(),
        degraded: Type.Boolean({ description: 'true: Redis unreachable, limits enforced per node from memory' }),
        degradedSince: Type.Union([Type.String(), Type.Null()]),
      }),
    });
    app.get(
      '/readyz',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags: ['health'],
          summary: 'Readiness: the database answers and every migration is applied',
          response: { 200: Ready, 503: Ready },
        },
      },
      async (_request, reply) => {
        try {
          const pending = await pendingMigrations(deps.db);
          const ready = pending.length === 0;
          reply.code(ready ? 200 : 503);
          return {
            status: ready ? ('ready' as const) : ('not_ready' as const),
            database: 'ok',
            migrations: ready ? 'current' : 'pending',
            pending,
            ...deps.degraded(),
          };
        } catch {
          reply.code(503);
          return { status: 'not_ready' as const, database: 'unreachable', migrations: 'unknown', pending: [], ...deps.degraded() };
        }
      },
    );
  };
