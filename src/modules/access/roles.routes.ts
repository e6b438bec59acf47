import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Database } from '../../platform/db/database.ts';
import { tenantOf } from '../../platform/http/request-context.ts';
import { PERMISSIONS } from './permissions.ts';
import { listRoles } from './roles.repo.ts';

const Role = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
  builtin: Type.Boolean(),
});

export const roleRoutes =
  (deps: { db: Database }): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/v1/roles',
      {
        config: { auth: { kind: 'tenant', permission: 'roles.read' } },
        schema: { tags: ['access'], summary: 'List the roles of the tenant', response: { 200: Type.Object({ data: Type.Array(Role) }) } },
      },
      async (request) => {
        const rows = await deps.db.withTenant(tenantOf(request), (tx) => listRoles(tx));
        return { data: rows.map(({ key, name, description, permissions, builtin }) => ({ key, name, description, permissions, builtin })) };
      },
    );
    app.get(
      '/v1/permissions',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags: ['access'],
          summary: 'The permission catalogue',
          response: { 200: Type.Object({ data: Type.Array(Type.Object({ key: Type.String(), description: Type.String() })) }) },
        },
      },
      async () => ({ data: Object.entries(PERMISSIONS).map(([key, description]) => ({ key, description })) }),
    );
  };
