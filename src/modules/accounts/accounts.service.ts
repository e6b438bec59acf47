import type { FastifyBaseLogger } from 'fastify';
import { findRole, type TenantPrincipal } from '../access/index.ts';
import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, conflict, forbidden, notFound } from '../../platform/errors.ts';
import { canonicalLocale } from '../../platform/i18n.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { mintSecret, parseSecret } from '../../platform/secrets.ts';
import {
  assertAcceptablePassword,
  contextWords,
  findUserByEmail,
  findUserById,
  insertUser,
  MAX_PASSWORD_BYTES,
  markEmailVerified,
  normalizeEmail,
  type PasswordHasher,
  revokeOtherSessions,
  revokeUserSessions,
  updatePasswordHash,
  type UserRow,
  type UserService,
} from '../identity/index.ts';
import type { RateLimiter } from '../limits/index.ts';
import type { MailService } from '../mail/index.ts';
import { insertSecurityEvent } from '../security-events/index.ts';
import { assertTenantUsable, type TenantDirectory, type TenantService } from '../tenants/index.ts';
import * as repo from './accounts.repo.ts';

/** Token prefixes: the purpose is visible in the token, and the hash covers it, so one never passes for another. */
export const VERIFY_PREFIX = 'pzv';
export const RESET_PREFIX = 'pzp';
export const INVITATION_PREFIX = 'pzi';

export const VERIFY_TTL_MS = 48 * 3600_000;
export const RESET_TTL_MS = 3600_000;
export const INVITATION_TTL_MS = 7 * 24 * 3600_000;
/** Mails per address per minute for resets and resends; beyond it requests still answer 202 but send nothing. */
const MAILS_PER_ADDRESS_PER_MINUTE = 3;
const PASSWORD_CHANGES_PER_MINUTE = 5;

export type ClientInfo = { ip: string | null; userAgent: string | null; requestId: string };

const tokenInvalid = () => new AppError('email_token_invalid', 'this link is not valid; ask for a new one');
const tokenExpired = () => new AppError('email_token_expired', 'this link has expired; ask for a new one');
const tokenUsed = () => new AppError('email_token_used', 'this link has already been used');

function assertPasswordSize(password: string, path: string) {
  assertThat(
    Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES,
    new AppError('validation_failed', `password must be at most ${MAX_PASSWORD_BYTES} bytes`, { errors: [{ path, message: 'too long' }] }),
  );
}

export function toInvitationView(row: repo.InvitationRow) {
  return {
    id: row.id,
    email: row.email,
    role: row.role_key,
    status: repo.invitationState(row),
    invitedBy: { type: row.invited_by_type, id: row.invited_by_id },
    expiresAt: row.expires_at.toISOString(),
    acceptedAt: row.accepted_at?.toISOString() ?? null,
    acceptedUserId: row.accepted_user_id,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
  };
}

