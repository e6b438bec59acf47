import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams, NoContent, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';
import { tenantPrincipal } from '../../platform/http/request-context.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import { type SessionService, toSessionView } from './sessions.service.ts';

export const Session = Type.Object({
  id: Type.String({ format: 'uuid' }),
  device: Type.String({ description: 'Browser and system read from the User-Agent, e.g. "Firefox on Linux"' }),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()], { description: 'Address the session was opened from' }),
  createdAt: Timestamp,
  lastSeenAt: Type.String({ format: 'date-time', description: 'Last login, refresh or re-authentication' }),
  authTime: NullableTimestamp,
  amr: Type.Array(Type.String(), { description: 'How the session authenticated (RFC 8176): pwd, otp, mfa, email, rc' }),
  current: Type.Boolean({ description: 'The session of the credential making this request' }),
});

const Revoked = Type.Object({ revoked: Type.Integer({ description: 'How many sessions were ended' }) });

export const sessionRoutes =
  (sessions: SessionService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['sessions'];
    app.get(
      '/v1/me/sessions',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags,
          summary: 'List your live sessions (device, address, last seen); users only',
          querystring: Type.Object(PaginationQuery),
          response: { 200: Page(Session) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const { rows, current } = await sessions.listOwn(tenantPrincipal(request), { after: decodeCursor(request.query.cursor), limit });
        const page = toPage(rows, limit);
        return { data: page.data.map((row) => toSessionView(row, current)), nextCursor: page.nextCursor };
      },
    );

    app.delete(
      '/v1/me/sessions/:id',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: { tags, summary: 'End one of your sessions (the current one too)', params: IdParams, response: { 204: NoContent } },
      },
      async (request, reply) => {
        await sessions.revokeOwn(tenantPrincipal(request), request.params.id);
        reply.code(204);
      },
    );

    app.post(
      '/v1/me/sessions/revoke-others',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: { tags, summary: 'Sign out everywhere else: end every session but the current one', response: { 200: Revoked } },
      },
      async (request) => ({ revoked: await sessions.revokeOthers(tenantPrincipal(request)) }),
    );

    app.get(
      '/v1/users/:id/sessions',
      {
        config: { auth: { kind: 'tenant', permission: 'users.read' } },
        schema: {
          tags,
          summary: "List a user's live sessions",
          params: IdParams,
          querystring: Type.Object(PaginationQuery),
          response: { 200: Page(Session) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const { rows, current } = await sessions.listOfUser(tenantPrincipal(request), request.params.id, {
          after: decodeCursor(request.query.cursor),
          limit,
        });
        const page = toPage(rows, limit);
        return { data: page.data.map((row) => toSessionView(row, current)), nextCursor: page.nextCursor };
      },
    );

    app.post(
      '/v1/users/:id/sessions/revoke',
      {
        config: { auth: { kind: 'tenant', permission: 'users.write' } },
        schema: {
          tags,
          summary: "End every session of a user (an owner's only by an owner); their access tokens stop working at once",
          params: IdParams,
          response: { 200: Revoked },
        },
      },
      async (request) => ({ revoked: await sessions.revokeAllOfUser(tenantPrincipal(request), request.params.id) }),
    );
  };
