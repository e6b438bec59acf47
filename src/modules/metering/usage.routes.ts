import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams } from '../../platform/http/schemas.ts';
import { tenantOf } from '../../platform/http/request-context.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import type { TenantService } from '../tenants/index.ts';
import type { ApiCallMeter } from './api-call-meter.ts';
import type { UsageService } from './usage.service.ts';

const UsageItem = Type.Object({
  metric: Type.String(),
  used: Type.Number(),
  limit: Type.Union([Type.Number(), Type.Null()], { description: 'null: unlimited' }),
  period: Type.Union([Type.Literal('month'), Type.Literal('absolute')]),
  resetsAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
const Usage = Type.Object({ tenantId: Type.String(), data: Type.Array(UsageItem) });

const Alert = Type.Object({
  id: Type.String(),
  metric: Type.String(),
  periodStart: Type.String({ format: 'date-time' }),
  threshold: Type.Integer(),
  used: Type.Number(),
  limit: Type.Number(),
  createdAt: Type.String({ format: 'date-time' }),
});

export const usageRoutes =
  (deps: { usage: UsageService; meter: ApiCallMeter; tenants: TenantService }): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { usage, meter } = deps;
    const overview = async (tenantId: string) => ({
      tenantId,
      data: await usage.overview(tenantId, await meter.monthUsed(tenantId)),
    });

    app.get(
      '/v1/usage',
      {
        config: { auth: { kind: 'tenant', permission: 'usage.read' } },
        schema: { tags: ['usage'], summary: 'Usage of every metric against its limit', response: { 200: Usage } },
      },
      async (request) => overview(tenantOf(request)),
    );

    app.get(
      '/v1/usage/timeseries',
      {
        config: { auth: { kind: 'tenant', permission: 'usage.read' } },
        schema: {
          tags: ['usage'],
          summary: 'A counter metric aggregated per hour, day or month',
          querystring: Type.Object({
            metric: Type.String({ maxLength: 40 }),
            from: Type.String({ format: 'date-time' }),
            to: Type.String({ format: 'date-time' }),
            granularity: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day'), Type.Literal('month')])),
            dimension: Type.Optional(Type.String({ maxLength: 40, description: 'e.g. the route group of api_calls' })),
          }),
          response: {
            200: Type.Object({
              metric: Type.String(),
              granularity: Type.String(),
              points: Type.Array(Type.Object({ periodStart: Type.String({ format: 'date-time' }), value: Type.Number() })),
            }),
          },
        },
      },
      async (request) => {
        const { metric, from, to, dimension } = request.query;
        const granularity = request.query.granularity ?? 'day';
        await meter.flush();
        const points = await usage.timeseries(tenantOf(request), {
          metric,
          granularity,
          from: new Date(from),
          to: new Date(to),
          dimension,
        });
        return { metric, granularity, points };
      },
    );

    app.get(
      '/v1/usage/alerts',
      {
        config: { auth: { kind: 'tenant', permission: 'usage.read' } },
        schema: {
          tags: ['usage'],
          summary: 'Quota alerts (80% and 100%), newest first',
          querystring: Type.Object({ ...PaginationQuery }),
          response: { 200: Page(Alert) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await usage.listAlerts(tenantOf(request), { after: decodeCursor(request.query.cursor), limit });
        const page = toPage(rows, limit);
        return {
          nextCursor: page.nextCursor,
          data: page.data.map((row) => ({
            id: row.id,
            metric: row.metric,
            periodStart: row.period_start.toISOString(),
            threshold: row.threshold,
            used: Number(row.used),
            limit: Number(row.limit),
            createdAt: row.created_at.toISOString(),
          })),
        };
      },
    );

    app.get(
      '/v1/operator/tenants/:id/usage',
      {
        config: { auth: { kind: 'operator' } },
        schema: { tags: ['operator'], summary: "A tenant's usage", params: IdParams, response: { 200: Usage } },
      },
      async (request) => {
        const tenant = await deps.tenants.get(request.params.id);
        return overview(tenant.id);
      },
    );

    app.get(
      '/v1/operator/usage',
      {
        config: { auth: { kind: 'operator' } },
        schema: {
          tags: ['operator'],
          summary: "Every active tenant's usage, a page of tenants at a time",
          querystring: Type.Object({ ...PaginationQuery }),
          response: { 200: Type.Object({ data: Type.Array(Usage), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 20;
        const rows = await deps.tenants.list({ status: 'active', after: decodeCursor(request.query.cursor), limit });
        const page = toPage(rows, limit);
        const data = [];
        for (const tenant of page.data) data.push(await overview(tenant.id));
        return { data, nextCursor: page.nextCursor };
      },
    );
  };
