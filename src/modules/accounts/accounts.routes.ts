import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { negotiateLocale } from '../../platform/i18n.ts';
import { IdParams, NoContent } from '../../platform/http/schemas.ts';
import { origin, tenantOf, tenantPrincipal } from '../../platform/http/request-context.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import {
  AcceptInvitationBody,
  AcceptInvitationResult,
  Accepted,
  ChangePasswordBody,
  CreateInvitationBody,
  Invitation,
  InvitationStatus,
  PasswordResetBody,
  PasswordResetConfirmBody,
  SignupBody,
  SignupResult,
  TokenBody,
  VerifyEmailResult,
} from './accounts.schemas.ts';
import { type AccountService, toInvitationView } from './accounts.service.ts';

const RESET_ACCEPTED = {
  status: 'accepted' as const,
  message: 'If an account with this address exists in this tenant, a link to reset its password has been sent.',
};

/** Public account routes (no credential): signup, email verification, password reset, accepting an invitation. */
export const accountAuthRoutes =
  (accounts: AccountService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['accounts'];
    const auth = { kind: 'public' } as const;

    app.post(
      '/v1/auth/signup',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'Sign up: create a basic tenant and its owner, and mail a verification link',
          description:
            'Refused with 403 `signup_disabled` when the operator set PALAZZO_SIGNUP=off, and with 429 `rate_limited` beyond PALAZZO_SIGNUP_RATE signups per client address per minute. The owner may sign in at once; `emailVerified` stays false until the link in the mail is used (`POST /v1/auth/verify-email`).',
          body: SignupBody,
          response: { 201: SignupResult },
        },
      },
      async (request, reply) => {
        const result = await accounts.signup(request.body, origin(request), negotiateLocale(request.headers['accept-language']));
        reply.code(201);
        return result;
      },
    );

    app.post(
      '/v1/auth/verify-email',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'Verify an email address with the token from the mailed link',
          description:
            'Tokens are single use and expire after 48 hours. A bad, foreign or wrong-purpose token answers 400 `email_token_invalid`, a used one `email_token_used`, an expired one `email_token_expired`; none changes anything.',
          body: TokenBody,
          response: { 200: VerifyEmailResult },
        },
      },
      async (request) => accounts.verifyEmail(request.body.token),
    );

    app.post(
      '/v1/auth/password-reset',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'Ask for a password reset link',
          description:
            'Always answers 202 with the same body and at once, whether or not the tenant or the account exists; the link (valid one hour, single use) is mailed afterwards when it does.',
          body: PasswordResetBody,
          response: { 202: Accepted },
        },
      },
      async (request, reply) => {
        await accounts.requestPasswordReset(request.body, origin(request));
        reply.code(202);
        return RESET_ACCEPTED;
      },
    );

    app.post(
      '/v1/auth/password-reset/confirm',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'Set a new password with the token from the reset link; ends every session of the user',
          description:
            'The password follows the policy (400 `weak_password` with a `reason`; the link stays usable). Resetting also proves the address. It does not sign in: a second factor, where enrolled, is still asked at login.',
          body: PasswordResetConfirmBody,
          response: { 204: NoContent },
        },
      },
      async (request, reply) => {
        await accounts.confirmPasswordReset(request.body, origin(request));
        reply.code(204);
      },
    );

    app.post(
      '/v1/auth/invitations/accept',
      {
        config: { auth },
        schema: {
          tags,
          summary: 'Accept an invitation: creates the user with the invited role and the chosen password',
          body: AcceptInvitationBody,
          response: { 201: AcceptInvitationResult },
        },
      },
      async (request, reply) => {
        const { tenant, user } = await accounts.acceptInvitation(request.body);
        reply.code(201);
        return { tenant, user: { id: user.id, email: user.email, name: user.name, role: user.role_key, emailVerified: true } };
      },
    );
  };

/** Account routes of a signed-in user, and invitations. */
export const accountRoutes =
  (accounts: AccountService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/v1/me/password',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags: ['accounts'],
          summary: 'Change your password (needs the current one); ends your other sessions',
          description:
            'Users only (an API key gets 403). A wrong current password answers 400 `current_password_invalid`; a new password that breaks the policy 400 `weak_password` with a `reason`.',
          body: ChangePasswordBody,
          response: { 204: NoContent },
        },
      },
      async (request, reply) => {
        await accounts.changePassword(tenantPrincipal(request), request.body, origin(request));
        reply.code(204);
      },
    );

    app.post(
      '/v1/me/email-verification',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags: ['accounts'],
          summary: 'Send a new verification link to your address (earlier links stop working)',
          description: 'Users only. 409 when the address is already verified; 429 beyond 3 per minute.',
          response: { 202: Type.Object({ status: Type.Literal('accepted') }) },
        },
      },
      async (request, reply) => {
        await accounts.resendVerification(tenantPrincipal(request));
        reply.code(202);
        return { status: 'accepted' as const };
      },
    );

    const tags = ['invitations'];
    app.post(
      '/v1/invitations',
      {
        config: { auth: { kind: 'tenant', permission: 'users.write' } },
        schema: {
          tags,
          summary: 'Invite an email address with a role (mails a link valid 7 days)',
          description:
            'The same rules as creating a user: you can give only a role whose permissions you hold, the owner role only as an owner. A pending invitation holds a seat (429 `quota_exceeded` when none is left). 409 when the address already has a user or a pending invitation.',
          body: CreateInvitationBody,
          response: { 201: Invitation },
        },
      },
      async (request, reply) => {
        const row = await accounts.invite(tenantPrincipal(request), request.body);
        reply.code(201);
        return toInvitationView(row);
      },
    );

    app.get(
      '/v1/invitations',
      {
        config: { auth: { kind: 'tenant', permission: 'users.read' } },
        schema: {
          tags,
          summary: 'List invitations',
          querystring: Type.Object({ ...PaginationQuery, status: Type.Optional(InvitationStatus) }),
          response: { 200: Page(Invitation) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await accounts.listInvitations(tenantOf(request), {
          status: request.query.status,
          after: decodeCursor(request.query.cursor),
          limit,
        });
        const page = toPage(rows, limit);
        return { data: page.data.map(toInvitationView), nextCursor: page.nextCursor };
      },
    );

    app.delete(
      '/v1/invitations/:id',
      {
        config: { auth: { kind: 'tenant', permission: 'users.write' } },
        schema: { tags, summary: 'Revoke an invitation (its link stops working)', params: IdParams, response: { 204: NoContent } },
      },
      async (request, reply) => {
        await accounts.revokeInvitation(tenantPrincipal(request), request.params.id);
        reply.code(204);
      },
    );
  };
