import { findRole, grantable, OWNER_ROLE, type TenantPrincipal } from '../access/index.ts';
import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, conflict, forbidden, notFound } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import type { TenantDirectory } from '../tenants/index.ts';
import { assertAcceptablePassword, contextWords, type PasswordHasher } from './passwords.ts';
import { revokeUserSessions } from './sessions.repo.ts';
import * as repo from './users.repo.ts';

export function toUserView(row: repo.UserRow) {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role_key,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    lastLoginAt: row.last_login_at?.toISOString() ?? null,
    deactivatedAt: row.deactivated_at?.toISOString() ?? null,
    emailVerified: row.email_verified_at !== null,
  };
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function createUserService(deps: {
  db: Database;
  bus: InvalidationBus;
  passwords: PasswordHasher;
  directory: TenantDirectory;
  /** Called in the transaction that took a seat, with the seats now used (quota alerts). */
  onSeatsUsed?: (tx: Tx, tenantId: string, used: number, limit: number | null) => Promise<void>;
  /** Step-up for sensitive changes (a role change, T22); throws step_up_required. */
  requireRecentAuth?: (actor: TenantPrincipal) => Promise<void>;
}) {
  const { db, bus, passwords, directory } = deps;

  async function seatsTaken(tx: Tx, tenantId: string) {
    if (!deps.onSeatsUsed) return;
    const { limits } = await tenantOf(tenantId, tx);
    await deps.onSeatsUsed(tx, tenantId, await repo.countActiveUsers(tx), limits.seats);
  }

  async function tenantOf(tenantId: string, tx?: Tx) {
    const tenant = tx ? await directory.getWithin(tx, tenantId) : await directory.get(tenantId);
    if (!tenant) throw new Error(`tenant ${tenantId} vanished`);
    return tenant;
  }

  /** The seat limit of the tier (or the custom override) counts active users. */
  async function assertSeatAvailable(tx: Tx, tenantId: string) {
    const { limits } = await tenantOf(tenantId, tx);
    if (limits.seats === null) return;
    // Count-then-insert is a race under READ COMMITTED: concurrent creates would all see a free
    // seat. A per-tenant transaction lock makes them take turns; it ends with the transaction.
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('palazzo:seats'), hashtext($1))`, [tenantId]);
    const used = await repo.countActiveUsers(tx);
    assertThat(
      used < limits.seats,
      new AppError('quota_exceeded', `the tier allows ${limits.seats} active users`, {
        metric: 'seats',
        limit: limits.seats,
        used,
      }),
    );
  }

  /**
   * A role may be given only by someone who holds every permission in it; the owner role only by
   * an owner. This is what stops an admin (or an admin's API key) from making itself an owner.
   */
  async function assertCanAssign(tx: Tx, actor: TenantPrincipal, roleKey: string) {
    const role = await findRole(tx, roleKey);
    assertThat(
      role,
      new AppError('validation_failed', `role "${roleKey}" does not exist`, { errors: [{ path: 'body/role', message: 'unknown role' }] }),
    );
    const held = grantable(actor);
    const missing = role.permissions.filter((p) => !held.has(p));
    assertThat(missing.length === 0, forbidden(`you cannot assign a role with permissions you do not have: ${missing.join(', ')}`));
    if (roleKey === OWNER_ROLE) {
      assertThat(actor.kind === 'user' && actor.roleKey === OWNER_ROLE, forbidden('only an owner can make another owner'));
    }
  }

  async function assertNotLastOwner(tx: Tx, user: repo.UserRow) {
    if (user.role_key !== OWNER_ROLE || user.status !== 'active') return;
    const owners = await repo.countActiveOwners(tx);
    assertThat(owners > 1, conflict('a tenant must keep at least one active owner'));
  }

  async function endSessions(tenantId: string, userId: string, sessionIds: string[]) {
    await bus.publish({ type: 'user', tenantId, userId });
    for (const sessionId of sessionIds) await bus.publish({ type: 'session', tenantId, sessionId });
  }

  return {
    /** Validates and hashes a new account's password before any transaction opens. */
    async preparePassword(password: string, email: string, tenant: { name: string; slug: string }) {
      assertAcceptablePassword(password, contextWords(email, tenant));
      return passwords.hash(password);
    },

    async insertOwner(tx: Tx, tenantId: string, owner: { email: string; name: string; passwordHash: string }) {
      await repo.insertUser(tx, {
        tenantId,
        id: uuidv7(),
        email: normalizeEmail(owner.email),
        name: owner.name,
        passwordHash: owner.passwordHash,
        roleKey: OWNER_ROLE,
      });
    },

    /**
     * A user created just in time by single sign-on, inside the caller's tenant transaction: no
     * password (they log in through their provider), and the seat limit applies as for any user.
     */
    async insertExternalUser(tx: Tx, tenantId: string, user: { email: string; name: string; roleKey: string }) {
      await assertSeatAvailable(tx, tenantId);
      const created = await repo.insertUser(tx, {
        tenantId,
        id: uuidv7(),
        email: normalizeEmail(user.email),
        name: user.name,
        passwordHash: null,
        roleKey: user.roleKey,
      });
      await seatsTaken(tx, tenantId);
      return created;
    },

    countActive: (tx: Tx) => repo.countActiveUsers(tx),

    /** For modules that add users by other paths (invitations): the same role, seat and alert rules. */
    assertCanAssign,
    assertSeatAvailable,
    seatsTaken,
    endSessions,

    list(tenantId: string, filter: { status?: string; role?: string; after: string | null; limit: number }) {
      return db.withTenant(tenantId, (tx) => repo.listUsers(tx, filter));
    },

    async get(tenantId: string, id: string) {
      assertId(id, 'user');
      const row = await db.withTenant(tenantId, (tx) => repo.findUserById(tx, id));
      assertThat(row, notFound('user'));
      return row;
    },

    async create(actor: TenantPrincipal, input: { email: string; name: string; role: string; password: string }) {
      const tenant = await tenantOf(actor.tenantId);
      const email = normalizeEmail(input.email);
      assertAcceptablePassword(input.password, contextWords(email, tenant));
      const passwordHash = await passwords.hash(input.password);
      return db.withTenant(actor.tenantId, async (tx) => {
        await assertCanAssign(tx, actor, input.role);
        await assertSeatAvailable(tx, actor.tenantId);
        const existing = await repo.findUserByEmail(tx, email);
        assertThat(!existing, conflict('a user with this email already exists', { field: 'email' }));
        const created = await repo.insertUser(tx, {
          tenantId: actor.tenantId,
          id: uuidv7(),
          email,
          name: input.name,
          passwordHash,
          roleKey: input.role,
        });
        await seatsTaken(tx, actor.tenantId);
        return created;
      });
    },

    async update(actor: TenantPrincipal, id: string, patch: { name?: string; role?: string }) {
      assertId(id, 'user');
      const updated = await db.withTenant(actor.tenantId, async (tx) => {
        const user = await repo.lockUser(tx, id);
        assertThat(user, notFound('user'));
        if (patch.role !== undefined && patch.role !== user.role_key) {
          await assertCanAssign(tx, actor, patch.role);
          await deps.requireRecentAuth?.(actor);
          // Taking the owner role away is itself an owner's act.
          if (user.role_key === OWNER_ROLE) {
            assertThat(actor.kind === 'user' && actor.roleKey === OWNER_ROLE, forbidden('only an owner can change an owner'));
            await assertNotLastOwner(tx, user);
          }
        }
        return repo.updateUser(tx, id, { name: patch.name, roleKey: patch.role });
      });
      // A new role applies on the next request, on every node.
      await bus.publish({ type: 'user', tenantId: actor.tenantId, userId: id });
      return updated as repo.UserRow;
    },

    async deactivate(actor: TenantPrincipal, id: string) {
      assertId(id, 'user');
      const { user, sessionIds } = await db.withTenant(actor.tenantId, async (tx) => {
        const current = await repo.lockUser(tx, id);
        assertThat(current, notFound('user'));
        assertThat(!(actor.kind === 'user' && actor.userId === id), conflict('you cannot deactivate yourself'));
        if (current.role_key === OWNER_ROLE) {
          assertThat(actor.kind === 'user' && actor.roleKey === OWNER_ROLE, forbidden('only an owner can deactivate an owner'));
          await assertNotLastOwner(tx, current);
        }
        const user = (await repo.updateUser(tx, id, { status: 'deactivated' })) as repo.UserRow;
        const sessionIds = await revokeUserSessions(tx, id, 'user_deactivated');
        return { user, sessionIds };
      });
      await endSessions(actor.tenantId, id, sessionIds);
      return user;
    },

    async reactivate(actor: TenantPrincipal, id: string) {
      assertId(id, 'user');
      const user = await db.withTenant(actor.tenantId, async (tx) => {
        const current = await repo.lockUser(tx, id);
        assertThat(current, notFound('user'));
        if (current.status === 'active') return current;
        await assertCanAssign(tx, actor, current.role_key);
        await assertSeatAvailable(tx, actor.tenantId);
        const reactivated = (await repo.updateUser(tx, id, { status: 'active' })) as repo.UserRow;
        await seatsTaken(tx, actor.tenantId);
        return reactivated;
      });
      await bus.publish({ type: 'user', tenantId: actor.tenantId, userId: id });
      return user;
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
