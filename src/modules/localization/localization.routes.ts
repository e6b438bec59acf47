import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { tenantPrincipal } from '../../platform/http/request-context.ts';
import { MESSAGE_LOCALES } from '../../platform/i18n.ts';
import type { LocalizationService, Preferences } from './localization.service.ts';

// Same shapes as the tenant's own columns (tenants.schemas.ts); canonicalised and checked against Intl by the service.
const Locale = Type.String({ pattern: '^[A-Za-z]{2,3}(?:-[A-Za-z]{2})?$', maxLength: 10, description: 'BCP 47 tag: "it" or "it-IT"' });
const TimeZone = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z_+\\-/0-9]+$', description: 'IANA time zone' });

const Localization = Type.Object({
  tenant: Type.Object({ locale: Type.String(), timezone: Type.String() }),
  user: Type.Union(
    [Type.Object({ locale: Type.Union([Type.String(), Type.Null()]), timezone: Type.Union([Type.String(), Type.Null()]) }), Type.Null()],
    {
      description: 'The user’s own settings (null fields inherit the tenant’s); null for an API key',
    },
  ),
  effective: Type.Object(
    {
      locale: Type.String({ description: 'Formats dates and numbers' }),
      messages: Type.String({ description: 'The language of texts written by the server (en, it)' }),
      timezone: Type.String(),
      now: Type.String({ description: 'The current time, formatted for the caller: shows what the settings do' }),
    },
    { description: 'What this request is answered in: user, then Accept-Language, then tenant, then English' },
  ),
  supportedMessageLocales: Type.Array(Type.String()),
});

export const localizationRoutes =
  (service: LocalizationService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['localization'];

    async function view(request: FastifyRequest, prefs: Preferences) {
      const current = await service.forRequest(request);
      return {
        tenant: prefs.tenant,
        user: prefs.user,
        effective: {
          locale: current.locale,
          messages: current.messages,
          timezone: current.timeZone,
          now: current.format.dateTime(new Date()),
        },
        supportedMessageLocales: [...MESSAGE_LOCALES],
      };
    }

    app.get(
      '/v1/localization',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags,
          summary: 'Locale and time zone of the tenant and of the caller, and what this request uses',
          response: { 200: Localization },
        },
      },
      async (request) => view(request, await service.preferences(tenantPrincipal(request))),
    );

    app.patch(
      '/v1/me',
      {
        config: { auth: { kind: 'tenant', permission: 'authenticated' } },
        schema: {
          tags,
          summary: 'Set your own locale and time zone (null: follow the tenant)',
          body: Type.Object(
            { locale: Type.Optional(Type.Union([Locale, Type.Null()])), timezone: Type.Optional(Type.Union([TimeZone, Type.Null()])) },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: Localization },
        },
      },
      async (request) => view(request, await service.setUserPreferences(tenantPrincipal(request), request.body)),
    );

    app.put(
      '/v1/tenant/localization',
      {
        config: { auth: { kind: 'tenant', permission: 'settings.write' } },
        schema: {
          tags,
          summary: "Set the tenant's default locale and time zone",
          body: Type.Object({ locale: Locale, timezone: TimeZone }, { additionalProperties: false }),
          response: { 200: Localization },
        },
      },
      async (request) => view(request, await service.setTenantLocalization(tenantPrincipal(request), request.body)),
    );
  };
