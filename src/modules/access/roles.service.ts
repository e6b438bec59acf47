import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertThat, notFound } from '../../platform/errors.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { type ConditionalGrant, type ConditionProblem, grantable, validateConditions } from './conditions.ts';
import { BUILTIN_ROLES, isPermission } from './permissions.ts';
import type { TenantPrincipal } from './principal.ts';
import * as repo from './roles.repo.ts';

export type RoleInput = { key: string; name: string; description?: string; permissions: string[]; conditions?: ConditionalGrant[] };
export type RolePatch = { name?: string; description?: string; permissions?: string[]; conditions?: ConditionalGrant[] };

const BUILTIN_KEYS = new Set(BUILTIN_ROLES.map((role) => role.key));

export function createRoleService(deps: {
  db: Database;
  bus: InvalidationBus;
  /** The custom-role limit of the tenant's tier (null: unlimited). */
  customRoleLimit(tx: Tx, tenantId: string): Promise<number | null>;
  /** Called in the transaction that created a role, with the custom roles now used (quota alerts). */
  onCustomRolesUsed?: (tx: Tx, tenantId: string, used: number, limit: number | null) => Promise<void>;
}) {
  const { db, bus } = deps;

  /** Malformed definitions are refused naming the part: unknown permissions, bad conditions. */
  function validate(permissions: readonly string[], conditions: readonly ConditionalGrant[]) {
    const problems: ConditionProblem[] = [];
    permissions.forEach((permission, i) => {
      if (!isPermission(permission)) problems.push({ path: `body/permissions/${i}`, message: `unknown permission "${permission}"` });
    });
    problems.push(...validateConditions(conditions, permissions, 'body/conditions'));
    assertThat(
      problems.length === 0,
      new AppError('validation_failed', `the role definition is not valid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, {
        errors: problems,
      }),
    );
  }

  /** A role may grant only what the caller holds unconditionally (a role can never raise its maker). */
  function assertCanGrant(actor: TenantPrincipal, permissions: readonly string[]) {
    const held = grantable(actor);
    const missing = permissions.filter((p) => !held.has(p));
    assertThat(
      missing.length === 0,
      new AppError('scope_exceeds_permissions', `you cannot grant permissions you do not have: ${missing.join(', ')}`, {
        permissions: missing,
      }),
    );
  }

  const immutable = (key: string) =>
    new AppError('role_immutable', `"${key}" is a built-in role; built-in roles cannot be changed or deleted`);

  return {
    list: (tenantId: string) => db.withTenant(tenantId, (tx) => repo.listRoles(tx)),

    async get(tenantId: string, key: string) {
      const role = await db.withTenant(tenantId, (tx) => repo.findRole(tx, key));
      assertThat(role, notFound('role'));
      return role;
    },

    async create(actor: TenantPrincipal, input: RoleInput) {
      const conditions = input.conditions ?? [];
      assertThat(!BUILTIN_KEYS.has(input.key), immutable(input.key));
      // Validated as sent, so that the paths of the problems point into the request body.
      validate(input.permissions, conditions);
      const permissions = [...new Set(input.permissions)].sort();
      assertCanGrant(actor, permissions);
      return db.withTenant(actor.tenantId, async (tx) => {
        // Enforced where the role is made: count-then-insert under a per-tenant lock (concurrent
        // creates take turns), so the tier's limit cannot be overrun by a race.
        const limit = await deps.customRoleLimit(tx, actor.tenantId);
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('palazzo:custom_roles'), hashtext($1))`, [actor.tenantId]);
        const used = await repo.countCustomRoles(tx);
        assertThat(
          limit === null || used < limit,
          new AppError('quota_exceeded', `the tier allows ${limit} custom roles`, { metric: 'custom_roles', limit, used }),
        );
        const existing = await repo.findRole(tx, input.key);
        assertThat(!existing, new AppError('conflict', `a role with the key "${input.key}" already exists`, { field: 'key' }));
        const role = await repo.insertRole(tx, {
          tenantId: actor.tenantId,
          key: input.key,
          name: input.name,
          description: input.description ?? '',
          permissions,
          conditions,
        });
        await deps.onCustomRolesUsed?.(tx, actor.tenantId, used + 1, limit);
        return role;
      });
    },

    async update(actor: TenantPrincipal, key: string, patch: RolePatch) {
      const role = await db.withTenant(actor.tenantId, async (tx) => {
        const current = await repo.lockRole(tx, key);
        assertThat(current, notFound('role'));
        assertThat(!current.builtin, immutable(key));
        // Changing a role is granting its permissions anew: the caller must hold the old and the new set.
        const conditions = patch.conditions ?? current.conditions;
        validate(patch.permissions ?? current.permissions, conditions);
        const permissions = patch.permissions ? [...new Set(patch.permissions)].sort() : current.permissions;
        assertCanGrant(actor, [...new Set([...current.permissions, ...permissions])]);
        return repo.updateRole(tx, key, { ...patch, permissions, conditions });
      });
      assertThat(role, notFound('role'));
      // Every session holding the role re-reads its grants on its next request, on every node (T08).
      await bus.publish({ type: 'role', tenantId: actor.tenantId, roleKey: key });
      return role;
    },

    async remove(actor: TenantPrincipal, key: string) {
      const inUse = (holders: string) =>
        new AppError('role_in_use', `the role "${key}" is held by ${holders}; give them another role first`, { role: key });
      try {
        await db.withTenant(actor.tenantId, async (tx) => {
          const current = await repo.lockRole(tx, key);
          assertThat(current, notFound('role'));
          assertThat(!current.builtin, immutable(key));
          assertCanGrant(actor, current.permissions);
          const users = await repo.countRoleUsers(tx, key);
          assertThat(users === 0, () => inUse(`${users} user(s)`));
          await repo.deleteRole(tx, key);
        });
      } catch (error) {
        // Any other holder (pending invitations) references the role by a foreign key.
        if ((error as { code?: string }).code === '23503') throw inUse('pending invitations or other records');
        throw error;
      }
      await bus.publish({ type: 'role', tenantId: actor.tenantId, roleKey: key });
    },
  };
}

export type RoleService = ReturnType<typeof createRoleService>;
