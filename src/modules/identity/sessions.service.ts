import { OWNER_ROLE, type TenantPrincipal } from '../access/index.ts';
import type { Database } from '../../platform/db/database.ts';
import { assertId, assertThat, forbidden, notFound } from '../../platform/errors.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { deviceLabel } from './device.ts';
import * as list from './session-list.repo.ts';
import { revokeUserSessions } from './sessions.repo.ts';
import * as users from './users.repo.ts';

export type SessionLifetime = { idleMs: number; absoluteMs: number };

/** After the commit: every node drops the ended sessions (and the user's cached trust) at once. */
export async function publishSessionsEnded(bus: InvalidationBus, tenantId: string, userId: string, sessionIds: string[]): Promise<void> {
  if (sessionIds.length === 0) return;
  await bus.publish({ type: 'user', tenantId, userId });
  for (const sessionId of sessionIds) await bus.publish({ type: 'session', tenantId, sessionId });
}

export function toSessionView(row: list.SessionViewRow, currentSessionId: string | null) {
  return {
    id: row.id,
    device: deviceLabel(row.user_agent),
    userAgent: row.user_agent,
    ip: row.ip,
    createdAt: row.created_at.toISOString(),
    lastSeenAt: row.last_seen_at.toISOString(),
    authTime: row.auth_time?.toISOString() ?? null,
    amr: row.amr,
    current: row.id === currentSessionId,
  };
}

const userOnly = () => forbidden('only a user session has sessions; an API key cannot use this route');

export function createSessionService(deps: {
  db: Database;
  bus: InvalidationBus;
  lifetime(tenantId: string): Promise<SessionLifetime>;
  clock?: () => number;
}) {
  const { db, bus } = deps;
  const now = () => deps.clock?.() ?? Date.now();

  function userOf(principal: TenantPrincipal) {
    assertThat(principal.kind === 'user', userOnly);
    return principal as Extract<TenantPrincipal, { kind: 'user' }>;
  }

  async function live(tenantId: string, userId: string, page: { after: string | null; limit: number }) {
    const lifetime = await deps.lifetime(tenantId);
    const at = now();
    return db.withTenant(tenantId, (tx) =>
      list.listLiveSessions(tx, userId, {
        now: new Date(at),
        idleSince: new Date(at - lifetime.idleMs),
        createdSince: new Date(at - lifetime.absoluteMs),
        ...page,
      }),
    );
  }

  /** An owner's sessions are ended only by an owner (as with deactivation). */
  function assertMayManage(actor: TenantPrincipal, target: users.UserRow) {
    if (target.role_key !== OWNER_ROLE) return;
    assertThat(actor.kind === 'user' && actor.roleKey === OWNER_ROLE, forbidden("only an owner can end an owner's sessions"));
  }

  return {
    async listOwn(principal: TenantPrincipal, page: { after: string | null; limit: number }) {
      const user = userOf(principal);
      return { rows: await live(user.tenantId, user.userId, page), current: user.sessionId };
    },

    async revokeOwn(principal: TenantPrincipal, sessionId: string): Promise<void> {
      // An API key has no sessions: any id is one it does not have (404, like a foreign id).
      assertThat(principal.kind === 'user', notFound('session'));
      const user = userOf(principal);
      assertId(sessionId, 'session');
      const ended = await db.withTenant(user.tenantId, (tx) => list.revokeUserSession(tx, user.userId, sessionId, 'revoked_by_user'));
      assertThat(ended, notFound('session'));
      await bus.publish({ type: 'session', tenantId: user.tenantId, sessionId });
    },

    /** Sign out everywhere else: every session of the user but this one. */
    async revokeOthers(principal: TenantPrincipal): Promise<number> {
      const user = userOf(principal);
      const ids = await db.withTenant(user.tenantId, (tx) => revokeUserSessions(tx, user.userId, 'signed_out_elsewhere', user.sessionId));
      await publishSessionsEnded(bus, user.tenantId, user.userId, ids);
      return ids.length;
    },

    async listOfUser(actor: TenantPrincipal, userId: string, page: { after: string | null; limit: number }) {
      assertId(userId, 'user');
      const target = await db.withTenant(actor.tenantId, (tx) => users.findUserById(tx, userId));
      assertThat(target, notFound('user'));
      return { rows: await live(actor.tenantId, userId, page), current: actor.kind === 'user' ? actor.sessionId : null };
    },

    /** Administrator's kill switch: ends every session of the user (T21). */
    async revokeAllOfUser(actor: TenantPrincipal, userId: string): Promise<number> {
      assertId(userId, 'user');
      const ids = await db.withTenant(actor.tenantId, async (tx) => {
        const target = await users.findUserById(tx, userId);
        assertThat(target, notFound('user'));
        assertMayManage(actor, target);
        return revokeUserSessions(tx, userId, 'revoked_by_admin');
      });
      await publishSessionsEnded(bus, actor.tenantId, userId, ids);
      return ids.length;
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
