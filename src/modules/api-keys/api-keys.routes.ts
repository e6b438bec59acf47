import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf } from '../access/index.ts';
import { IdParams, NoContent } from '../../platform/http/schemas.ts';
import { tenantOf, tenantPrincipal } from '../../platform/http/request-context.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import type { ApiKeyRow } from './api-keys.repo.ts';
import { ApiKey, ApiKeyWithSecret, CreateApiKeyBody, RotateApiKeyBody } from './api-keys.schemas.ts';
import { type ApiKeyService, DEFAULT_ROTATION_OVERLAP_SECONDS } from './api-keys.service.ts';

export function toApiKeyView(row: ApiKeyRow) {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    hint: row.hint,
    createdBy: { type: row.created_by_type, id: row.created_by_id },
    expiresAt: row.expires_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    usageCount: Number(row.usage_count),
    createdAt: row.created_at.toISOString(),
  };
}

export const apiKeyRoutes =
  (service: ApiKeyService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['api-keys'];
    app.get(
      '/v1/api-keys',
      {
        config: { auth: { kind: 'tenant', permission: 'api_keys.read' } },
        schema: {
          tags,
          summary: 'List API keys',
          querystring: Type.Object({ ...PaginationQuery, includeRevoked: Type.Optional(Type.Boolean({ default: false })) }),
          response: { 200: Page(ApiKey) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await service.list(tenantOf(request), {
          includeRevoked: request.query.includeRevoked ?? false,
          after: decodeCursor(request.query.cursor),
          limit,
        });
        const page = toPage(rows, limit);
        return { data: page.data.map(toApiKeyView), nextCursor: page.nextCursor };
      },
    );

    app.post(
      '/v1/api-keys',
      {
        config: { auth: { kind: 'tenant', permission: 'api_keys.write' } },
        schema: {
          tags,
          summary: 'Create an API key; the secret is in `key`, returned once',
          body: CreateApiKeyBody,
          response: { 201: ApiKeyWithSecret },
        },
      },
      async (request, reply) => {
        const { row, key } = await service.create(tenantPrincipal(request), actorOf(request.principal), request.body);
        reply.code(201);
        return { ...toApiKeyView(row), key };
      },
    );

    app.get(
      '/v1/api-keys/:id',
      {
        config: { auth: { kind: 'tenant', permission: 'api_keys.read' } },
        schema: { tags, summary: 'Get an API key', params: IdParams, response: { 200: ApiKey } },
      },
      async (request) => toApiKeyView(await service.get(tenantOf(request), request.params.id)),
    );

    app.delete(
      '/v1/api-keys/:id',
      {
        config: { auth: { kind: 'tenant', permission: 'api_keys.write' } },
        schema: { tags, summary: 'Revoke an API key (at once, on every node)', params: IdParams, response: { 204: NoContent } },
      },
      async (request, reply) => {
        await service.revoke(tenantOf(request), request.params.id);
        reply.code(204);
      },
    );

    app.post(
      '/v1/api-keys/:id/rotate',
      {
        config: { auth: { kind: 'tenant', permission: 'api_keys.write' } },
        schema: {
          tags,
          summary: 'Rotate an API key: a new secret, the old one valid for an overlap window',
          params: IdParams,
          body: Type.Optional(RotateApiKeyBody),
          response: { 200: Type.Object({ ...ApiKeyWithSecret.properties, previousKeyValidUntil: Type.String({ format: 'date-time' }) }) },
        },
      },
      async (request) => {
        const overlap = request.body?.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
        const { row, key, previousValidUntil } = await service.rotate(tenantPrincipal(request), request.params.id, overlap);
        return { ...toApiKeyView(row), key, previousKeyValidUntil: previousValidUntil.toISOString() };
      },
    );
  };
