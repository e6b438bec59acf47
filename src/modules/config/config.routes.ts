import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError, assertId, notFound } from '../../platform/errors.ts';
import { IdParams, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';
import { tenantOf } from '../../platform/http/request-context.ts';
import { decodeCursor, PaginationQuery, toPage } from '../../platform/pagination.ts';
import { actorOf, type RouteAuth } from '../access/index.ts';
import type { LevelRef, RolloutRow, VersionRow } from './config.repo.ts';
import { ConfigDocument, ConfigPatch, ConfigPatchBody, type PartialDocument } from './config.schema.ts';
import type { ConfigService } from './config.service.ts';
import { LEVELS, type Source } from './document.ts';

const Author = Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) });
const Change = Type.Object({
  path: Type.String({ description: 'Dotted key, e.g. retrieval.chunkSize' }),
  op: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('changed')]),
  before: Type.Optional(Type.Unknown()),
  after: Type.Optional(Type.Unknown()),
});
const LevelDocument = Type.Object({
  version: Type.Integer({ description: '0: nothing set at this level yet' }),
  etag: Type.String(),
  document: ConfigPatch,
  updatedAt: NullableTimestamp,
});
const VersionItem = Type.Object({
  version: Type.Integer(),
  message: Type.Union([Type.String(), Type.Null()]),
  author: Author,
  restoredFrom: Type.Union([Type.Integer(), Type.Null()], { description: 'Set when the version is a rollback' }),
  createdAt: Timestamp,
  diff: Type.Array(Change),
});
const VersionDetail = Type.Object({ ...VersionItem.properties, document: ConfigPatch });
const VersionPage = Type.Object({ data: Type.Array(VersionItem), nextCursor: Type.Union([Type.String(), Type.Null()]) });
const Diff = Type.Object({ from: Type.Integer(), to: Type.Integer(), changes: Type.Array(Change) });
const DiffQuery = Type.Object({ from: Type.Integer({ minimum: 0 }), to: Type.Integer({ minimum: 0 }) });
const RollbackBody = Type.Object(
  {
    version: Type.Integer({ minimum: 0, description: 'The version to restore (0: empty level)' }),
    message: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
const VersionParams = Type.Object({ version: Type.String({ maxLength: 100 }) });
const IfMatch = Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 200, description: 'ETag of the version read, or *' })) });

const Level = Type.Unsafe<(typeof LEVELS)[number]>({ type: 'string', enum: [...LEVELS] });
const Effective = Type.Object({
  tenantId: Type.String(),
  profile: Type.Union([Type.String(), Type.Null()], { description: 'The industry profile applied (null: none, or unknown)' }),
  tier: Type.String(),
  config: ConfigDocument,
  keys: Type.Record(Type.String(), Type.Object({ value: Type.Unknown(), level: Level, rolloutId: Type.Optional(Type.String()) }), {
    description: 'Every key (dotted path) with its value and the level that set it',
  }),
  versions: Type.Object({ global: Type.Integer(), profile: Type.Integer(), tier: Type.Integer(), tenant: Type.Integer() }),
  rollouts: Type.Array(Type.String(), { description: 'Global rollouts whose cohort includes this tenant' }),
  conflicts: Type.Array(Type.Object({ path: Type.String(), level: Level, rule: Type.Optional(Type.String()), message: Type.String() }), {
    description: 'Stored values set aside (the inherited value applies): invalid, or breaking a cross-key rule after a change above',
  }),
});

const Rollout = Type.Object({
  id: Type.String(),
  patch: ConfigPatch,
  percentage: Type.Integer(),
  errorThreshold: Type.Number(),
  minRequests: Type.Integer(),
  message: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('active'), Type.Literal('completed'), Type.Literal('rolled_back')]),
  author: Author,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  endedAt: NullableTimestamp,
  rollback: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  completedVersion: Type.Union([Type.Integer(), Type.Null()]),
});
const Percentage = Type.Integer({ minimum: 0, maximum: 100, description: 'Share of tenants (deterministic per tenant)' });

const Profile = Type.Object({
  name: Type.String(),
  description: Type.String(),
  builtin: Type.Boolean(),
  version: Type.Integer(),
  createdAt: Timestamp,
});
const ProfileName = Type.String({ pattern: '^[a-z][a-z0-9_]{1,39}$' });

