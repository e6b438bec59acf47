import { LRUCache } from 'lru-cache';
import { roleGrants, type TenantPrincipal } from '../access/index.ts';
import type { Database } from '../../platform/db/database.ts';
import { AppError, assertThat } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { mintSecret, parseSecret } from '../../platform/secrets.ts';
import { insertSecurityEvent } from '../security-events/index.ts';
import type { TenantDirectory } from '../tenants/index.ts';
import { assertTenantUsable } from '../tenants/index.ts';
import { MAX_PASSWORD_BYTES, type PasswordHasher } from './passwords.ts';
import * as sessions from './sessions.repo.ts';
import { TENANT_AUDIENCE, type TokenService } from './tokens.ts';
import * as users from './users.repo.ts';

export const REFRESH_PREFIX = 'pzr';

export type TokenPair = { accessToken: string; refreshToken: string; expiresIn: number; tokenType: 'Bearer' };
export type ClientInfo = { ip: string | null; userAgent: string | null; requestId: string };

type CachedSession = {
  tenantId: string;
  userId: string;
  roleKey: string;
  permissions: ReadonlySet<string>;
  expiresAt: number;
};

const invalidCredentials = () => new AppError('invalid_credentials', 'the tenant, email or password is not correct');

export function createAuthService(deps: {
  db: Database;
  bus: InvalidationBus;
  tokens: TokenService;
  passwords: PasswordHasher;
  directory: TenantDirectory;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}) {
  const { db, bus, tokens, passwords, directory } = deps;

  // A session's trust facts, cached briefly and dropped on every node when the session, its user
  // or its tenant changes: a revoked session or deactivated user is refused on the next request.
  const sessionCache = new LRUCache<string, CachedSession>({ max: 100_000, ttl: 30_000 });
  bus.on((event) => {
    if (event.type === 'session') sessionCache.delete(event.sessionId);
    if (event.type === 'user' || event.type === 'tenant') {
      for (const [sid, entry] of sessionCache.entries()) {
        const match = event.type === 'user' ? entry.userId === event.userId : entry.tenantId === event.tenantId;
        if (match && entry.tenantId === event.tenantId) sessionCache.delete(sid);
      }
    }
  });

  async function issue(tenantId: string, userId: string, sessionId: string): Promise<TokenPair> {
    const accessToken = await tokens.sign({ sub: userId, tid: tenantId, sid: sessionId }, TENANT_AUDIENCE, deps.accessTtlSeconds);
    const refresh = mintSecret(REFRESH_PREFIX, tenantId);
    await db.withTenant(tenantId, (tx) =>
      sessions.insertRefreshToken(tx, {
        tenantId,
        id: uuidv7(),
        sessionId,
        hash: refresh.hash,
        expiresAt: new Date(Date.now() + deps.refreshTtlSeconds * 1000),
      }),
    );
    return { accessToken, refreshToken: refresh.value, expiresIn: deps.accessTtlSeconds, tokenType: 'Bearer' };
  }

  return {
    /**
     * Password login. An unknown tenant, an unknown email, a deactivated user and a wrong password
     * all answer the same 401 after the same Argon2id work, so none can be told apart (T14).
     */
    async login(input: { tenant: string; email: string; password: string }, client: ClientInfo): Promise<TokenPair> {
      assertThat(
        Buffer.byteLength(input.password, 'utf8') <= MAX_PASSWORD_BYTES,
        new AppError('validation_failed', `password must be at most ${MAX_PASSWORD_BYTES} bytes`, {
          errors: [{ path: 'body/password', message: 'too long' }],
        }),
      );
      const tenant = await directory.getBySlug(input.tenant.toLowerCase());
      const email = input.email.trim().toLowerCase();
      const user = tenant ? await db.withTenant(tenant.id, (tx) => users.findUserByEmail(tx, email)) : undefined;
      const ok = await passwords.verify(user?.password_hash, input.password);
      if (!tenant || !user || !ok || user.status !== 'active') {
        if (tenant && user) {
          await db.withTenant(tenant.id, (tx) =>
            insertSecurityEvent(tx, {
              tenantId: tenant.id,
              type: 'login_failed',
              severity: 'low',
              actorType: 'user',
              actorId: user.id,
              ip: client.ip,
              requestId: client.requestId,
              details: { reason: ok ? 'user_deactivated' : 'wrong_password' },
            }),
          );
        }
        throw invalidCredentials();
      }
      // Only someone who knows the password learns that the tenant is suspended.
      assertTenantUsable(tenant);
      const sessionId = uuidv7();
      const rehash = user.password_hash && passwords.needsRehash(user.password_hash) ? await passwords.hash(input.password) : null;
      await db.withTenant(tenant.id, async (tx) => {
        await sessions.insertSession(tx, {
          tenantId: tenant.id,
          id: sessionId,
          userId: user.id,
          expiresAt: new Date(Date.now() + deps.refreshTtlSeconds * 1000),
          ip: client.ip,
          userAgent: client.userAgent,
        });
        await users.recordLogin(tx, user.id, rehash);
      });
      return issue(tenant.id, user.id, sessionId);
    },

    /**
     * Rotates a refresh token. A token presented a second time means it was stolen or a client
     * raced itself: the whole session is revoked, so every token of the family stops working (T20).
     */
    async refresh(refreshToken: string, client: ClientInfo): Promise<TokenPair> {
      const invalid = () => new AppError('invalid_grant', 'the refresh token is not valid');
      const parsed = parseSecret(REFRESH_PREFIX, refreshToken);
      assertThat(parsed, invalid);
      const tenant = await directory.get(parsed.tenantId);
      assertThat(tenant, invalid);
      // Refused before the token is consumed, so it still works once the tenant is resumed.
      assertTenantUsable(tenant);
      type Outcome = { kind: 'reused'; sessionId: string } | { kind: 'invalid' } | { kind: 'ok'; sessionId: string; userId: string };
      const outcome = await db.withTenant(tenant.id, async (tx): Promise<Outcome> => {
        const consumed = await sessions.consumeRefreshToken(tx, parsed.hash);
        if (!consumed) {
          const known = await sessions.findRefreshToken(tx, parsed.hash);
          if (known?.used_at) {
            await sessions.revokeSession(tx, known.session_id, 'refresh_token_reuse');
            await insertSecurityEvent(tx, {
              tenantId: tenant.id,
              type: 'refresh_token_reuse',
              severity: 'high',
              ip: client.ip,
              requestId: client.requestId,
              details: { sessionId: known.session_id },
            });
            return { kind: 'reused', sessionId: known.session_id };
          }
          return { kind: 'invalid' };
        }
        const principal = await sessions.findSessionPrincipal(tx, consumed.session_id);
        if (!principal || principal.revoked_at || principal.expires_at.getTime() <= Date.now() || principal.user_status !== 'active') {
          return { kind: 'invalid' };
        }
        await sessions.touchSession(tx, consumed.session_id);
        return { kind: 'ok', sessionId: consumed.session_id, userId: principal.user_id };
      });
      if (outcome.kind === 'reused') {
        await bus.publish({ type: 'session', tenantId: tenant.id, sessionId: outcome.sessionId });
        throw invalid();
      }
      if (outcome.kind === 'invalid') throw invalid();
      return issue(tenant.id, outcome.userId, outcome.sessionId);
    },

    async logout(principal: TenantPrincipal) {
      if (principal.kind !== 'user') return;
      await db.withTenant(principal.tenantId, (tx) => sessions.revokeSession(tx, principal.sessionId, 'logout'));
      await bus.publish({ type: 'session', tenantId: principal.tenantId, sessionId: principal.sessionId });
    },

    /** Verifies an access token and the liveness of its session; undefined when either fails. */
    async resolveAccessToken(token: string): Promise<TenantPrincipal | undefined> {
      const claims = await tokens.verify(token, TENANT_AUDIENCE);
      if (!claims?.sid || !claims.tid || !claims.sub) return undefined;
      const sid: string = claims.sid;
      const tenantId: string = claims.tid;
      let entry = sessionCache.get(sid);
      if (!entry) {
        const row = await db.withTenant(tenantId, (tx) => sessions.findSessionPrincipal(tx, sid));
        if (!row || row.revoked_at || row.user_status !== 'active' || row.user_id !== claims.sub) return undefined;
        entry = {
          tenantId,
          userId: row.user_id,
          roleKey: row.role_key,
          permissions: new Set(roleGrants({ key: row.role_key, builtin: row.role_builtin, permissions: row.permissions })),
          expiresAt: row.expires_at.getTime(),
        };
        sessionCache.set(sid, entry);
      }
      if (entry.expiresAt <= Date.now() || entry.tenantId !== claims.tid || entry.userId !== claims.sub) return undefined;
      return {
        kind: 'user',
        tenantId: entry.tenantId,
        userId: entry.userId,
        sessionId: sid,
        roleKey: entry.roleKey,
        permissions: entry.permissions,
      };
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
