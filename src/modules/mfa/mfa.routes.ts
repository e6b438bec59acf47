import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams, NoContent } from '../../platform/http/schemas.ts';
import { MfaChallenge } from '../identity/index.ts';
import { origin, tenantPrincipal } from '../../platform/http/request-context.ts';
import {
  ConfirmBody,
  MfaBody,
  MfaStatus,
  MfaTokens,
  Reauthenticated,
  ReauthenticateBody,
  RecoveryCodeList,
  TotpEnrollment,
} from './mfa.schemas.ts';
import type { MfaService } from './mfa.service.ts';

export const mfaRoutes =
  (mfa: MfaService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['mfa'];
    app.post(
      '/v1/auth/mfa',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags: ['auth', 'mfa'],
          summary: 'Complete a login with the second factor',
          description:
            'Send the mfaToken of the login answer with a TOTP code, a recovery code, or the emailed code. The token works once and expires; after 5 wrong codes it stops working, and 10 wrong codes in 15 minutes for a user answer 429. When the login asked for enrolment (method totp_enrollment), the answer also carries the ten recovery codes. After an emailed code, an account that must enrol a factor gets a new challenge (method totp_enrollment) instead of tokens.',
          body: MfaBody,
          response: { 200: Type.Union([MfaTokens, MfaChallenge]) },
        },
      },
      async (request) => mfa.complete(request.body, origin(request)),
    );

    app.post(
      '/v1/auth/reauthenticate',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags: ['auth', 'mfa'],
          summary: 'Step-up: prove it is you again (code if you have a second factor, otherwise password)',
          description:
            "Sensitive changes (second factor, API keys with admin scopes, email, password) answer 401 step_up_required when the session has not authenticated within the tenant's security.stepUpMinutes. This refreshes the session's auth_time; the same access token works for the change at once.",
          body: ReauthenticateBody,
          response: { 200: Reauthenticated },
        },
      },
      async (request) => mfa.reauthenticate(tenantPrincipal(request), request.body, origin(request)),
    );

    app.get(
      '/v1/me/mfa',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: { tags, summary: 'Your second factors and remaining recovery codes', response: { 200: MfaStatus } },
      },
      async (request) => mfa.status(tenantPrincipal(request)),
    );

    app.post(
      '/v1/me/mfa/totp',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags,
          summary: 'Start TOTP enrolment (step-up): answers the otpauth:// URI of a new secret',
          response: { 200: TotpEnrollment },
        },
      },
      async (request) => mfa.startTotp(tenantPrincipal(request)),
    );

    app.post(
      '/v1/me/mfa/totp/confirm',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags,
          summary: 'Confirm TOTP enrolment with a first code (step-up); answers ten recovery codes and ends your other sessions',
          body: ConfirmBody,
          response: { 200: RecoveryCodeList },
        },
      },
      async (request) => mfa.confirmTotp(tenantPrincipal(request), request.body.code, origin(request)),
    );

    app.delete(
      '/v1/me/mfa/totp',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags,
          summary: 'Remove your TOTP factor and recovery codes (step-up); your other sessions end',
          response: { 204: NoContent },
        },
      },
      async (request, reply) => {
        await mfa.disableTotp(tenantPrincipal(request));
        reply.code(204);
      },
    );

    app.post(
      '/v1/me/mfa/recovery-codes',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags,
          summary: 'Replace your recovery codes with ten new ones (step-up)',
          response: { 200: RecoveryCodeList },
        },
      },
      async (request) => mfa.renewRecoveryCodes(tenantPrincipal(request)),
    );

    app.delete(
      '/v1/users/:id/mfa',
      {
        config: { auth: { kind: 'tenant', permission: 'users.write' } },
        schema: {
          tags,
          summary: "Reset a user's second factor (a lost device; step-up); their sessions end",
          params: IdParams,
          response: { 204: NoContent },
        },
      },
      async (request, reply) => {
        await mfa.resetForUser(tenantPrincipal(request), request.params.id);
        reply.code(204);
      },
    );
  };
