import { LRUCache } from 'lru-cache';
import { type Condition, conditionMap, roleGrants, type TenantPrincipal } from '../access/index.ts';
import type { Database, Tx } from '../../platform/db/database.ts';
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

/** The password was right, but a second factor is needed before a session opens (src/modules/mfa). */
export type LoginChallenge = {
  mfaRequired: true;
  mfaToken: string;
  method: 'totp' | 'email' | 'totp_enrollment';
  expiresIn: number;
  otpauthUri?: string;
};
export type LoginResult = (TokenPair & { mfaEnrollmentDue?: string }) | LoginChallenge;

/**
 * What happens between a correct password and a session (second factor, adaptive risk, session
 * lifetimes of the tenant's security policy). Provided by the MFA module; absent, every correct
 * password opens a session that lives `refreshTtlSeconds`.
 */
export type LoginPolicy = {
  afterPassword(input: {
    tenantId: string;
    user: { id: string; email: string; role_key: string; created_at: Date };
    client: ClientInfo;
  }): Promise<LoginChallenge | { mfaEnrollmentDue?: string }>;
  /** Idle and absolute lifetimes of the tenant's sessions, in milliseconds. */
  sessionLifetime(tenantId: string): Promise<{ idleMs: number; absoluteMs: number }>;
};

type CachedSession = {
  tenantId: string;
  userId: string;
  roleKey: string;
  permissions: ReadonlySet<string>;
  conditions: ReadonlyMap<string, readonly Condition[]> | undefined;
  expiresAt: number;
  authTime: number | null;
  amr: string[];
};

/**
 * Login throttling and account locks (threat detection, F-B7). Method syntax: the attempt's type
 * belongs to the implementation.
 */
