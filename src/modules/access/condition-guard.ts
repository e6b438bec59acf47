import type { FastifyRequest } from 'fastify';
import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError } from '../../platform/errors.ts';
import { matches, type Resource } from './conditions.ts';
import type { Permission } from './permissions.ts';
import type { TenantPrincipal } from './principal.ts';

/**
 * Loads the resource(s) a request acts on, as the attributes its permission's conditions test.
 * Answers [] when the resource does not exist (or is another tenant's): the handler then says 404.
 */
export type ResourceLoader = (tx: Tx, request: FastifyRequest, principal: TenantPrincipal) => Promise<Resource[]>;

/**
 * Applies attribute conditions after the guard has checked the permission itself. A route whose
 * permission the principal holds only conditionally must have a loader registered here; a route
 * without one refuses the conditional grant (fail closed), so a new route cannot skip a condition.
 * Principals without conditions (every built-in role) cost one map lookup and no query.
 */
export function createConditionGuard(deps: { db: Database }) {
  const loaders = new Map<string, ResourceLoader>();
  return {
    /** `route` is "METHOD /url/:param" as declared. */
    register(route: string, loader: ResourceLoader) {
      loaders.set(route, loader);
    },
    async check(request: FastifyRequest): Promise<void> {
      const auth = request.routeOptions.config?.auth;
      const principal = request.principal;
      if (!auth || auth.kind !== 'tenant' || auth.permission === 'authenticated') return;
      if (!principal || principal.kind === 'operator' || !principal.conditions) return;
      const permission: Permission = auth.permission;
      const conditions = principal.conditions.get(permission);
      if (!conditions || conditions.length === 0) return;
      const refused = () =>
        new AppError('forbidden', `your ${permission} permission is limited by a condition this resource does not meet`, {
          permission,
          conditional: true,
        });
      const method = request.method === 'HEAD' ? 'GET' : request.method;
      const loader = loaders.get(`${method} ${request.routeOptions.url}`);
      if (!loader) throw refused();
      const resources = await deps.db.withTenant(principal.tenantId, (tx) => loader(tx, request, principal));
      for (const resource of resources) {
        if (!conditions.some((condition) => matches(condition, principal, resource))) throw refused();
      }
    },
  };
}

export type ConditionGuard = ReturnType<typeof createConditionGuard>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function userResource(tx: Tx, id: string): Promise<Resource[]> {
  if (!UUID.test(id)) return [];
  const { rows } = await tx.query<{ id: string; role_key: string }>('SELECT id, role_key FROM users WHERE id = $1', [id]);
  return rows.map((row) => ({ id: row.id, role: row.role_key }));
}

async function apiKeyResource(tx: Tx, id: string): Promise<Resource[]> {
  if (!UUID.test(id)) return [];
  const { rows } = await tx.query<{ id: string; created_by_id: string | null; created_by_type: string }>(
    'SELECT id, created_by_id, created_by_type FROM api_keys WHERE id = $1',
    [id],
  );
  return rows.map((row) => ({ id: row.id, createdById: row.created_by_id, createdByType: row.created_by_type }));
}

const idOf = (request: FastifyRequest) => (request.params as { id?: string }).id ?? '';

/** The resources of the routes whose permissions take conditions (CONDITION_ATTRIBUTES). */
export function registerBuiltinLoaders(guard: ConditionGuard) {
  guard.register('POST /v1/users', async (_tx, request) => [{ role: (request.body as { role?: string }).role ?? null }]);
  guard.register('PATCH /v1/users/:id', async (tx, request) => {
    const found = await userResource(tx, idOf(request));
    const role = (request.body as { role?: string } | undefined)?.role;
    // A role change must be allowed both for the user as it is and as it would become.
    return role && found[0] ? [...found, { ...found[0], role }] : found;
  });
  for (const action of ['deactivate', 'reactivate', 'unlock']) {
    guard.register(`POST /v1/users/:id/${action}`, (tx, request) => userResource(tx, idOf(request)));
  }
  guard.register('POST /v1/api-keys', async (_tx, _request, principal) => [
    {
      createdById: principal.kind === 'user' ? principal.userId : principal.apiKeyId,
      createdByType: principal.kind,
    },
  ]);
  for (const route of ['DELETE /v1/api-keys/:id', 'POST /v1/api-keys/:id/rotate', 'POST /v1/api-keys/:id/reinstate']) {
    guard.register(route, (tx, request) => apiKeyResource(tx, idOf(request)));
  }
}
