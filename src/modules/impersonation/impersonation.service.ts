import { decodeJwt } from 'jose';
import { roleGrants, type TenantPrincipal } from '../access/index.ts';
import type { Database } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, conflict, notFound } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { findUserById, type TokenService } from '../identity/index.ts';
import { insertSecurityEvent } from '../security-events/index.ts';
import { assertTenantUsable, type TenantDirectory } from '../tenants/index.ts';
import * as repo from './impersonation.repo.ts';

/**
 * Impersonation tokens have their own audience: the operator guard (audience palazzo:operator)
 * refuses them, so they never reach /v1/operator/*, and the tenant session path never mistakes them
 * for a user's session. They come with no refresh token.
 */
export const IMPERSONATION_AUDIENCE = 'palazzo:impersonation';
export const MAX_IMPERSONATION_MINUTES = 60;
/** Without a named user the operator acts with the built-in admin role (never owner). */
export const DEFAULT_IMPERSONATION_ROLE = 'admin';

export function createImpersonationService(deps: { db: Database; tokens: TokenService; directory: TenantDirectory }) {
  const { db, tokens, directory } = deps;

  return {
    async start(
      operatorId: string,
      tenantId: string,
      input: { reason: string; userId?: string; minutes: number },
      client: { ip: string | null; requestId: string },
    ) {
      assertId(tenantId, 'tenant');
      const tenant = await directory.get(tenantId);
      assertThat(tenant, notFound('tenant'));
      assertTenantUsable(tenant);
      const minutes = Math.min(input.minutes, MAX_IMPERSONATION_MINUTES);
      const reason = input.reason.trim();
      assertThat(
        reason.length > 0,
        new AppError('validation_failed', 'reason must not be blank', { errors: [{ path: 'body/reason', message: 'blank' }] }),
      );
      const id = uuidv7();
      const expiresAt = new Date(Date.now() + minutes * 60_000);
      const { userId, roleKey } = await db.withTenant(tenantId, async (tx) => {
        let userId: string | null = null;
        let roleKey = DEFAULT_IMPERSONATION_ROLE;
        if (input.userId !== undefined) {
          assertId(input.userId, 'user');
          const user = await findUserById(tx, input.userId);
          assertThat(user, notFound('user'));
          assertThat(user.status === 'active', conflict('the user is deactivated'));
          userId = user.id;
          roleKey = user.role_key;
        }
        await repo.insertGrant(tx, { tenantId, id, operatorId, reason, userId, roleKey, expiresAt });
        await insertSecurityEvent(tx, {
          tenantId,
          type: 'impersonation_started',
          severity: 'high',
          actorType: 'operator',
          actorId: operatorId,
          ip: client.ip,
          requestId: client.requestId,
          details: { impersonationId: id, reason, userId, role: roleKey, minutes, expiresAt: expiresAt.toISOString() },
        });
        return { userId, roleKey };
      });
      // RFC 8693 `act`: the token names who really acts. `sid` is the grant, checked on every request.
      const accessToken = await tokens.sign(
        { sub: userId ?? operatorId, tid: tenantId, sid: id, act: { sub: operatorId } },
        IMPERSONATION_AUDIENCE,
        minutes * 60,
      );
      return {
        accessToken,
        tokenType: 'Bearer' as const,
        expiresIn: minutes * 60,
        expiresAt: expiresAt.toISOString(),
        impersonationId: id,
        tenantId,
        userId,
        role: roleKey,
      };
    },

    /** True when the token claims the impersonation audience (verified afterwards by `resolve`). */
    isImpersonationToken(token: string): boolean {
      try {
        const aud = decodeJwt(token).aud;
        return aud === IMPERSONATION_AUDIENCE || (Array.isArray(aud) && aud.includes(IMPERSONATION_AUDIENCE));
      } catch {
        return false;
      }
    },

    /** Verifies the token and its grant (unexpired, unrevoked, user still active); read on every request. */
    async resolve(token: string): Promise<TenantPrincipal | undefined> {
      const claims = await tokens.verify(token, IMPERSONATION_AUDIENCE);
      const act = claims?.act as { sub?: unknown } | undefined;
      if (!claims?.sid || !claims.tid || !claims.sub || typeof act?.sub !== 'string') return undefined;
      const grantId: string = claims.sid;
      const tenantId: string = claims.tid;
      const row = await db.withTenant(tenantId, (tx) => repo.findGrantPrincipal(tx, grantId));
      if (!row || row.revoked_at || row.expires_at.getTime() <= Date.now() || row.operator_id !== act.sub) return undefined;
      if (row.user_id !== null && (row.user_status !== 'active' || row.user_id !== claims.sub)) return undefined;
      if (row.role_builtin === null) return undefined;
      return {
        kind: 'user',
        tenantId,
        userId: row.user_id ?? row.operator_id,
        sessionId: row.id,
        roleKey: row.role_key,
        permissions: new Set(roleGrants({ key: row.role_key, builtin: row.role_builtin, permissions: row.permissions ?? [] })),
        impersonator: { operatorId: row.operator_id, reason: row.reason },
      };
    },
  };
}

export type ImpersonationService = ReturnType<typeof createImpersonationService>;