export type LoginProtection = {
  /** Throws (429) when the attempt must wait; called for every attempt, known account or not. */
  before(input: { tenant: string; email: string; ip: string | null }): Promise<unknown>;
  failed(attempt: unknown, outcome: { tenantId?: string; userId?: string; ip: string | null }): Promise<void>;
  succeeded(attempt: unknown): Promise<void>;
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
  loginPolicy?: LoginPolicy;
  /** Milliseconds since the epoch; tests inject a clock to pass session lifetimes (T22). */
  clock?: () => number;
  /** Refuses a correct password when the tenant requires single sign-on (sso_required). */
  assertPasswordLoginAllowed?: (tenantId: string, user: { id: string; role_key: string }, client: ClientInfo) => Promise<void>;
  loginProtection?: LoginProtection;
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
    // A changed custom role reaches every holder on their next request (T08).
    if (event.type === 'role') {
      for (const [sid, entry] of sessionCache.entries()) {
        if (entry.tenantId === event.tenantId && entry.roleKey === event.roleKey) sessionCache.delete(sid);
      }
    }
  });

  const now = () => deps.clock?.() ?? Date.now();

  /**
   * Signs an access token and stores a new refresh token, in the caller's transaction: a session
   * and its first refresh token, or a consumed refresh token and its successor, commit together.
   */
  async function issue(
    tx: Tx,
    tenantId: string,
    userId: string,
    sessionId: string,
    auth?: { authTime: Date | null; amr: string[] },
  ): Promise<TokenPair> {
    // auth_time and amr (OIDC claims) say when and how the session last authenticated (step-up).
    const authClaims = auth ? { auth_time: auth.authTime ? Math.floor(auth.authTime.getTime() / 1000) : 0, amr: auth.amr } : {};
    const accessToken = await tokens.sign(
      { sub: userId, tid: tenantId, sid: sessionId, ...authClaims },
      TENANT_AUDIENCE,
      deps.accessTtlSeconds,
    );
    const refresh = mintSecret(REFRESH_PREFIX, tenantId);
    await sessions.insertRefreshToken(tx, {
      tenantId,
      id: uuidv7(),
      sessionId,
      hash: refresh.hash,
      expiresAt: new Date(Date.now() + deps.refreshTtlSeconds * 1000),
    });
    return { accessToken, refreshToken: refresh.value, expiresIn: deps.accessTtlSeconds, tokenType: 'Bearer' };
  }

  /** Opens a session for an authenticated user and issues its first token pair. */
  async function openSession(
    tenantId: string,
    userId: string,
    client: ClientInfo,
    amr: string[],
    rehash: string | null = null,
  ): Promise<TokenPair> {
    const sessionId = uuidv7();
    const lifetime = await deps.loginPolicy?.sessionLifetime(tenantId);
    const lifeMs = Math.min(deps.refreshTtlSeconds * 1000, lifetime?.absoluteMs ?? Number.POSITIVE_INFINITY);
    return db.withTenant(tenantId, async (tx) => {
      await sessions.insertSession(tx, {
        tenantId,
        id: sessionId,
        userId,
        expiresAt: new Date(now() + lifeMs),
        ip: client.ip,
        userAgent: client.userAgent,
        amr,
        at: deps.clock ? new Date(now()) : undefined,
      });
      await users.recordLogin(tx, userId, rehash);
      return issue(tx, tenantId, userId, sessionId, { authTime: new Date(now()), amr });
    });
  }

  return {
    openSession,

    /**
     * Password login. An unknown tenant, an unknown email, a deactivated user and a wrong password
     * all answer the same 401 after the same Argon2id work, so none can be told apart (T14).
     */
    async login(input: { tenant: string; email: string; password: string }, client: ClientInfo): Promise<LoginResult> {
      assertThat(
        Buffer.byteLength(input.password, 'utf8') <= MAX_PASSWORD_BYTES,
        new AppError('validation_failed', `password must be at most ${MAX_PASSWORD_BYTES} bytes`, {
          errors: [{ path: 'body/password', message: 'too long' }],
        }),
      );
      // Throttled before any lookup, so an unknown account waits exactly like a real one (T13, T14).
      const attempt = await deps.loginProtection?.before({ tenant: input.tenant, email: input.email, ip: client.ip });
      const tenant = await directory.getBySlug(input.tenant.toLowerCase());
      const email = input.email.trim().toLowerCase();
      const user = tenant ? await db.withTenant(tenant.id, (tx) => users.findLoginUser(tx, email)) : undefined;
      const ok = await passwords.verify(user?.password_hash, input.password);
      // A locked account answers like a wrong password (only someone who knows the password gets here).
      const locked = ok && user ? user.locked : false;
      if (!tenant || !user || !ok || user.status !== 'active' || locked) {
        await deps.loginProtection?.failed(attempt, { tenantId: tenant?.id, userId: user?.id, ip: client.ip });
        // Recorded for unknown accounts of the tenant too: the same write either way keeps the
        // timing of both answers alike (T14), and stuffing with unknown emails shows in the events.
        if (tenant) {
          await db.withTenant(tenant.id, (tx) =>
            insertSecurityEvent(tx, {
              tenantId: tenant.id,
              type: 'login_failed',
              severity: 'low',
              actorType: user ? 'user' : null,
              actorId: user?.id ?? null,
              ip: client.ip,
              requestId: client.requestId,
              details: { reason: !user ? 'unknown_account' : locked ? 'account_locked' : ok ? 'user_deactivated' : 'wrong_password' },
            }),
          );
        }
        throw invalidCredentials();
      }
      // Only someone who knows the password learns that the tenant is suspended.
      assertTenantUsable(tenant);
      // A tenant that requires single sign-on refuses even a correct password (sso_required).
      await deps.assertPasswordLoginAllowed?.(tenant.id, user, client);
      // The password was right: the account's failure count starts again.
      await deps.loginProtection?.succeeded(attempt);
      // A second factor, an enrolment or an adaptive challenge may stand between the password and a session.
      const decision = deps.loginPolicy ? await deps.loginPolicy.afterPassword({ tenantId: tenant.id, user, client }) : {};
      if ('mfaRequired' in decision) return decision;
      const rehash = user.password_hash && passwords.needsRehash(user.password_hash) ? await passwords.hash(input.password) : null;
      const pair = await openSession(tenant.id, user.id, client, ['pwd'], rehash);
      return decision.mfaEnrollmentDue ? { ...pair, mfaEnrollmentDue: decision.mfaEnrollmentDue } : pair;
    },

    /** Opens a session for a user whose identity another module proved (single sign-on). */
    async startSession(tenantId: string, userId: string, client: ClientInfo): Promise<TokenPair> {
      // The identity provider authenticated the user just now: the session's auth time is now.
      return openSession(tenantId, userId, client, ['sso']);
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
      type Outcome =
        | { kind: 'reused'; sessionId: string }
        | { kind: 'invalid' }
        | { kind: 'expired'; sessionId: string; reason: string }
        | { kind: 'ok'; pair: TokenPair };
      const lifetime = await deps.loginPolicy?.sessionLifetime(tenant.id);
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
        // Idle and absolute lifetimes of the tenant's security policy, as it is now (T22).
        if (lifetime) {
          const at = now();
          const reason =
            at - principal.created_at.getTime() > lifetime.absoluteMs
              ? 'absolute_timeout'
              : at - principal.last_seen_at.getTime() > lifetime.idleMs
                ? 'idle_timeout'
                : null;
          if (reason) {
            await sessions.revokeSession(tx, consumed.session_id, reason);
            return { kind: 'expired', sessionId: consumed.session_id, reason };
          }
        }
        await sessions.touchSession(tx, consumed.session_id, deps.clock ? new Date(now()) : undefined);
        // The successor is stored in the transaction that consumed its predecessor: rotation is atomic.
        const pair = await issue(tx, tenant.id, principal.user_id, consumed.session_id, {
          authTime: principal.auth_time,
          amr: principal.amr,
        });
        return { kind: 'ok', pair };
      });
      if (outcome.kind === 'reused') {
        await bus.publish({ type: 'session', tenantId: tenant.id, sessionId: outcome.sessionId });
        throw invalid();
      }
      if (outcome.kind === 'invalid') throw invalid();
      if (outcome.kind === 'expired') {
        await bus.publish({ type: 'session', tenantId: tenant.id, sessionId: outcome.sessionId });
        throw new AppError('invalid_grant', `the session has expired (${outcome.reason}); log in again`, { reason: outcome.reason });
      }
      return outcome.pair;
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
          conditions: row.role_builtin ? undefined : conditionMap(row.role_conditions),
          expiresAt: row.expires_at.getTime(),
          authTime: row.auth_time?.getTime() ?? null,
          amr: row.amr,
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
        authTime: entry.authTime,
        amr: entry.amr,
        ...(entry.conditions ? { conditions: entry.conditions } : {}),
      };
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
