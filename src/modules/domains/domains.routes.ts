import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams, NoContent, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';
import { tenantOf } from '../../platform/http/request-context.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import type { DomainRow } from './domains.repo.ts';
import { challengeOf, type DomainService } from './domains.service.ts';

const Domain = Type.Object({
  id: Type.String({ format: 'uuid' }),
  hostname: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('verified')]),
  verification: Type.Object(
    { type: Type.Literal('TXT'), name: Type.String(), value: Type.String() },
    { description: 'Publish this DNS record, then call verify' },
  ),
  verifiedAt: NullableTimestamp,
  lastCheckedAt: NullableTimestamp,
  lastCheckReason: Type.Union([Type.String(), Type.Null()], { description: 'Why the last check did not verify the domain' }),
  createdAt: Timestamp,
});

export function toDomainView(row: DomainRow) {
  return {
    id: row.id,
    hostname: row.hostname,
    status: row.status,
    verification: challengeOf(row),
    verifiedAt: row.verified_at?.toISOString() ?? null,
    lastCheckedAt: row.last_checked_at?.toISOString() ?? null,
    lastCheckReason: row.last_check_reason,
    createdAt: row.created_at.toISOString(),
  };
}

export const domainRoutes =
  (domains: DomainService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['domains'];
    const read = { auth: { kind: 'tenant' as const, permission: 'tenant.read' as const } };
    const write = { auth: { kind: 'tenant' as const, permission: 'domains.write' as const } };

    app.get(
      '/v1/domains',
      {
        config: read,
        schema: { tags, summary: 'List custom domains', querystring: Type.Object(PaginationQuery), response: { 200: Page(Domain) } },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await domains.list(tenantOf(request), { after: decodeCursor(request.query.cursor), limit });
        const page = toPage(rows, limit);
        return { data: page.data.map(toDomainView), nextCursor: page.nextCursor };
      },
    );

    app.post(
      '/v1/domains',
      {
        config: write,
        schema: {
          tags,
          summary: 'Add a custom domain; the answer names the DNS TXT record that proves it',
          body: Type.Object({ hostname: Type.String({ minLength: 1, maxLength: 253 }) }, { additionalProperties: false }),
          response: { 201: Domain },
        },
      },
      async (request, reply) => {
        const row = await domains.add(tenantOf(request), request.body);
        reply.code(201);
        return toDomainView(row);
      },
    );

    app.get(
      '/v1/domains/:id',
      { config: read, schema: { tags, summary: 'Get a custom domain', params: IdParams, response: { 200: Domain } } },
      async (request) => toDomainView(await domains.get(tenantOf(request), request.params.id)),
    );

    app.post(
      '/v1/domains/:id/verify',
      {
        config: write,
        schema: {
          tags,
          summary: 'Check the DNS TXT record now; verified, or pending with the reason in lastCheckReason',
          params: IdParams,
          response: { 200: Domain },
        },
      },
      async (request) => toDomainView(await domains.verify(tenantOf(request), request.params.id)),
    );

    app.delete(
      '/v1/domains/:id',
      {
        config: write,
        schema: { tags, summary: 'Remove a custom domain (its hostname is free again)', params: IdParams, response: { 204: NoContent } },
      },
      async (request, reply) => {
        await domains.remove(tenantOf(request), request.params.id);
        reply.code(204);
      },
    );
  };
