import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../platform/errors.ts';
import { NoContent } from '../../platform/http/schemas.ts';
import { tenantOf } from '../../platform/http/request-context.ts';
import type { LocalizationService } from '../localization/index.ts';
import { FONT_FAMILY, type BrandingService } from './branding.service.ts';
import { HEX_COLOR } from './colors.ts';
import type { LogoRow } from './branding.repo.ts';
import { LOGO_MAX_BYTES } from './logo.ts';

const Hex = Type.String({ pattern: HEX_COLOR, description: '#RGB or #RRGGBB' });
const Colors = Type.Object({
  primary: Type.String(),
  onPrimary: Type.String(),
  background: Type.String(),
  text: Type.String(),
  secondary: Type.Union([Type.String(), Type.Null()]),
});
const Logo = Type.Object({
  contentType: Type.String(),
  size: Type.Integer(),
  sha256: Type.String(),
  updatedAt: Type.String({ format: 'date-time' }),
  url: Type.String(),
});
const Warning = Type.Object({
  code: Type.Literal('low_contrast'),
  foreground: Type.String(),
  background: Type.String(),
  ratio: Type.Number(),
  minimum: Type.Number(),
  criterion: Type.String(),
  message: Type.String({ description: 'In the caller’s language' }),
});
const Branding = Type.Object({
  name: Type.String({ description: 'The tenant’s name' }),
  colors: Colors,
  fontFamily: Type.Union([Type.String(), Type.Null()]),
  fontStack: Type.String({ description: 'A CSS font-family value with fallbacks' }),
  logo: Type.Union([Logo, Type.Null()]),
  warnings: Type.Array(Warning, { description: 'Contrast below WCAG AA: accepted, but worth fixing' }),
  updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
const PutBranding = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Renames the tenant' })),
    colors: Type.Object(
      { primary: Hex, background: Hex, text: Hex, onPrimary: Type.Optional(Hex), secondary: Type.Optional(Type.Union([Hex, Type.Null()])) },
      { additionalProperties: false },
    ),
    fontFamily: Type.Union([Type.String({ maxLength: 64, pattern: FONT_FAMILY }), Type.Null()], {
      description: 'A family name (letters, digits, spaces, hyphens) or a generic family; null: system font',
    }),
  },
  { additionalProperties: false },
);
const PublicBranding = Type.Object({
  name: Type.String(),
  colors: Colors,
  fontFamily: Type.Union([Type.String(), Type.Null()]),
  fontStack: Type.String(),
  logoUrl: Type.Union([Type.String(), Type.Null()]),
});

/** Serves a stored logo. An SVG opened directly runs nothing: the CSP forbids scripts and sandboxes it. */
function sendLogo(reply: FastifyReply, logo: LogoRow, cacheControl: string) {
  return reply
    .header('content-type', logo.logo_content_type)
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; sandbox")
    .header('content-disposition', `inline; filename="logo.${logo.logo_content_type === 'image/png' ? 'png' : 'svg'}"`)
    .header('etag', `"${logo.logo_sha256}"`)
    .header('cache-control', cacheControl)
    .send(logo.logo);
}

export const brandingRoutes =
  (deps: { branding: BrandingService; localization: LocalizationService }): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { branding, localization } = deps;
    const tags = ['branding'];

    app.get(
      '/v1/branding',
      {
        config: { auth: { kind: 'tenant', permission: 'tenant.read' } },
        schema: { tags, summary: 'The tenant’s name, colours, font and logo, with contrast warnings', response: { 200: Branding } },
      },
      async (request) => branding.get(tenantOf(request), await localization.forRequest(request)),
    );

    app.put(
      '/v1/branding',
      {
        config: { auth: { kind: 'tenant', permission: 'branding.write' } },
        schema: {
          tags,
          summary: 'Set colours and font (and the tenant name); low contrast answers with warnings, not a refusal',
          body: PutBranding,
          response: { 200: Branding },
        },
      },
      async (request) => branding.update(tenantOf(request), request.body, await localization.forRequest(request)),
    );

    app.get(
      '/v1/branding/logo',
      {
        config: { auth: { kind: 'tenant', permission: 'tenant.read' } },
        schema: { tags, summary: 'The logo image (PNG or sanitised SVG)' },
      },
      async (request, reply) => sendLogo(reply, await branding.getLogo(tenantOf(request)), 'private, no-store'),
    );

    app.delete(
      '/v1/branding/logo',
      {
        config: { auth: { kind: 'tenant', permission: 'branding.write' } },
        schema: { tags, summary: 'Remove the logo (204 also when there was none)', response: { 204: NoContent } },
      },
      async (request, reply) => {
        await branding.deleteLogo(tenantOf(request));
        reply.code(204);
      },
    );

    // Multipart is parsed in this context only: every other route keeps refusing non-JSON bodies.
    await app.register(async (upload) => {
      await upload.register(multipart, { limits: { fileSize: LOGO_MAX_BYTES, files: 1, fields: 0, parts: 1, headerPairs: 50 } });
      upload.put(
        '/v1/branding/logo',
        {
          config: { auth: { kind: 'tenant', permission: 'branding.write' } },
          schema: {
            tags,
            summary: `Upload the logo: multipart/form-data, field "file", PNG or SVG up to ${LOGO_MAX_BYTES / 1024} KiB`,
            description: 'The type is read from the content. SVG is sanitised (scripts, event handlers, external references removed).',
            consumes: ['multipart/form-data'],
            response: {
              200: Type.Object({
                logo: Logo,
                dimensions: Type.Union([Type.Object({ width: Type.Integer(), height: Type.Integer() }), Type.Null()]),
                sanitized: Type.Boolean({ description: 'true when something was removed from an SVG' }),
                removed: Type.Array(Type.String(), { description: 'What sanitising removed' }),
              }),
            },
          },
        },
        async (request) => {
          if (!request.isMultipart()) {
            throw new AppError('unsupported_media_type', 'send the logo as multipart/form-data with a field named "file"');
          }
          const file = await request.file();
          if (!file || file.fieldname !== 'file') {
            throw new AppError('validation_failed', 'send the logo in a multipart field named "file"', {
              errors: [{ path: 'body/file', message: 'is required' }],
            });
          }
          // Throws 413 past the limit (@fastify/multipart's RequestFileTooLargeError).
          const bytes = await file.toBuffer();
          const result = await branding.setLogo(tenantOf(request), { bytes, filename: file.filename, mimetype: file.mimetype });
          return { ...result, logo: result.logo as NonNullable<typeof result.logo> };
        },
      );
    });

    app.get(
      '/v1/public/branding',
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags,
          summary: 'Branding of the site this host belongs to: a verified custom domain or <slug>.<base domain>; 404 otherwise',
          response: { 200: PublicBranding },
        },
      },
      async (request) => branding.publicBranding(request.hostname),
    );

    app.get(
      '/v1/public/branding/logo',
      {
        config: { auth: { kind: 'public' } },
        schema: { tags, summary: 'The logo of the site this host belongs to' },
      },
      async (request, reply) => sendLogo(reply, await branding.publicLogo(request.hostname), 'public, max-age=300'),
    );
  };
