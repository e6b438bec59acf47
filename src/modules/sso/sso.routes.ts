import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NoContent } from '../../platform/http/schemas.ts';
import { origin, tenantOf, tenantPrincipal } from '../../platform/http/request-context.ts';
import { CallbackQuery, Connection, ExchangeBody, PutConnectionBody, StartParams, StartQuery } from './sso.schemas.ts';
import type { SsoService } from './sso.service.ts';

const TokenPair = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer(),
  tokenType: Type.Literal('Bearer'),
});
const Redirect = Type.Null({ description: 'Redirect; see the Location header' });

/** Tenant administration of the OpenID Connect connection. */
export const ssoConfigRoutes =
  (sso: SsoService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['sso'];
    app.get(
      '/v1/sso/oidc',
      {
        config: { auth: { kind: 'tenant', permission: 'sso.read' } },
        schema: {
          tags,
          summary: 'The OpenID Connect configuration of the tenant (never the client secret)',
          response: { 200: Connection },
        },
      },
      async (request) => sso.get(tenantOf(request)),
    );

    app.put(
      '/v1/sso/oidc',
      {
        config: { auth: { kind: 'tenant', permission: 'sso.write' } },
        schema: {
          tags,
          summary: 'Create or replace the OpenID Connect configuration',
          description:
            'Needs a tier that includes SSO (403 sso_not_available). The client secret is encrypted at rest under the master key. ' +
            'With `enforced`, password login answers 403 sso_required except for owners (break-glass, recorded as a security event).',
          body: PutConnectionBody,
          response: { 200: Connection },
        },
      },
      async (request) => sso.put(tenantPrincipal(request), request.body),
    );

    app.delete(
      '/v1/sso/oidc',
      {
        config: { auth: { kind: 'tenant', permission: 'sso.write' } },
        schema: {
          tags,
          summary: 'Remove single sign-on (linked identities are kept for a later configuration)',
          response: { 204: NoContent },
        },
      },
      async (request, reply) => {
        await sso.remove(tenantOf(request));
        reply.code(204);
      },
    );
  };

/** The login flow itself: public routes, the browser goes through them. */
export const ssoLoginRoutes =
  (sso: SsoService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['auth'];
    app.get(
      '/v1/auth/sso/:tenantSlug/start',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags,
          summary: "Start a single sign-on login: redirects (302) to the tenant's identity provider",
          description:
            'Authorization code flow with PKCE (S256), state and nonce kept server side (single use, 10 minutes). ' +
            'An unknown tenant and a tenant without SSO both answer 404.',
          params: StartParams,
          querystring: StartQuery,
          response: { 302: Redirect },
        },
      },
      async (request, reply) => {
        const location = await sso.start(request.params.tenantSlug, request.query.returnUrl);
        reply.header('cache-control', 'no-store');
        return reply.redirect(location, 302);
      },
    );

    app.get(
      '/v1/auth/sso/callback',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags,
          summary: "The identity provider's redirect back: answers the token pair, or redirects to the return URL with a one-time code",
          description:
            'Without a returnUrl at the start, the answer is the token pair as JSON. With one, a 302 to `returnUrl?code=pzc_…`; the client ' +
            'trades the code at POST /v1/auth/sso/exchange within 60 seconds, once. A tampered or replayed response answers 401 sso_failed ' +
            'and is recorded as a security event.',
          querystring: CallbackQuery,
          response: { 200: TokenPair, 302: Redirect },
        },
      },
      async (request, reply) => {
        const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
        const result = await sso.callback(rawQuery, request.query, origin(request));
        reply.header('cache-control', 'no-store');
        if (result.kind === 'redirect') return reply.redirect(result.location, 302);
        return result.tokens;
      },
    );

    app.post(
      '/v1/auth/sso/exchange',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags,
          summary: 'Trade the one-time code of an SSO login for the token pair',
          body: ExchangeBody,
          response: { 200: TokenPair },
        },
      },
      async (request) => sso.exchange(request.body.code, origin(request)),
    );
  };
