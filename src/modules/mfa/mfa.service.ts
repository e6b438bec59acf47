import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { findRole, OWNER_ROLE, roleGrants, type TenantPrincipal } from '../access/index.ts';
import type { EffectiveConfig } from '../config/index.ts';
import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, conflict, forbidden, notFound } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { mintSecret, parseSecret } from '../../platform/secrets.ts';
import {
  type ClientInfo,
  deviceLabel,
  findUserById,
  hasAdminScope,
  type LoginChallenge,
  listRecentClients,
  networkOf,
  type PasswordHasher,
  publishSessionsEnded,
  revokeUserSessions,
  type StepUp,
  type TokenPair,
  updateAuthTime,
} from '../identity/index.ts';
import { insertSecurityEvent } from '../security-events/index.ts';
import { assertTenantUsable, type TenantDirectory } from '../tenants/index.ts';
import * as repo from './mfa.repo.ts';
import { hashRecoveryCode, newRecoveryCode, normalizeRecoveryCode, RECOVERY_CODE_COUNT, recoveryCodeMatches } from './recovery-codes.ts';
import { isTotpShape, matchTotpStep, newTotpSecret, openTotpSecret, otpauthUri, sealTotpSecret } from './totp.ts';

export const MFA_TOKEN_PREFIX = 'pzm';
/** Lifetime of an mfaToken: long enough to open an authenticator app or a mailbox. */
export const CHALLENGE_TTL_SECONDS = { totp: 300, totp_enrollment: 600, email: 600 } as const;
/** Wrong codes accepted on one mfaToken before it stops working. */
export const MAX_ATTEMPTS_PER_CHALLENGE = 5;
/** Wrong codes (second factor or re-authentication) per user in FAILURE_WINDOW_MS before refusals (429). */
export const MAX_FAILURES_PER_USER = 10;
export const FAILURE_WINDOW_MS = 15 * 60_000;
/** Failed password logins in FAILURE_WINDOW_MS that make the next correct one risky (adaptive MFA). */
export const RISKY_LOGIN_FAILURES = 5;
/** How far back past sessions count as the user's known devices and networks. */
export const KNOWN_CLIENT_DAYS = 90;

const FAILURE_EVENTS = ['mfa_failed', 'reauth_failed'];

export type OneTimeCodeMessage = { tenantId: string; userId: string; email: string; code: string; locale: string };
/** Sends an email one-time code in the caller's transaction (the mail module's outbox); throws to refuse. */
export type SendOneTimeCode = (tx: Tx, message: OneTimeCodeMessage) => Promise<void>;

type UserPrincipal = Extract<TenantPrincipal, { kind: 'user' }>;
type Decision = 'allow' | 'totp' | 'totp_enrollment' | 'email';
type Verified = { amr: string[]; recoveryCodes?: string[] };

export type RiskSignals = {
  firstLogin: boolean;
  newDevice: boolean;
  newNetwork: boolean;
  recentFailures: number;
  device: string;
  network: string | null;
};

const invalidMfaToken = () => new AppError('invalid_mfa_token', 'the MFA token is not valid, expired or already used; log in again');
const userOnly = () => forbidden('only a user session can manage its second factor; an API key cannot');
const throttled = () =>
  new AppError('rate_limited', 'too many wrong codes; wait before trying again', { retryAfterSeconds: FAILURE_WINDOW_MS / 1000 });

