import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Database } from '../../platform/db/database.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import { tenantOf } from '../../platform/http/request-context.ts';
import { AppError } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
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
          description: 'Filters combine (AND); `from` is inclusive and `to` exclusive.',
          querystring: Type.Object({
            ...PaginationQuery,
            type: Type.Optional(Type.String({ maxLength: 100, description: 'e.g. login_failed, tenant_mismatch, account_locked' })),
            severity: Type.Optional(
              Type.Union([
                Type.Literal('info'),
                Type.Literal('low'),
                Type.Literal('medium'),
                Type.Literal('high'),
                Type.Literal('critical'),
              ]),
            ),
            actorType: Type.Optional(
              Type.Union([Type.Literal('user'), Type.Literal('api_key'), Type.Literal('operator'), Type.Literal('system')]),
            ),
            actorId: Type.Optional(Type.String({ maxLength: 100, description: 'A user or API key id' })),
            from: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or after this instant' })),
            to: Type.Optional(Type.String({ format: 'date-time', description: 'Events before this instant' })),
          }),
          response: { 200: Page(SecurityEvent) },
        },
      },
      async (request) => {
        const { query } = request;
        const limit = query.limit ?? 50;
        const after = decodeCursor(query.cursor);
        // An actor id that is not a UUID matches nothing (and never reaches the database as one).
        if (query.actorId !== undefined && !isUuid(query.actorId)) return { data: [], nextCursor: null };
        const from = query.from ? new Date(query.from) : undefined;
        const to = query.to ? new Date(query.to) : undefined;
        if (from && to && from.getTime() > to.getTime()) {
          throw new AppError('validation_failed', '`from` must not be after `to`', {
            errors: [{ path: 'querystring/from', message: 'after `to`' }],
          });
        }
        const rows = await deps.db.withTenant(tenantOf(request), (tx) =>
          listSecurityEvents(tx, {
            type: query.type,
            severity: query.severity,
            actorType: query.actorType,
            actorId: query.actorId,
            from,
            to,
            after,
            limit,
          }),
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
