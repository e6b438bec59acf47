import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams, NoContent } from '../../platform/http/schemas.ts';
import { origin, tenantOf, tenantPrincipal } from '../../platform/http/request-context.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import type { TenantDirectory } from '../tenants/index.ts';
import type { AuthService } from './auth.service.ts';
import { CreateUserBody, LoginBody, LoginResponse, Me, RefreshBody, TokenPair, UpdateUserBody, User } from './identity.schemas.ts';
import type { TokenService } from './tokens.ts';
import { toUserView, type UserService } from './users.service.ts';

export const authRoutes =
  (deps: { auth: AuthService; tokens: TokenService }): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['auth'];
    app.post(
      '/v1/auth/login',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags,
          summary: 'Log in with tenant slug, email and password',
          description:
            'Answers a token pair, or `{ mfaRequired: true, mfaToken, method }` when a second factor is needed (complete it with POST /v1/auth/mfa).',
          body: LoginBody,
          response: { 200: LoginResponse },
        },
      },
      async (request) => deps.auth.login(request.body, origin(request)),
    );

    app.post(
      '/v1/auth/refresh',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags,
          summary: 'Exchange a refresh token for a new pair (the old refresh token stops working)',
          body: RefreshBody,
          response: { 200: TokenPair },
        },
      },
      async (request) => deps.auth.refresh(request.body.refreshToken, origin(request)),
    );

    app.post(
      '/v1/auth/logout',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: { tags, summary: 'End the current session', response: { 204: NoContent } },
      },
      async (request, reply) => {
        await deps.auth.logout(tenantPrincipal(request));
        reply.code(204);
      },
    );

    app.get(
      '/.well-known/jwks.json',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags,
          summary: 'Public keys that verify access tokens',
          response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
        },
      },
      async () => deps.tokens.jwks(),
    );
  };

export const meRoutes =
  (deps: { users: UserService; directory: TenantDirectory }): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/v1/me',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: { tags: ['auth'], summary: 'Who the credential belongs to, its tenant and permissions', response: { 200: Me } },
      },
      async (request) => {
        const principal = tenantPrincipal(request);
        // Served from the per-node caches for API keys: no database read on this path.
        const tenant = await deps.directory.get(principal.tenantId);
        if (!tenant) throw new Error('tenant of a verified principal is missing');
        const permissions = [...principal.permissions].sort();
        const brief = { id: tenant.id, slug: tenant.slug, name: tenant.name, tier: tenant.tier, status: tenant.status };
        if (principal.kind === 'api_key')
          return { kind: 'api_key' as const, tenant: brief, apiKey: { id: principal.apiKeyId }, permissions };
        const user = await deps.users.get(principal.tenantId, principal.userId);
        return {
          kind: 'user' as const,
          tenant: brief,
          user: { id: user.id, email: user.email, name: user.name, role: user.role_key, emailVerified: user.email_verified_at !== null },
          permissions,
        };
      },
    );
  };

export const userRoutes =
  (users: UserService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['users'];
    app.get(
      '/v1/users',
      {
        config: { auth: { kind: 'tenant', permission: 'users.read' } },
        schema: {
          tags,
          summary: 'List users',
          querystring: Type.Object({
            ...PaginationQuery,
            status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('deactivated')])),
            role: Type.Optional(Type.String({ maxLength: 40 })),
          }),
          response: { 200: Page(User) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await users.list(tenantOf(request), {
          status: request.query.status,
          role: request.query.role,
          after: decodeCursor(request.query.cursor),
          limit,
        });
        const page = toPage(rows, limit);
        return { data: page.data.map(toUserView), nextCursor: page.nextCursor };
      },
    );

    app.post(
      '/v1/users',
      {
        config: { auth: { kind: 'tenant', permission: 'users.write' } },
        schema: { tags, summary: 'Create a user', body: CreateUserBody, response: { 201: User } },
      },
      async (request, reply) => {
        const row = await users.create(tenantPrincipal(request), request.body);
        reply.code(201);
        return toUserView(row);
      },
    );

    app.get(
      '/v1/users/:id',
      {
        config: { auth: { kind: 'tenant', permission: 'users.read' } },
        schema: { tags, summary: 'Get a user', params: IdParams, response: { 200: User } },
      },
      async (request) => toUserView(await users.get(tenantOf(request), request.params.id)),
    );

    app.patch(
      '/v1/users/:id',
      {
        config: { auth: { kind: 'tenant', permission: 'users.write' } },
        schema: { tags, summary: "Change a user's name or role", params: IdParams, body: UpdateUserBody, response: { 200: User } },
      },
      async (request) => toUserView(await users.update(tenantPrincipal(request), request.params.id, request.body)),
    );

    app.post(
      '/v1/users/:id/deactivate',
      {
        config: { auth: { kind: 'tenant', permission: 'users.write' } },
        schema: { tags, summary: 'Deactivate a user; their sessions end at once', params: IdParams, response: { 200: User } },
      },
      async (request) => toUserView(await users.deactivate(tenantPrincipal(request), request.params.id)),
    );

    app.post(
      '/v1/users/:id/reactivate',
      {
        config: { auth: { kind: 'tenant', permission: 'users.write' } },
        schema: { tags, summary: 'Reactivate a user (takes a seat)', params: IdParams, response: { 200: User } },
      },
      async (request) => toUserView(await users.reactivate(tenantPrincipal(request), request.params.id)),
    );
  };
