import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Database } from '../../platform/db/database.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import { tenantOf } from '../../platform/http/request-context.ts';
import { listSecurityEvents } from './security-events.repo.ts';

const SecurityEvent = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.String(),
  severity: Type.String(),
  actor: Type.Union([Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String({ format: 'date-time' }),
});

export const securityEventRoutes =
  (deps: { db: Database }): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/v1/security-events',
      {
        config: { auth: { kind: 'tenant', permission: 'security_events.read' } },
        schema: {
          tags: ['security'],
          summary: 'List security events, newest first',
          querystring: Type.Object({ ...PaginationQuery, type: Type.Optional(Type.String({ maxLength: 100 })) }),
          response: { 200: Page(SecurityEvent) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const after = decodeCursor(request.query.cursor);
        const rows = await deps.db.withTenant(tenantOf(request), (tx) =>
          listSecurityEvents(tx, { type: request.query.type, after, limit }),
        );
        const page = toPage(rows, limit);
        return {
          nextCursor: page.nextCursor,
          data: page.data.map((row) => ({
            id: row.id,
            type: row.type,
            severity: row.severity,
            actor: row.actor_type ? { type: row.actor_type, id: row.actor_id } : null,
            ip: row.ip,
            requestId: row.request_id,
            details: row.details,
            createdAt: row.created_at.toISOString(),
          })),
        };
      },
    );
  };
