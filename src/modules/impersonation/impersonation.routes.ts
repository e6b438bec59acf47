import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams } from '../../platform/http/schemas.ts';
import { operatorPrincipal, origin } from '../../platform/http/request-context.ts';
import { type ImpersonationService, MAX_IMPERSONATION_MINUTES } from './impersonation.service.ts';

const ImpersonateBody = Type.Object(
  {
    reason: Type.String({ minLength: 3, maxLength: 500, description: 'Why: recorded in the security event and on every request' }),
    userId: Type.Optional(
      Type.String({ maxLength: 100, description: "Act as this user, with the user's role; omitted: the built-in admin role" }),
    ),
    minutes: Type.Integer({ minimum: 1, maximum: MAX_IMPERSONATION_MINUTES, description: 'Lifetime of the token (at most 60)' }),
  },
  { additionalProperties: false },
);

const Impersonation = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer(),
  expiresAt: Type.String({ format: 'date-time' }),
  impersonationId: Type.String(),
  tenantId: Type.String(),
  userId: Type.Union([Type.String(), Type.Null()]),
  role: Type.String(),
});

export const impersonationRoutes =
  (service: ImpersonationService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/v1/operator/tenants/:id/impersonate',
      {
        config: { auth: { kind: 'operator' } },
        schema: {
          tags: ['operator'],
          summary: 'Impersonate inside a tenant: a time-boxed access token naming the operator and the reason',
          description:
            'The token acts with the permissions of the named user (or of the built-in admin role), inside this tenant only; it ' +
            'cannot be refreshed, cannot reach operator routes, and every request made with it carries the impersonator. Refused ' +
            'for a suspended or offboarding tenant. Minting is recorded as a security event of the tenant.',
          params: IdParams,
          body: ImpersonateBody,
          response: { 201: Impersonation },
        },
      },
      async (request, reply) => {
        const result = await service.start(operatorPrincipal(request).operatorId, request.params.id, request.body, origin(request));
        reply.code(201);
        return result;
      },
    );
  };