function emailCodeHash(challengeId: string, code: string): string {
  return createHash('sha256').update(`${challengeId}:${code}`).digest('base64url');
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createMfaService(deps: {
  db: Database;
  bus: InvalidationBus;
  directory: TenantDirectory;
  passwords: PasswordHasher;
  masterKey: Buffer;
  security(tenantId: string): Promise<EffectiveConfig['security']>;
  stepUp: StepUp;
  openSession(tenantId: string, userId: string, client: ClientInfo, amr: string[]): Promise<TokenPair>;
  sendOneTimeCode: SendOneTimeCode;
  /** Milliseconds since the epoch; tests inject a clock to walk TOTP steps (T15). */
  clock?: () => number;
}) {
  const { db, bus, directory, masterKey } = deps;
  const now = () => deps.clock?.() ?? Date.now();

  function userOf(principal: TenantPrincipal): UserPrincipal {
    assertThat(principal.kind === 'user', userOnly);
    return principal as UserPrincipal;
  }

  async function issuerOf(tenantId: string): Promise<string> {
    const tenant = await directory.get(tenantId);
    return tenant ? `Palazzo (${tenant.slug})` : 'Palazzo';
  }

  async function failuresOf(tx: Tx, userId: string): Promise<number> {
    return repo.countRecentFailures(tx, userId, FAILURE_EVENTS, FAILURE_WINDOW_MS);
  }

  async function recordFailure(tx: Tx, tenantId: string, userId: string, type: string, client: ClientInfo, details = {}) {
    await insertSecurityEvent(tx, {
      tenantId,
      type,
      severity: 'low',
      actorType: 'user',
      actorId: userId,
      ip: client.ip,
      requestId: client.requestId,
      details,
    });
  }

  /** Ten new single-use recovery codes; the old ones stop working. Only hashes are stored. */
  async function newRecoveryCodes(tx: Tx, tenantId: string, userId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await repo.replaceRecoveryCodes(
      tx,
      tenantId,
      userId,
      codes.map((code) => ({ id: uuidv7(), hash: hashRecoveryCode(code) })),
    );
    return codes;
  }

  /**
   * A code of the user's active TOTP factor (each time step accepted once, never an older one after a
   * newer one), or one of their unused recovery codes (then used up). Null when it is neither.
   */
  async function verifyFactor(tx: Tx, tenantId: string, userId: string, code: string): Promise<Verified | null> {
    const factor = await repo.findTotp(tx, userId);
    if (!factor || factor.status !== 'active') return null;
    if (isTotpShape(code)) {
      const step = matchTotpStep(openTotpSecret(masterKey, tenantId, userId, factor.secret_sealed), code, now());
      if (step === null || !(await repo.useTotpStep(tx, userId, step, 'active'))) return null;
      return { amr: ['pwd', 'otp', 'mfa'] };
    }
    const normalized = normalizeRecoveryCode(code);
    if (!normalized) return null;
    for (const candidate of await repo.listUnusedRecoveryCodes(tx, userId)) {
      if (recoveryCodeMatches(candidate.code_hash, normalized)) {
        return (await repo.useRecoveryCode(tx, candidate.id)) ? { amr: ['pwd', 'mfa', 'rc'] } : null;
      }
    }
    return null;
  }

  /** Confirms a pending factor with its first code; it becomes active and gets recovery codes. */
  async function confirmPending(tx: Tx, tenantId: string, userId: string, code: string): Promise<Verified | null> {
    const factor = await repo.findTotp(tx, userId);
    if (!factor || factor.status !== 'pending') return null;
    const step = matchTotpStep(openTotpSecret(masterKey, tenantId, userId, factor.secret_sealed), code, now());
    if (step === null || !(await repo.useTotpStep(tx, userId, step, 'pending'))) return null;
    return { amr: ['pwd', 'otp', 'mfa'], recoveryCodes: await newRecoveryCodes(tx, tenantId, userId) };
  }

  async function riskSignals(tx: Tx, userId: string, client: ClientInfo): Promise<RiskSignals> {
    const at = now();
    const history = await listRecentClients(tx, userId, new Date(at - KNOWN_CLIENT_DAYS * 86_400_000));
    const recentFailures = await repo.countRecentFailures(tx, userId, ['login_failed'], FAILURE_WINDOW_MS);
    const device = deviceLabel(client.userAgent);
    const network = networkOf(client.ip);
    // The first login has nothing to compare with: it sets the baseline rather than being challenged.
    if (history.length === 0) return { firstLogin: true, newDevice: false, newNetwork: false, recentFailures, device, network };
    return {
      firstLogin: false,
      newDevice: !history.some((h) => deviceLabel(h.user_agent) === device),
      newNetwork: network !== null && !history.some((h) => networkOf(h.ip) === network),
      recentFailures,
      device,
      network,
    };
  }

  async function isAdmin(tx: Tx, roleKey: string): Promise<boolean> {
    const role = await findRole(tx, roleKey);
    return role ? hasAdminScope(roleGrants(role)) : false;
  }

  /** After the change of a second factor, the user's other sessions end (T21, T22). */
  async function factorChanged(tx: Tx, user: UserPrincipal, type: 'mfa_enrolled' | 'mfa_disabled' | 'mfa_recovery_codes_renewed') {
    const ended = type === 'mfa_recovery_codes_renewed' ? [] : await revokeUserSessions(tx, user.userId, 'mfa_changed', user.sessionId);
    await insertSecurityEvent(tx, {
      tenantId: user.tenantId,
      type,
      severity: type === 'mfa_disabled' ? 'medium' : 'info',
      actorType: 'user',
      actorId: user.userId,
      details: { endedSessions: ended.length },
    });
    return ended;
  }

  type ChallengeUser = { id: string; email: string };

  /** Opens a login challenge: an mfaToken, and for email an emailed code, for enrolment a pending secret. */
  async function createChallenge(
    tenantId: string,
    user: ChallengeUser,
    method: repo.ChallengeMethod,
    signals: Record<string, unknown>,
    client: ClientInfo,
  ): Promise<LoginChallenge> {
    const token = mintSecret(MFA_TOKEN_PREFIX, tenantId);
    const id = uuidv7();
    const ttl = CHALLENGE_TTL_SECONDS[method];
    const issuer = method === 'totp_enrollment' ? await issuerOf(tenantId) : '';
    return db.withTenant(tenantId, async (tx) => {
      let uri: string | undefined;
      let codeHash: string | null = null;
      if (method === 'totp_enrollment') {
        const secret = newTotpSecret();
        await repo.upsertPendingTotp(tx, tenantId, user.id, sealTotpSecret(masterKey, tenantId, user.id, secret));
        uri = otpauthUri(secret, issuer, user.email);
      }
      if (method === 'email') {
        const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
        codeHash = emailCodeHash(id, code);
        const locale = (await repo.findUserLocale(tx, user.id)) ?? 'en';
        // In this transaction: if the mail cannot be queued, no challenge exists and the login is refused.
        await deps.sendOneTimeCode(tx, { tenantId, userId: user.id, email: user.email, code, locale });
      }
      await repo.deleteStaleChallenges(tx, user.id);
      await repo.insertChallenge(tx, {
        tenantId,
        id,
        userId: user.id,
        tokenHash: token.hash,
        method,
        codeHash,
        signals,
        ip: client.ip,
        userAgent: client.userAgent,
        expiresAt: new Date(now() + ttl * 1000),
      });
      return { mfaRequired: true as const, mfaToken: token.value, method, expiresIn: ttl, ...(uri ? { otpauthUri: uri } : {}) };
    });
  }

  /** Whether the tenant policy requires a factor of this account, and whether its grace period is over. */
  async function enrolmentDue(tx: Tx, security: EffectiveConfig['security'], user: { role_key: string; created_at: Date }) {
    const required = security.mfa === 'everyone' || (security.mfa === 'admins' && (await isAdmin(tx, user.role_key)));
    const graceEnds = user.created_at.getTime() + security.mfaEnrollmentGraceDays * 86_400_000;
    // No grace (0 days) means due at once, whatever the clocks say about the account's creation.
    return { required, graceEnds, due: required && (security.mfaEnrollmentGraceDays === 0 || now() >= graceEnds) };
  }

  return {
    /**
     * Whether the tenant's policy requires a second factor of a user with this role. Single sign-on
     * asks it of the identity provider's assertion (amr/acr) instead of a local factor.
     */
    async requiredFor(tenantId: string, roleKey: string): Promise<boolean> {
      const security = await deps.security(tenantId);
      if (security.mfa === 'off') return false;
      if (security.mfa === 'everyone') return true;
      return db.withTenant(tenantId, (tx) => isAdmin(tx, roleKey));
    },

    /**
     * The login policy (see LoginPolicy in the identity module): after a correct password, decide
     * whether a second factor is needed. An enrolled factor is always asked for; a tenant policy that
     * requires MFA asks for enrolment once the account's grace period is over; otherwise a login from
     * a new device or network, or after recent failures, gets an email code. The signals and the
     * decision are recorded as a `login_risk` security event.
     */
    async afterPassword(input: {
      tenantId: string;
      user: { id: string; email: string; role_key: string; created_at: Date };
      client: ClientInfo;
    }): Promise<LoginChallenge | { mfaEnrollmentDue?: string }> {
      const { tenantId, user, client } = input;
      const security = await deps.security(tenantId);
      const assessed = await db.withTenant(tenantId, async (tx) => {
        const factor = await repo.findTotp(tx, user.id);
        const enrolled = factor?.status === 'active';
        const { required, graceEnds, due } = await enrolmentDue(tx, security, user);
        const signals = security.adaptiveMfa ? await riskSignals(tx, user.id, client) : null;
        const risky = !!signals && (signals.newDevice || signals.newNetwork || signals.recentFailures >= RISKY_LOGIN_FAILURES);
        // A risky login proves the mailbox before it may enrol a factor (the enrolment follows the email code).
        const decision: Decision = enrolled ? 'totp' : risky ? 'email' : due ? 'totp_enrollment' : 'allow';
        await insertSecurityEvent(tx, {
          tenantId,
          type: 'login_risk',
          severity: risky ? 'medium' : 'info',
          actorType: 'user',
          actorId: user.id,
          ip: client.ip,
          requestId: client.requestId,
          details: { decision, signals, risky, mfaPolicy: security.mfa, mfaRequired: required, enrolled },
        });
        return { decision, signals, required, graceEnds };
      });
      const { decision } = assessed;
      if (decision === 'allow') {
        return assessed.required ? { mfaEnrollmentDue: new Date(assessed.graceEnds).toISOString() } : {};
      }

      return createChallenge(tenantId, user, decision, assessed.signals ?? {}, client);
    },

    /**
     * Second step of a login: the mfaToken and a code (TOTP, recovery code, the emailed code, or the
     * first code of a factor being enrolled). Wrong codes are counted per token and per user.
     */
    async complete(
      input: { mfaToken: string; code: string },
      client: ClientInfo,
    ): Promise<(TokenPair & { recoveryCodes?: string[] }) | LoginChallenge> {
      const parsed = parseSecret(MFA_TOKEN_PREFIX, input.mfaToken);
      assertThat(parsed, invalidMfaToken);
      const tenant = await directory.get(parsed.tenantId);
      assertThat(tenant, invalidMfaToken);
      assertTenantUsable(tenant);
      const code = input.code.trim();
      const security = await deps.security(tenant.id);
      type Outcome =
        | { kind: 'enrol'; user: ChallengeUser; signals: Record<string, unknown> }
        | { kind: 'invalid' }
        | { kind: 'throttled' }
        | { kind: 'wrong'; attemptsLeft: number }
        | { kind: 'ok'; userId: string; verified: Verified; ended: string[] };
      const outcome = await db.withTenant(tenant.id, async (tx): Promise<Outcome> => {
        const challenge = await repo.lockChallenge(tx, parsed.hash);
        if (!challenge || challenge.used_at || challenge.expires_at.getTime() <= now()) return { kind: 'invalid' };
        if (challenge.attempts >= MAX_ATTEMPTS_PER_CHALLENGE) return { kind: 'invalid' };
        const user = await findUserById(tx, challenge.user_id);
        if (!user || user.status !== 'active') return { kind: 'invalid' };
        if ((await failuresOf(tx, user.id)) >= MAX_FAILURES_PER_USER) return { kind: 'throttled' };
        let verified: Verified | null = null;
        if (challenge.method === 'totp') verified = await verifyFactor(tx, tenant.id, user.id, code);
        else if (challenge.method === 'totp_enrollment') verified = await confirmPending(tx, tenant.id, user.id, code);
        else if (/^\d{6}$/.test(code) && challenge.code_hash && sameHash(challenge.code_hash, emailCodeHash(challenge.id, code))) {
          verified = { amr: ['pwd', 'email'] };
        }
        if (!verified) {
          await repo.countFailedAttempt(tx, challenge.id);
          await recordFailure(tx, tenant.id, user.id, 'mfa_failed', client, { method: challenge.method, challengeId: challenge.id });
          return { kind: 'wrong', attemptsLeft: Math.max(0, MAX_ATTEMPTS_PER_CHALLENGE - challenge.attempts - 1) };
        }
        if (!(await repo.useChallenge(tx, challenge.id))) return { kind: 'invalid' };
        // The emailed code proved the mailbox of a risky login; a factor the policy requires comes next.
        if (challenge.method === 'email' && (await enrolmentDue(tx, security, user)).due) {
          return { kind: 'enrol', user: { id: user.id, email: user.email }, signals: challenge.signals };
        }
        if (verified.amr.includes('rc')) {
          // A recovery code stands in for a lost device: worth the user's (and admin's) attention.
          await insertSecurityEvent(tx, {
            tenantId: tenant.id,
            type: 'mfa_recovery_code_used',
            severity: 'medium',
            actorType: 'user',
            actorId: user.id,
            ip: client.ip,
            requestId: client.requestId,
            details: { remaining: await repo.countUnusedRecoveryCodes(tx, user.id) },
          });
        }
        let ended: string[] = [];
        if (verified.recoveryCodes) {
          ended = await revokeUserSessions(tx, user.id, 'mfa_changed');
          await insertSecurityEvent(tx, {
            tenantId: tenant.id,
            type: 'mfa_enrolled',
            severity: 'info',
            actorType: 'user',
            actorId: user.id,
            ip: client.ip,
            requestId: client.requestId,
            details: { during: 'login', endedSessions: ended.length },
          });
        }
        return { kind: 'ok', userId: user.id, verified, ended };
      });
      if (outcome.kind === 'invalid') throw invalidMfaToken();
      if (outcome.kind === 'throttled') throw throttled();
      if (outcome.kind === 'enrol') return createChallenge(tenant.id, outcome.user, 'totp_enrollment', outcome.signals, client);
      if (outcome.kind === 'wrong') {
        throw new AppError('invalid_mfa_code', 'the code is not valid', { attemptsLeft: outcome.attemptsLeft });
      }
      await publishSessionsEnded(bus, tenant.id, outcome.userId, outcome.ended);
      const pair = await deps.openSession(tenant.id, outcome.userId, client, outcome.verified.amr);
      return outcome.verified.recoveryCodes ? { ...pair, recoveryCodes: outcome.verified.recoveryCodes } : pair;
    },

    async status(principal: TenantPrincipal) {
      const user = userOf(principal);
      return db.withTenant(user.tenantId, async (tx) => {
        const factor = await repo.findTotp(tx, user.userId);
        return {
          totp: {
            status: factor?.status ?? ('none' as const),
            confirmedAt: factor?.confirmed_at?.toISOString() ?? null,
          },
          recoveryCodesRemaining: factor?.status === 'active' ? await repo.countUnusedRecoveryCodes(tx, user.userId) : 0,
        };
      });
    },

    /** Starts enrolment (step-up): a new pending secret, returned as an otpauth:// URI once. */
    async startTotp(principal: TenantPrincipal): Promise<{ otpauthUri: string; secret: string }> {
      const user = userOf(principal);
      await deps.stepUp.assertRecent(user);
      const issuer = await issuerOf(user.tenantId);
      return db.withTenant(user.tenantId, async (tx) => {
        const account = await findUserById(tx, user.userId);
        assertThat(account, notFound('user'));
        const factor = await repo.findTotp(tx, user.userId);
        assertThat(factor?.status !== 'active', conflict('a TOTP factor is already enrolled; disable it first'));
        const secret = newTotpSecret();
        await repo.upsertPendingTotp(tx, user.tenantId, user.userId, sealTotpSecret(masterKey, user.tenantId, user.userId, secret));
        return { otpauthUri: otpauthUri(secret, issuer, account.email), secret };
      });
    },

    /** Confirms enrolment with a first code; answers the ten recovery codes (shown once) and ends other sessions. */
    async confirmTotp(principal: TenantPrincipal, code: string, client: ClientInfo): Promise<{ recoveryCodes: string[] }> {
      const user = userOf(principal);
      await deps.stepUp.assertRecent(user);
      type Outcome = { kind: 'none' } | { kind: 'throttled' } | { kind: 'wrong' } | { kind: 'ok'; codes: string[]; ended: string[] };
      const outcome = await db.withTenant(user.tenantId, async (tx): Promise<Outcome> => {
        const factor = await repo.findTotp(tx, user.userId);
        if (factor?.status !== 'pending') return { kind: 'none' };
        if ((await failuresOf(tx, user.userId)) >= MAX_FAILURES_PER_USER) return { kind: 'throttled' };
        const verified = await confirmPending(tx, user.tenantId, user.userId, code.trim());
        if (!verified?.recoveryCodes) {
          await recordFailure(tx, user.tenantId, user.userId, 'mfa_failed', client, { method: 'totp_enrollment' });
          return { kind: 'wrong' };
        }
        await updateAuthTime(tx, user.sessionId, ['otp', 'mfa'], new Date(now()));
        const ended = await factorChanged(tx, user, 'mfa_enrolled');
        return { kind: 'ok', codes: verified.recoveryCodes, ended };
      });
      if (outcome.kind === 'none') throw conflict('no TOTP enrolment is in progress: POST /v1/me/mfa/totp first');
      if (outcome.kind === 'throttled') throw throttled();
      if (outcome.kind === 'wrong') throw new AppError('invalid_mfa_code', 'the code is not valid');
      await publishSessionsEnded(bus, user.tenantId, user.userId, [...outcome.ended, user.sessionId]);
      return { recoveryCodes: outcome.codes };
    },

    /** Removes the TOTP factor and recovery codes (step-up); other sessions end. */
    async disableTotp(principal: TenantPrincipal): Promise<void> {
      const user = userOf(principal);
      await deps.stepUp.assertRecent(user);
      const ended = await db.withTenant(user.tenantId, async (tx) => {
        const removed = await repo.deleteTotp(tx, user.userId);
        assertThat(removed, notFound('TOTP factor'));
        return factorChanged(tx, user, 'mfa_disabled');
      });
      await publishSessionsEnded(bus, user.tenantId, user.userId, ended);
    },

    /** Ten new recovery codes (step-up); the earlier ones stop working. */
    async renewRecoveryCodes(principal: TenantPrincipal): Promise<{ recoveryCodes: string[] }> {
      const user = userOf(principal);
      await deps.stepUp.assertRecent(user);
      return db.withTenant(user.tenantId, async (tx) => {
        const factor = await repo.findTotp(tx, user.userId);
        assertThat(factor?.status === 'active', conflict('recovery codes need an enrolled TOTP factor'));
        const recoveryCodes = await newRecoveryCodes(tx, user.tenantId, user.userId);
        await factorChanged(tx, user, 'mfa_recovery_codes_renewed');
        return { recoveryCodes };
      });
    },

    /**
     * An administrator removes a user's second factor (a lost phone); the user's sessions end and the
     * next login follows the tenant policy. Sensitive: needs step-up; an owner's only by an owner.
     */
    async resetForUser(actor: TenantPrincipal, userId: string): Promise<void> {
      assertId(userId, 'user');
      const ended = await db.withTenant(actor.tenantId, async (tx) => {
        const target = await findUserById(tx, userId);
        assertThat(target, notFound('user'));
        await deps.stepUp.assertRecent(actor);
        if (target.role_key === OWNER_ROLE) {
          assertThat(actor.kind === 'user' && actor.roleKey === OWNER_ROLE, forbidden("only an owner can reset an owner's second factor"));
        }
        // Idempotent: a user without a factor is already in the wanted state.
        if (!(await repo.deleteTotp(tx, userId))) return [];
        const sessions = await revokeUserSessions(tx, userId, 'mfa_reset_by_admin');
        await insertSecurityEvent(tx, {
          tenantId: actor.tenantId,
          type: 'mfa_reset',
          severity: 'medium',
          actorType: actor.kind,
          actorId: actor.kind === 'user' ? actor.userId : actor.apiKeyId,
          details: { userId, endedSessions: sessions.length },
        });
        return sessions;
      });
      await publishSessionsEnded(bus, actor.tenantId, userId, ended);
    },

    /**
     * Step-up: proves the user again within the current session. With an enrolled factor a code is
     * required (the session already proved the password); otherwise the password.
     */
    async reauthenticate(principal: TenantPrincipal, input: { password?: string; code?: string }, client: ClientInfo) {
      const user = userOf(principal);
      const account = await db.withTenant(user.tenantId, async (tx) => ({
        row: await findUserById(tx, user.userId),
        factor: await repo.findTotp(tx, user.userId),
        failures: await failuresOf(tx, user.userId),
      }));
      assertThat(account.row?.status === 'active', () => new AppError('invalid_token', 'the credential is not valid, expired or revoked'));
      if (account.failures >= MAX_FAILURES_PER_USER) throw throttled();
      const enrolled = account.factor?.status === 'active';
      const field = enrolled ? 'code' : 'password';
      assertThat(
        input[field] !== undefined,
        new AppError('validation_failed', enrolled ? 'this account has a second factor: send a code' : 'send your password', {
          errors: [{ path: `body/${field}`, message: 'required' }],
        }),
      );
      // Argon2id outside the transaction: it is the slow part.
      const passwordOk = enrolled ? false : await deps.passwords.verify(account.row.password_hash, input.password as string);
      type Outcome = { kind: 'wrong' } | { kind: 'ok'; amr: string[] } | { kind: 'gone' };
      const outcome = await db.withTenant(user.tenantId, async (tx): Promise<Outcome> => {
        let amr: string[] | null = null;
        if (enrolled) amr = (await verifyFactor(tx, user.tenantId, user.userId, (input.code as string).trim()))?.amr ?? null;
        else if (passwordOk) amr = ['pwd'];
        if (!amr) {
          await recordFailure(tx, user.tenantId, user.userId, 'reauth_failed', client, { method: field });
          return { kind: 'wrong' };
        }
        if (!(await updateAuthTime(tx, user.sessionId, amr, new Date(now())))) return { kind: 'gone' };
        return { kind: 'ok', amr };
      });
      if (outcome.kind === 'gone') throw new AppError('invalid_token', 'the credential is not valid, expired or revoked');
      if (outcome.kind === 'wrong') {
        throw enrolled
          ? new AppError('invalid_mfa_code', 'the code is not valid')
          : new AppError('invalid_credentials', 'the password is not correct');
      }
      // Every node re-reads the session (its new auth_time) on the next request.
      await bus.publish({ type: 'session', tenantId: user.tenantId, sessionId: user.sessionId });
      return { authTime: new Date(now()).toISOString(), amr: outcome.amr };
    },
  };
}

export type MfaService = ReturnType<typeof createMfaService>;