const versionItem = (row: VersionRow) => ({
  version: row.version,
  message: row.message,
  author: { type: row.author_type, id: row.author_id },
  restoredFrom: row.restored_from,
  createdAt: row.created_at.toISOString(),
  diff: row.diff,
});

const rolloutView = (row: RolloutRow) => ({
  id: row.id,
  patch: row.patch,
  percentage: row.percentage,
  errorThreshold: row.error_threshold,
  minRequests: row.min_requests,
  message: row.message,
  status: row.status,
  author: { type: row.author_type, id: row.author_id },
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  endedAt: row.ended_at?.toISOString() ?? null,
  rollback: row.rollback,
  completedVersion: row.completed_version,
});

/** Version numbers in a path: anything that is not one answers like a missing version. */
function versionParam(raw: string): number {
  if (!/^\d{1,9}$/.test(raw)) throw notFound('configuration version');
  return Number(raw);
}

/** Version cursors are opaque: the last version number of the page, base64url-encoded. */
const encodeCursor = (version: number) => Buffer.from(`v${version}`).toString('base64url');
function decodeVersionCursor(cursor: string | undefined): number | null {
  if (cursor === undefined) return null;
  const match = /^v(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new AppError('invalid_cursor', 'cursor is not one this API returned');
  return Number(match[1]);
}

function splitMessage(body: PartialDocument & { message?: string }): { patch: PartialDocument; message: string | null } {
  const { message, ...patch } = body;
  return { patch, message: message ?? null };
}

const withEtag = <T extends { etag: string }>(reply: FastifyReply, view: T) => {
  reply.header('etag', view.etag);
  return view;
};

const headerOf = (request: FastifyRequest) => (request.headers as { 'if-match'?: string })['if-match'];

/**
 * The routes of one level (tenant, global, a profile, a tier): read, patch, history, one version,
 * diff, rollback. `refOf` turns the request into the level, from the credential (tenant) or the path.
 */
function levelRoutes(
  app: Parameters<FastifyPluginAsyncTypebox>[0],
  service: ConfigService,
  options: {
    base: string;
    params?: ReturnType<typeof Type.Object>;
    tags: string[];
    what: string;
    read: RouteAuth;
    write: RouteAuth;
    refOf(request: FastifyRequest): LevelRef;
  },
) {
  const { base, tags, what, refOf } = options;
  const params = options.params ? { params: options.params } : {};
  const readConfig = { auth: options.read };
  const writeConfig = { auth: options.write };

  app.get(
    base,
    {
      config: readConfig,
      schema: { tags, summary: `The ${what} level: its document, version and ETag`, ...params, response: { 200: LevelDocument } },
    },
    async (request, reply) => withEtag(reply, await service.level(refOf(request))),
  );

  app.patch(
    base,
    {
      config: writeConfig,
      schema: {
        tags,
        summary: `Change the ${what} level (JSON merge patch; null removes a key at this level). Needs If-Match (428 without, 412 when stale)`,
        description:
          'The body is a partial configuration document, e.g. `{"retrieval":{"chunkSize":800}}`, with an optional top-level `message` kept with the version. Nothing is applied when any key is refused.',
        ...params,
        headers: IfMatch,
        body: ConfigPatchBody,
        response: { 200: LevelDocument },
      },
    },
    async (request, reply) => {
      const { patch, message } = splitMessage(request.body as PartialDocument & { message?: string });
      const view = await service.patch(refOf(request), patch, { ifMatch: headerOf(request), message, actor: actorOf(request.principal) });
      return withEtag(reply, view);
    },
  );

  app.get(
    `${base}/versions`,
    {
      config: readConfig,
      schema: {
        tags,
        summary: `History of the ${what} level, newest first`,
        ...params,
        querystring: Type.Object({ ...PaginationQuery }),
        response: { 200: VersionPage },
      },
    },
    async (request) => {
      const query = request.query as { limit?: number; cursor?: string };
      const limit = query.limit ?? 50;
      const rows = await service.listVersions(refOf(request), { before: decodeVersionCursor(query.cursor), limit });
      const data = rows.slice(0, limit);
      const last = data.at(-1);
      return { data: data.map(versionItem), nextCursor: rows.length > limit && last ? encodeCursor(last.version) : null };
    },
  );

  app.get(
    `${base}/versions/:version`,
    {
      config: readConfig,
      schema: {
        tags,
        summary: `One version of the ${what} level, with its document and diff`,
        params: options.params ? Type.Object({ ...options.params.properties, ...VersionParams.properties }) : VersionParams,
        response: { 200: VersionDetail },
      },
    },
    async (request) => {
      const row = await service.version(refOf(request), versionParam((request.params as { version: string }).version));
      return { ...versionItem(row), document: row.document };
    },
  );

  app.get(
    `${base}/diff`,
    {
      config: readConfig,
      schema: {
        tags,
        summary: `Differences between two versions of the ${what} level`,
        ...params,
        querystring: DiffQuery,
        response: { 200: Diff },
      },
    },
    async (request) => {
      const query = request.query as { from: number; to: number };
      return service.diff(refOf(request), query.from, query.to);
    },
  );

  app.post(
    `${base}/rollback`,
    {
      config: writeConfig,
      schema: {
        tags,
        summary: `Restore an earlier version of the ${what} level (recorded as a new version). Needs If-Match`,
        ...params,
        headers: IfMatch,
        body: RollbackBody,
        response: { 200: LevelDocument },
      },
    },
    async (request, reply) => {
      const body = request.body as { version: number; message?: string };
      const view = await service.rollback(refOf(request), body.version, {
        ifMatch: headerOf(request),
        message: body.message,
        actor: actorOf(request.principal),
      });
      return withEtag(reply, view);
    },
  );
}

/** RFC 7396's media type is accepted as well as application/json. */
const acceptMergePatch: FastifyPluginAsyncTypebox = async (app) => {
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
};

export const configRoutes =
  (service: ConfigService): FastifyPluginAsyncTypebox =>
  async (app) => {
    await acceptMergePatch(app, {});
    const tags = ['config'];

    app.get(
      '/v1/config/effective',
      {
        config: { auth: { kind: 'tenant', permission: 'config.read' } },
        schema: {
          tags,
          summary: 'The effective configuration: every key with its value and the level that set it',
          response: { 200: Effective },
        },
      },
      async (request) => {
        const entry = await service.effective(tenantOf(request));
        const keys: Record<string, Source> = {};
        for (const [path, source] of [...entry.sources].sort(([a], [b]) => a.localeCompare(b))) keys[path] = source;
        return {
          tenantId: entry.tenantId,
          profile: entry.placement.profile,
          tier: entry.placement.tier,
          config: entry.config,
          keys,
          versions: entry.versions,
          rollouts: entry.rollouts,
          conflicts: entry.conflicts,
        };
      },
    );

    levelRoutes(app, service, {
      base: '/v1/config',
      tags,
      what: 'tenant',
      read: { kind: 'tenant', permission: 'config.read' },
      write: { kind: 'tenant', permission: 'config.write' },
      refOf: (request) => ({ scope: 'tenant', tenantId: tenantOf(request) }),
    });

    const operator = { kind: 'operator' } as const;
    const operatorTags = ['operator', 'config'];
    levelRoutes(app, service, {
      base: '/v1/operator/config/global',
      tags: operatorTags,
      what: 'global',
      read: operator,
      write: operator,
      refOf: () => ({ scope: 'global' }),
    });
    levelRoutes(app, service, {
      base: '/v1/operator/config/profiles/:profile',
      params: Type.Object({ profile: Type.String({ maxLength: 40 }) }),
      tags: operatorTags,
      what: 'profile',
      read: operator,
      write: operator,
      refOf: (request) => ({ scope: 'profile', name: (request.params as { profile: string }).profile }),
    });
    levelRoutes(app, service, {
      base: '/v1/operator/config/tiers/:tier',
      params: Type.Object({ tier: Type.String({ maxLength: 40 }) }),
      tags: operatorTags,
      what: 'tier',
      read: operator,
      write: operator,
      refOf: (request) => ({ scope: 'tier', name: (request.params as { tier: string }).tier }),
    });

    const profileView = (p: { name: string; description: string; builtin: boolean; version: number; created_at: Date }) => ({
      name: p.name,
      description: p.description,
      builtin: p.builtin,
      version: p.version,
      createdAt: p.created_at.toISOString(),
    });

    app.get(
      '/v1/operator/config/profiles',
      {
        config: { auth: operator },
        schema: {
          tags: operatorTags,
          summary: 'Industry profiles (built-in and added)',
          response: { 200: Type.Object({ data: Type.Array(Profile) }) },
        },
      },
      async () => ({ data: (await service.listProfiles()).map(profileView) }),
    );

    app.post(
      '/v1/operator/config/profiles',
      {
        config: { auth: operator },
        schema: {
          tags: operatorTags,
          summary: 'Add an industry profile, optionally with its first document',
          body: Type.Object(
            {
              name: ProfileName,
              description: Type.String({ maxLength: 500, default: '' }),
              document: Type.Optional(ConfigPatch),
              message: Type.Optional(Type.String({ maxLength: 500 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Profile },
        },
      },
      async (request, reply) => {
        const body = request.body as { name: string; description: string; document?: PartialDocument; message?: string };
        const created = await service.createProfile(body, actorOf(request.principal));
        reply.code(201);
        return profileView(created);
      },
    );

    const rollouts = '/v1/operator/config/global/rollouts';
    app.post(
      rollouts,
      {
        config: { auth: operator },
        schema: {
          tags: operatorTags,
          summary: 'Start a gradual rollout of a global change to a deterministic share of tenants',
          body: Type.Object(
            {
              patch: ConfigPatch,
              percentage: Percentage,
              errorThreshold: Type.Number({
                exclusiveMinimum: 0,
                maximum: 1,
                description: 'Roll back when the cohort’s 5xx share exceeds the other tenants’ by more than this (0.05 = 5 points)',
              }),
              minRequests: Type.Optional(
                Type.Integer({ minimum: 1, maximum: 1_000_000, default: 20, description: 'Cohort requests needed before judging' }),
              ),
              message: Type.Optional(Type.String({ maxLength: 500 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Rollout },
        },
      },
      async (request, reply) => {
        const body = request.body as {
          patch: PartialDocument;
          percentage: number;
          errorThreshold: number;
          minRequests?: number;
          message?: string;
        };
        const row = await service.createRollout(body, actorOf(request.principal));
        reply.code(201);
        return rolloutView(row);
      },
    );

    app.get(
      rollouts,
      {
        config: { auth: operator },
        schema: {
          tags: operatorTags,
          summary: 'Rollouts, newest first',
          querystring: Type.Object({ ...PaginationQuery, active: Type.Optional(Type.Boolean()) }),
          response: { 200: Type.Object({ data: Type.Array(Rollout), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        },
      },
      async (request) => {
        const query = request.query as { limit?: number; cursor?: string; active?: boolean };
        const limit = query.limit ?? 50;
        const page = toPage(await service.listRollouts({ after: decodeCursor(query.cursor), limit, activeOnly: query.active }), limit);
        return { data: page.data.map(rolloutView), nextCursor: page.nextCursor };
      },
    );

    const rolloutId = (request: FastifyRequest) => {
      const { id } = request.params as { id: string };
      assertId(id, 'rollout');
      return id;
    };

    app.get(
      `${rollouts}/:id`,
      {
        config: { auth: operator },
        schema: { tags: operatorTags, summary: 'A rollout, with its rollback record if any', params: IdParams, response: { 200: Rollout } },
      },
      async (request) => rolloutView(await service.getRollout(rolloutId(request))),
    );

    app.patch(
      `${rollouts}/:id`,
      {
        config: { auth: operator },
        schema: {
          tags: operatorTags,
          summary: 'Widen a rollout (the percentage only grows)',
          params: IdParams,
          body: Type.Object({ percentage: Percentage }, { additionalProperties: false }),
          response: { 200: Rollout },
        },
      },
      async (request) => rolloutView(await service.widenRollout(rolloutId(request), (request.body as { percentage: number }).percentage)),
    );

    app.post(
      `${rollouts}/:id/rollback`,
      {
        config: { auth: operator },
        schema: {
          tags: operatorTags,
          summary: 'Withdraw a rollout from its cohort',
          params: IdParams,
          body: Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false })),
          response: { 200: Rollout },
        },
      },
      async (request) =>
        rolloutView(
          await service.rollbackRollout(
            rolloutId(request),
            (request.body as { reason?: string } | undefined)?.reason,
            actorOf(request.principal),
          ),
        ),
    );

    app.post(
      `${rollouts}/:id/complete`,
      {
        config: { auth: operator },
        schema: {
          tags: operatorTags,
          summary: 'Apply a rollout to every tenant: its patch becomes a new global version',
          params: IdParams,
          response: { 200: Rollout },
        },
      },
      async (request) => rolloutView(await service.completeRollout(rolloutId(request), actorOf(request.principal))),
    );
  };