export function createAccountService(deps: {
  db: Database;
  bus: InvalidationBus;
  log: FastifyBaseLogger;
  mail: MailService;
  users: UserService;
  tenants: TenantService;
  directory: TenantDirectory;
  passwords: PasswordHasher;
  limiter: RateLimiter;
  publicUrl: string;
  signup: boolean;
  signupPerMinute: number;
}) {
  const { db, bus, mail, users, directory, passwords, limiter } = deps;
  // Links carry the token in the fragment: browsers do not send it to the server that serves the
  // page, so it stays out of access logs and Referer headers.
  const link = (path: string, token: string) => `${deps.publicUrl}/${path}#token=${token}`;

  // Work done after a request has been answered (password-reset mail); tests and close() wait for it.
  const pending = new Set<Promise<void>>();
  function later(work: () => Promise<void>) {
    const task = new Promise<void>((resolve) => setImmediate(resolve))
      .then(work)
      .catch((error) => deps.log.error({ err: error }, 'background account work failed'))
      .finally(() => pending.delete(task));
    pending.add(task);
  }

  async function limit(key: string, max: number, what: string) {
    const decision = await limiter.hit(`accounts:${key}`, max);
    assertThat(
      decision.allowed,
      new AppError('rate_limited', `too many ${what}; try again in ${decision.resetSeconds} s`, {
        retryAfterSeconds: decision.resetSeconds,
      }),
    );
  }

  /** A verification link for the user's current address, in the caller's transaction. */
  async function sendVerification(tx: Tx, tenantId: string, user: Pick<UserRow, 'id' | 'email' | 'name'>) {
    await repo.retireUnusedTokens(tx, user.id, 'verify_email');
    const secret = mintSecret(VERIFY_PREFIX, tenantId);
    const expiresAt = new Date(Date.now() + VERIFY_TTL_MS);
    await repo.insertAccountToken(tx, {
      tenantId,
      id: uuidv7(),
      purpose: 'verify_email',
      userId: user.id,
      email: user.email,
      hash: secret.hash,
      expiresAt,
    });
    await mail.enqueue(tx, {
      tenantId,
      to: user.email,
      template: 'verify_email',
      userId: user.id,
      data: { name: user.name, link: link('verify-email', secret.value), expiresAt },
    });
  }

  /** Classifies a token that could not be consumed; always throws. */
  function refuse(found: { used_at: Date | null; expires_at: Date } | undefined): never {
    if (!found) throw tokenInvalid();
    if (found.used_at) throw tokenUsed();
    if (found.expires_at.getTime() <= Date.now()) throw tokenExpired();
    throw tokenInvalid();
  }

  async function tenantOfToken(prefix: string, token: string) {
    const parsed = parseSecret(prefix, token);
    assertThat(parsed, tokenInvalid);
    const tenant = await directory.get(parsed.tenantId);
    assertThat(tenant, tokenInvalid);
    return { tenant, hash: parsed.hash };
  }

  async function recordEvent(
    tx: Tx,
    tenantId: string,
    type: string,
    userId: string,
    client: ClientInfo,
    severity: 'info' | 'medium' = 'info',
  ) {
    await insertSecurityEvent(tx, {
      tenantId,
      type,
      severity,
      actorType: 'user',
      actorId: userId,
      ip: client.ip,
      requestId: client.requestId,
    });
  }

  return {
    /**
     * Self-service signup: a `basic` tenant and its owner in one transaction with the verification
     * token and mail. Refused with 403 signup_disabled when the operator switched it off.
     */
    async signup(
      input: { organization: string; slug: string; name: string; email: string; password: string; locale?: string },
      client: ClientInfo,
      preferredLocale: string | undefined,
    ) {
      assertThat(deps.signup, new AppError('signup_disabled', 'self-service signup is switched off on this instance; ask its operator'));
      await limit(`signup:${client.ip ?? 'unknown'}`, deps.signupPerMinute, 'signups from this address');
      assertPasswordSize(input.password, 'body/password');
      let locale = preferredLocale ?? 'en';
      if (input.locale !== undefined) {
        const canonical = canonicalLocale(input.locale);
        assertThat(
          canonical,
          new AppError('validation_failed', 'locale is not a locale tag (for example "it" or "it-IT")', {
            errors: [{ path: 'body/locale', message: 'is not a valid locale' }],
          }),
        );
        locale = canonical;
      }
      const email = normalizeEmail(input.email);
      let owner: UserRow | undefined;
      let provisioned: string | undefined;
      let tenant: Awaited<ReturnType<TenantService['create']>>;
      try {
        tenant = await deps.tenants.create(
          {
            slug: input.slug,
            name: input.organization,
            tier: 'basic',
            locale,
            owner: { email, name: input.name, password: input.password },
          },
          async (tx, tenantId) => {
            provisioned = tenantId;
            owner = await findUserByEmail(tx, email);
            if (!owner) throw new Error('the owner of a new tenant is missing');
            await sendVerification(tx, tenantId, owner);
          },
        );
      } finally {
        // Enqueueing the mail job read the tenant (its job priority) while it was still provisioning,
        // and the directory cached that: drop it, on every node, whether or not the creation committed.
        if (provisioned) await bus.publish({ type: 'tenant', tenantId: provisioned });
      }
      if (!owner) throw new Error('signup created no owner');
      return {
        tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name, tier: tenant.tier, locale: tenant.locale },
        user: { id: owner.id, email: owner.email, name: owner.name, role: owner.role_key, emailVerified: false },
      };
    },

    async verifyEmail(token: string) {
      const { tenant, hash } = await tenantOfToken(VERIFY_PREFIX, token);
      const result = await db.withTenant(tenant.id, async (tx) => {
        const consumed = await repo.consumeAccountToken(tx, hash, 'verify_email');
        if (!consumed) return { refused: await repo.findAccountToken(tx, hash, 'verify_email') };
        // Only the holder of a live token learns the state of the tenant; the token stays unused.
        assertTenantUsable(tenant);
        // The address changed since the link was sent: the link proves an address the account no longer has.
        assertThat(await markEmailVerified(tx, consumed.user_id, consumed.email), tokenInvalid);
        return { email: consumed.email };
      });
      if ('refused' in result) refuse(result.refused);
      return { email: result.email, emailVerified: true as const };
    },

    async resendVerification(principal: TenantPrincipal) {
      assertThat(principal.kind === 'user', forbidden('only a signed-in user can ask for a verification link'));
      await limit(`verify:${principal.userId}`, MAILS_PER_ADDRESS_PER_MINUTE, 'verification mails');
      await db.withTenant(principal.tenantId, async (tx) => {
        const user = await findUserById(tx, principal.userId);
        assertThat(user, notFound('user'));
        assertThat(!user.email_verified_at, conflict('the email address is already verified'));
        await sendVerification(tx, principal.tenantId, user);
      });
    },

    /**
     * Always answers the same, at once: the lookup, the token and the mail happen after the answer,
     * so neither the body nor the time tells whether the tenant or the account exists (T14).
     */
    async requestPasswordReset(input: { tenant: string; email: string }, client: ClientInfo) {
      await limit(`reset-ip:${client.ip ?? 'unknown'}`, deps.signupPerMinute * 2, 'password reset requests from this address');
      const slug = input.tenant.trim().toLowerCase();
      const email = normalizeEmail(input.email);
      later(async () => {
        const tenant = await directory.getBySlug(slug);
        if (!tenant || tenant.status !== 'active') return;
        const user = await db.withTenant(tenant.id, (tx) => findUserByEmail(tx, email));
        if (!user || user.status !== 'active') return;
        // Mail-bombing guard per account, silent: the answer was already given.
        const decision = await limiter.hit(`accounts:reset:${tenant.id}:${user.id}`, MAILS_PER_ADDRESS_PER_MINUTE);
        if (!decision.allowed) return;
        await db.withTenant(tenant.id, async (tx) => {
          await repo.retireUnusedTokens(tx, user.id, 'password_reset');
          const secret = mintSecret(RESET_PREFIX, tenant.id);
          const expiresAt = new Date(Date.now() + RESET_TTL_MS);
          await repo.insertAccountToken(tx, {
            tenantId: tenant.id,
            id: uuidv7(),
            purpose: 'password_reset',
            userId: user.id,
            email: user.email,
            hash: secret.hash,
            expiresAt,
          });
          await recordEvent(tx, tenant.id, 'password_reset_requested', user.id, client);
          await mail.enqueue(tx, {
            tenantId: tenant.id,
            to: user.email,
            template: 'password_reset',
            userId: user.id,
            data: { name: user.name, link: link('reset-password', secret.value), expiresAt },
          });
        });
      });
    },

    /** Sets the new password, proves the address, and ends every session of the user. */
    async confirmPasswordReset(input: { token: string; password: string }, client: ClientInfo) {
      assertPasswordSize(input.password, 'body/password');
      const { tenant, hash } = await tenantOfToken(RESET_PREFIX, input.token);
      // Read first (no change), so that a refused password leaves the link usable.
      const token = await db.withTenant(tenant.id, (tx) => repo.findAccountToken(tx, hash, 'password_reset'));
      if (!token || token.used_at || token.expires_at.getTime() <= Date.now()) refuse(token);
      assertTenantUsable(tenant);
      assertAcceptablePassword(input.password, contextWords(token.email, tenant));
      const passwordHash = await passwords.hash(input.password);
      const sessionIds = await db.withTenant(tenant.id, async (tx) => {
        const consumed = await repo.consumeAccountToken(tx, hash, 'password_reset');
        if (!consumed) refuse(await repo.findAccountToken(tx, hash, 'password_reset'));
        const user = await findUserById(tx, consumed.user_id);
        assertThat(user && user.status === 'active' && user.email === consumed.email, tokenInvalid);
        await updatePasswordHash(tx, user.id, passwordHash);
        await markEmailVerified(tx, user.id, consumed.email);
        const ended = await revokeUserSessions(tx, user.id, 'password_reset');
        await recordEvent(tx, tenant.id, 'password_reset', user.id, client, 'medium');
        return { userId: user.id, ended };
      });
      await users.endSessions(tenant.id, sessionIds.userId, sessionIds.ended);
    },

    /** Needs the current password; ends the user's other sessions (this one stays). */
    async changePassword(principal: TenantPrincipal, input: { currentPassword: string; newPassword: string }, client: ClientInfo) {
      assertThat(principal.kind === 'user', forbidden('only a signed-in user can change their own password'));
      assertPasswordSize(input.currentPassword, 'body/currentPassword');
      assertPasswordSize(input.newPassword, 'body/newPassword');
      await limit(`password:${principal.userId}`, PASSWORD_CHANGES_PER_MINUTE, 'password changes');
      const tenant = await directory.get(principal.tenantId);
      const user = await db.withTenant(principal.tenantId, (tx) => findUserById(tx, principal.userId));
      assertThat(tenant && user, notFound('user'));
      const ok = await passwords.verify(user.password_hash, input.currentPassword);
      if (!ok) {
        await db.withTenant(principal.tenantId, (tx) =>
          recordEvent(tx, principal.tenantId, 'password_change_failed', user.id, client, 'medium'),
        );
        throw new AppError('current_password_invalid', 'the current password is not correct', { field: 'currentPassword' });
      }
      assertAcceptablePassword(input.newPassword, contextWords(user.email, tenant));
      const passwordHash = await passwords.hash(input.newPassword);
      const ended = await db.withTenant(principal.tenantId, async (tx) => {
        await updatePasswordHash(tx, user.id, passwordHash);
        const ended = await revokeOtherSessions(tx, user.id, principal.sessionId, 'password_changed');
        await recordEvent(tx, principal.tenantId, 'password_changed', user.id, client, 'medium');
        return ended;
      });
      for (const sessionId of ended) await bus.publish({ type: 'session', tenantId: principal.tenantId, sessionId });
      return { endedSessions: ended.length };
    },

    /** Invites an address with a role: the same role rules as creating a user; a pending invitation holds a seat. */
    async invite(actor: TenantPrincipal, input: { email: string; role: string; locale?: string }) {
      const email = normalizeEmail(input.email);
      const tenant = await directory.get(actor.tenantId);
      assertThat(tenant, notFound('tenant'));
      const secret = mintSecret(INVITATION_PREFIX, actor.tenantId);
      const expiresAt = new Date(Date.now() + INVITATION_TTL_MS);
      return db.withTenant(actor.tenantId, async (tx) => {
        await users.assertCanAssign(tx, actor, input.role);
        assertThat(!(await findUserByEmail(tx, email)), conflict('a user with this email already exists', { field: 'email' }));
        const open = await repo.findOpenInvitationByEmail(tx, email);
        if (open) {
          assertThat(
            repo.invitationState(open) === 'expired',
            conflict('this address already has a pending invitation', { field: 'email' }),
          );
          await repo.revokeInvitation(tx, open.id);
        }
        const { limits } = (await directory.getWithin(tx, actor.tenantId)) ?? tenant;
        if (limits.seats !== null) {
          // The same per-tenant lock as user creation: seats are counted and taken in turn.
          await tx.query(`SELECT pg_advisory_xact_lock(hashtext('palazzo:seats'), hashtext($1))`, [actor.tenantId]);
          const used = (await users.countActive(tx)) + (await repo.countPendingInvitations(tx));
          assertThat(
            used < limits.seats,
            new AppError('quota_exceeded', `the tier allows ${limits.seats} users, counting pending invitations`, {
              metric: 'seats',
              limit: limits.seats,
              used,
            }),
          );
        }
        const inviter = actor.kind === 'user' ? await findUserById(tx, actor.userId) : undefined;
        const row = await repo.insertInvitation(tx, {
          tenantId: actor.tenantId,
          id: uuidv7(),
          email,
          roleKey: input.role,
          hash: secret.hash,
          invitedByType: actor.kind,
          invitedById: actor.kind === 'user' ? actor.userId : actor.apiKeyId,
          expiresAt,
        });
        const role = await findRole(tx, input.role);
        await mail.enqueue(tx, {
          tenantId: actor.tenantId,
          to: email,
          template: 'invitation',
          locale: input.locale,
          data: {
            inviterName: inviter?.name ?? tenant.name,
            tenantName: tenant.name,
            role: role?.name ?? input.role,
            link: link('accept-invitation', secret.value),
            expiresAt,
          },
        });
        return row;
      });
    },

    listInvitations(tenantId: string, filter: { status?: repo.InvitationState; after: string | null; limit: number }) {
      return db.withTenant(tenantId, (tx) => repo.listInvitations(tx, filter));
    },

    async revokeInvitation(actor: TenantPrincipal, id: string) {
      assertId(id, 'invitation');
      await db.withTenant(actor.tenantId, async (tx) => {
        const row = await repo.findInvitation(tx, id, true);
        assertThat(row, notFound('invitation'));
        assertThat(!row.accepted_at, conflict('the invitation was already accepted; deactivate the user instead'));
        if (!row.revoked_at) await repo.revokeInvitation(tx, id);
      });
    },

    /** Creates the invited user with the invited role; the address counts as verified (the link was mailed to it). */
    async acceptInvitation(input: { token: string; password: string; name: string }) {
      assertPasswordSize(input.password, 'body/password');
      const { tenant, hash } = await tenantOfToken(INVITATION_PREFIX, input.token);
      const refuseInvitation = (row: repo.InvitationRow | undefined): void => {
        const state = row ? repo.invitationState(row) : 'revoked';
        if (state === 'accepted') throw tokenUsed();
        if (state === 'expired') throw tokenExpired();
        if (state === 'revoked') throw tokenInvalid();
      };
      const invitation = await db.withTenant(tenant.id, (tx) => repo.findInvitationByHash(tx, hash));
      refuseInvitation(invitation);
      if (!invitation) throw tokenInvalid();
      assertTenantUsable(tenant);
      assertAcceptablePassword(input.password, contextWords(invitation.email, tenant));
      const passwordHash = await passwords.hash(input.password);
      const user = await db.withTenant(tenant.id, async (tx) => {
        // Again under a row lock: of two concurrent acceptances exactly one creates the user.
        const locked = await repo.findInvitationByHash(tx, hash, true);
        refuseInvitation(locked);
        if (!locked) throw tokenInvalid();
        const role = await findRole(tx, locked.role_key);
        assertThat(role, conflict('the role of this invitation no longer exists; ask for a new invitation'));
        assertThat(!(await findUserByEmail(tx, locked.email)), conflict('a user with this email already exists', { field: 'email' }));
        await users.assertSeatAvailable(tx, tenant.id);
        const created = await insertUser(tx, {
          tenantId: tenant.id,
          id: uuidv7(),
          email: locked.email,
          name: input.name,
          passwordHash,
          roleKey: locked.role_key,
          emailVerified: true,
        });
        await repo.markInvitationAccepted(tx, locked.id, created.id);
        await users.seatsTaken(tx, tenant.id);
        return created;
      });
      return { tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name }, user };
    },

    /** Resolves when work started after answering (reset mails) has finished. */
    async settle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
