import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams, NoContent } from '../../platform/http/schemas.ts';
import { tenantOf, tenantPrincipal } from '../../platform/http/request-context.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import type { LocalizationService } from '../localization/index.ts';
import type { ExperimentRow } from './experiments.repo.ts';
import {
  Assignment,
  AssignmentBody,
  CreateExperimentBody,
  EventBody,
  EventRecorded,
  Experiment,
  ListExperimentsQuery,
  Results,
  UpdateExperimentBody,
} from './experiments.schemas.ts';
import { type ExperimentService, SIGNIFICANCE } from './experiments.service.ts';
import { Z_95 } from './statistics.ts';

export function toExperimentView(row: ExperimentRow) {
  return {
    id: row.id,
    key: row.key,
    description: row.description,
    status: row.status,
    variants: row.variants,
    control: row.control_variant,
    startedAt: row.started_at?.toISOString() ?? null,
    stoppedAt: row.stopped_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export const experimentRoutes =
  (deps: { experiments: ExperimentService; localization: LocalizationService }): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { experiments } = deps;
    const tags = ['experiments'];
    const read = { auth: { kind: 'tenant' as const, permission: 'experiments.read' as const } };
    const write = { auth: { kind: 'tenant' as const, permission: 'experiments.write' as const } };

    app.get(
      '/v1/experiments',
      {
        config: read,
        schema: {
          tags,
          summary: 'List experiments',
          querystring: Type.Object({ ...PaginationQuery, ...ListExperimentsQuery }),
          response: { 200: Page(Experiment) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await experiments.list(tenantOf(request), {
          status: request.query.status,
          after: decodeCursor(request.query.cursor),
          limit,
        });
        const page = toPage(rows, limit);
        return { data: page.data.map(toExperimentView), nextCursor: page.nextCursor };
      },
    );

    app.post(
      '/v1/experiments',
      {
        config: write,
        schema: { tags, summary: 'Create an experiment (a draft)', body: CreateExperimentBody, response: { 201: Experiment } },
      },
      async (request, reply) => {
        const row = await experiments.create(tenantOf(request), request.body);
        reply.code(201);
        return toExperimentView(row);
      },
    );

    app.get(
      '/v1/experiments/:id',
      { config: read, schema: { tags, summary: 'Get an experiment', params: IdParams, response: { 200: Experiment } } },
      async (request) => toExperimentView(await experiments.get(tenantOf(request), request.params.id)),
    );

    app.patch(
      '/v1/experiments/:id',
      {
        config: write,
        schema: {
          tags,
          summary: 'Change an experiment, or start (status running) or stop it',
          params: IdParams,
          body: UpdateExperimentBody,
          response: { 200: Experiment },
        },
      },
      async (request) => toExperimentView(await experiments.update(tenantOf(request), request.params.id, request.body)),
    );

    app.delete(
      '/v1/experiments/:id',
      {
        config: write,
        schema: { tags, summary: 'Delete an experiment and its events', params: IdParams, response: { 204: NoContent } },
      },
      async (request, reply) => {
        await experiments.remove(tenantOf(request), request.params.id);
        reply.code(204);
      },
    );

    app.post(
      '/v1/experiments/:id/assignments',
      {
        config: read,
        schema: {
          tags,
          summary: 'The variant of a subject (default: the calling user); the same on every call and node',
          params: IdParams,
          body: Type.Optional(AssignmentBody),
          response: { 200: Assignment },
        },
      },
      async (request) => experiments.assign(tenantPrincipal(request), request.params.id, request.body?.subjectId),
    );

    app.post(
      '/v1/experiments/:id/events',
      {
        config: write,
        schema: {
          tags,
          summary: 'Record an exposure or a conversion; idempotent per subject and type',
          params: IdParams,
          body: EventBody,
          response: { 200: EventRecorded },
        },
      },
      async (request) => experiments.recordEvent(tenantPrincipal(request), request.params.id, request.body),
    );

    app.get(
      '/v1/experiments/:id/results',
      {
        config: read,
        schema: {
          tags,
          summary: 'Per variant: exposures, conversions, rate with a 95% interval, and a two-proportion z-test against the control',
          params: IdParams,
          response: { 200: Results },
        },
      },
      async (request) => {
        const locale = await deps.localization.forRequest(request);
        const { row, variants, summary } = await experiments.results(tenantOf(request), request.params.id, locale);
        return {
          experimentId: row.id,
          key: row.key,
          status: row.status,
          control: row.control_variant,
          confidenceLevel: 0.95,
          method: {
            interval: `Wilson score interval, z = ${Z_95}`,
            test: 'pooled two-proportion z-test, two-sided, each variant against the control',
            significanceLevel: SIGNIFICANCE,
          },
          variants,
          summary,
        };
      },
    );
  };
