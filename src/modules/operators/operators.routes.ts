import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { OperatorService } from './operators.service.ts';

export const operatorAuthRoutes =
  (service: OperatorService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/v1/operator/login',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags: ['operator'],
          summary: 'Operator login; the token is valid only for /v1/operator/*',
          body: Type.Object(
            { email: Type.String({ minLength: 3, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 1024 }) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ accessToken: Type.String(), expiresIn: Type.Integer(), tokenType: Type.Literal('Bearer') }),
          },
        },
      },
      async (request) => service.login(request.body),
    );
  };
