import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NoContent } from '../../platform/http/schemas.ts';
import { tenantOf, tenantPrincipal } from '../../platform/http/request-context.ts';
import { CONDITION_ATTRIBUTES, ConditionalGrant } from './conditions.ts';
import { PERMISSIONS, type Permission } from './permissions.ts';
import type { RoleRow } from './roles.repo.ts';
import type { RoleService } from './roles.service.ts';
import type { RouteCatalogue } from './route-catalogue.ts';

const RoleKey = Type.String({
  pattern: '^[a-z][a-z0-9_-]{1,39}$',
  description: 'Lower-case letters, digits, - and _; 2-40 characters, starting with a letter',
});

const Role = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
  conditions: Type.Array(ConditionalGrant, {
    description: 'Conditional grants: each restricts one of `permissions` to the resources matching its condition',
  }),
  builtin: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const Permissions = Type.Array(Type.String({ maxLength: 100 }), { maxItems: 200, description: 'Permission keys (GET /v1/permissions)' });
const Conditions = Type.Array(ConditionalGrant, {
  maxItems: 50,
  description: 'Attribute conditions, e.g. `{"permission":"api_keys.write","condition":{"attribute":"createdById","equals":"$caller.id"}}`',
});

const CreateRoleBody = Type.Object(
  {
    key: RoleKey,
    name: Type.String({ minLength: 1, maxLength: 100 }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    permissions: Permissions,
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false },
);

const UpdateRoleBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    permissions: Type.Optional(Permissions),
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false, minProperties: 1 },
);

const KeyParams = Type.Object({ key: Type.String({ maxLength: 100, description: 'The role key' }) });

function toRoleView(row: RoleRow) {
  return {
    key: row.key,
    name: row.name,
    description: row.description,
    permissions: row.permissions,
    conditions: row.conditions,
    builtin: row.builtin,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export const roleRoutes =
  (deps: { roles: RoleService; catalogue: RouteCatalogue }): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['access'];
    app.get(
      '/v1/roles',
      {
        config: { auth: { kind: 'tenant', permission: 'roles.read' } },
        schema: {
          tags,
          summary: 'List the roles of the tenant, built-in and custom',
          response: { 200: Type.Object({ data: Type.Array(Role) }) },
        },
      },
      async (request) => ({ data: (await deps.roles.list(tenantOf(request))).map(toRoleView) }),
    );

    app.get(
      '/v1/roles/:key',
      {
        config: { auth: { kind: 'tenant', permission: 'roles.read' } },
        schema: { tags, summary: 'Get a role', params: KeyParams, response: { 200: Role } },
      },
      async (request) => toRoleView(await deps.roles.get(tenantOf(request), request.params.key)),
    );

    app.post(
      '/v1/roles',
      {
        config: { auth: { kind: 'tenant', permission: 'roles.write' } },
        schema: {
          tags,
          summary: 'Create a custom role',
          description:
            'Only permissions the caller holds unconditionally can be granted. The number of custom roles is limited by the tier (429 `quota_exceeded`). A malformed definition is refused with 400 `validation_failed`, naming each bad part in `errors[].path`.',
          body: CreateRoleBody,
          response: { 201: Role },
        },
      },
      async (request, reply) => {
        const row = await deps.roles.create(tenantPrincipal(request), request.body);
        reply.code(201);
        return toRoleView(row);
      },
    );

    app.patch(
      '/v1/roles/:key',
      {
        config: { auth: { kind: 'tenant', permission: 'roles.write' } },
        schema: {
          tags,
          summary: 'Change a custom role',
          description:
            'Takes effect on the next request of every holder, on every node. Built-in roles cannot be changed (409 `role_immutable`).',
          params: KeyParams,
          body: UpdateRoleBody,
          response: { 200: Role },
        },
      },
      async (request) => toRoleView(await deps.roles.update(tenantPrincipal(request), request.params.key, request.body)),
    );

    app.delete(
      '/v1/roles/:key',
      {
        config: { auth: { kind: 'tenant', permission: 'roles.write' } },
        schema: {
          tags,
          summary: 'Delete a custom role',
          description: 'Refused with 409 `role_in_use` while users or invitations hold it, and 409 `role_immutable` for built-in roles.',
          params: KeyParams,
          response: { 204: NoContent },
        },
      },
      async (request, reply) => {
        await deps.roles.remove(tenantPrincipal(request), request.params.key);
        reply.code(204);
      },
    );

    app.get(
      '/v1/permissions',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags,
          summary: 'The permission catalogue, generated from the routes',
          description: 'Each permission with its description, the routes that need it and the attributes its conditions may test.',
          response: {
            200: Type.Object({
              data: Type.Array(
                Type.Object({
                  key: Type.String(),
                  description: Type.String(),
                  routes: Type.Array(Type.Object({ method: Type.String(), url: Type.String() })),
                  conditionAttributes: Type.Array(Type.Object({ attribute: Type.String(), description: Type.String() })),
                }),
              ),
            }),
          },
        },
      },
      async () => ({
        data: Object.entries(PERMISSIONS).map(([key, description]) => ({
          key,
          description,
          routes: deps.catalogue.routesOf(key),
          conditionAttributes: Object.entries(CONDITION_ATTRIBUTES[key as Permission] ?? {}).map(([attribute, about]) => ({
            attribute,
            description: about,
          })),
        })),
      }),
    );
  };
