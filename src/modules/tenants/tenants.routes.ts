import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError, assertThat } from '../../platform/errors.ts';
import { IdParams } from '../../platform/http/schemas.ts';
import { tenantOf } from '../../platform/http/request-context.ts';
import { decodeCursor, Page, PaginationQuery } from '../../platform/pagination.ts';
import {
  CreateTenantBody,
  OffboardBody,
  PurgeResult,
  SuspendBody,
  Tenant,
  TenantStatus,
  Tier,
  UpdateTenantBody,
  UpdateTierBody,
} from './tenants.schemas.ts';
import type { TenantService } from './tenants.service.ts';
import type { TierRow } from './tenants.repo.ts';

const toTierView = (row: TierRow) => ({
  name: row.name,
  description: row.description,
  limits: row.limits,
  updatedAt: row.updated_at.toISOString(),
});

export const operatorTenantRoutes =
  (service: TenantService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['operator'];
    const auth = { kind: 'operator' } as const;

    app.get(
      '/v1/operator/tenants',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'List tenants',
          querystring: Type.Object({
            ...PaginationQuery,
            status: Type.Optional(TenantStatus),
            tier: Type.Optional(Type.String({ maxLength: 40 })),
          }),
          response: { 200: Page(Tenant) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await service.list({
          status: request.query.status,
          tier: request.query.tier,
          after: decodeCursor(request.query.cursor),
          limit,
        });
        const data = rows.slice(0, limit);
        const last = data.at(-1);
        return { data, nextCursor: rows.length > limit && last ? Buffer.from(last.id).toString('base64url') : null };
      },
    );

    app.post(
      '/v1/operator/tenants',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'Create a tenant: provisions default roles, configuration and its owner, then activates it',
          body: CreateTenantBody,
          response: { 201: Tenant },
        },
      },
      async (request, reply) => {
        const body = request.body;
        assertThat(
          body.customLimits === undefined || body.tier === 'custom',
          new AppError('validation_failed', 'customLimits apply only to the custom tier', {
            errors: [{ path: 'body/customLimits', message: 'only with tier "custom"' }],
          }),
        );
        const tenant = await service.create({ ...body, tier: body.tier ?? 'basic' });
        reply.code(201);
        return tenant;
      },
    );

    app.get(
      '/v1/operator/tenants/:id',
      { config: { auth }, schema: { tags, summary: 'Get a tenant', params: IdParams, response: { 200: Tenant } } },
      async (request) => service.get(request.params.id),
    );

    app.patch(
      '/v1/operator/tenants/:id',
      {
        config: { auth },
        schema: { tags, summary: 'Update a tenant', params: IdParams, body: UpdateTenantBody, response: { 200: Tenant } },
      },
      async (request) => {
        if (request.body.customLimits !== undefined) {
          const current = await service.get(request.params.id);
          const tier = request.body.tier ?? current.tier;
          assertThat(
            tier === 'custom',
            new AppError('validation_failed', 'customLimits apply only to the custom tier', {
              errors: [{ path: 'body/customLimits', message: 'only with tier "custom"' }],
            }),
          );
        }
        return service.update(request.params.id, request.body);
      },
    );

    app.post(
      '/v1/operator/tenants/:id/suspend',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'Suspend a tenant: every request with its credentials is refused (403); data is kept',
          params: IdParams,
          body: SuspendBody,
          response: { 200: Tenant },
        },
      },
      async (request) => service.suspend(request.params.id, request.body.reason),
    );

    app.post(
      '/v1/operator/tenants/:id/resume',
      {
        config: { auth },
        schema: { tags, summary: 'Resume a suspended tenant, or cancel an offboarding', params: IdParams, response: { 200: Tenant } },
      },
      async (request) => service.resume(request.params.id),
    );

    app.post(
      '/v1/operator/tenants/:id/offboard',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'Offboard a tenant: refused from now on, purged by a durable job after the grace period',
          params: IdParams,
          body: Type.Optional(OffboardBody),
          response: { 200: Tenant },
        },
      },
      async (request) => service.offboard(request.params.id, request.body?.graceDays),
    );

    app.delete(
      '/v1/operator/tenants/:id',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'Purge an offboarding tenant now: every row of the tenant is deleted, with the counts',
          params: IdParams,
          querystring: Type.Object({ confirm: Type.Optional(Type.String({ maxLength: 63, description: "The tenant's slug" })) }),
          response: { 200: PurgeResult },
        },
      },
      async (request) => service.purge(request.params.id, request.query.confirm),
    );

    app.get(
      '/v1/operator/tiers',
      {
        config: { auth },
        schema: { tags, summary: 'List tiers and their limits', response: { 200: Type.Object({ data: Type.Array(Tier) }) } },
      },
      async () => ({ data: (await service.listTiers()).map(toTierView) }),
    );

    app.put(
      '/v1/operator/tiers/:name',
      {
        config: { auth },
        schema: {
          tags,
          summary: "Replace a tier's limits (applies to its tenants at once)",
          params: Type.Object({ name: Type.String({ maxLength: 40 }) }),
          body: UpdateTierBody,
          response: { 200: Tier },
        },
      },
      async (request) => toTierView(await service.updateTier(request.params.name, request.body.limits, request.body.description)),
    );
  };

export const tenantSelfRoutes =
  (service: TenantService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/v1/tenant',
      {
        config: { auth: { kind: 'tenant', permission: 'tenant.read' } },
        schema: { tags: ['tenant'], summary: 'The tenant of the credential, with its effective limits', response: { 200: Tenant } },
      },
      async (request) => service.get(tenantOf(request)),
    );

    const PerMinute = Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()]);
    const RateLimits = Type.Object(
      {
        perUserPerMinute: PerMinute,
        perApiKeyPerMinute: PerMinute,
      },
      {
        additionalProperties: false,
        description: 'Limits per user and per API key, under the tier limit for the whole tenant; null: none',
      },
    );
    app.get(
      '/v1/tenant/rate-limits',
      {
        config: { auth: { kind: 'tenant', permission: 'tenant.read' } },
        schema: { tags: ['tenant'], summary: 'Per-user and per-API-key request limits', response: { 200: RateLimits } },
      },
      async (request) => service.getRateLimits(tenantOf(request)),
    );
    app.put(
      '/v1/tenant/rate-limits',
      {
        config: { auth: { kind: 'tenant', permission: 'settings.write' } },
        schema: {
          tags: ['tenant'],
          summary: 'Set per-user and per-API-key request limits (applies on every node at once)',
          body: RateLimits,
          response: { 200: RateLimits },
        },
      },
      async (request) => service.setRateLimits(tenantOf(request), request.body),
    );
  };
