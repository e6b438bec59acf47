import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Database } from '../../platform/db/database.ts';
import { AppError, assertThat, notFound } from '../../platform/errors.ts';
import type { Formatter, MessageLocale } from '../../platform/i18n.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import type { DomainService } from '../domains/index.ts';
import type { TenantDirectory, TenantService } from '../tenants/index.ts';
import * as repo from './branding.repo.ts';
import { type Colors, type ContrastIssue, contrastIssues, DEFAULT_COLORS, normalizeHex } from './colors.ts';
import { declaredImageType, detectImageType, type LogoType, sanitizeSvg, validatePng } from './logo.ts';

/** Generic CSS families, usable alone. */
const GENERIC_FAMILIES = new Set(['serif', 'sans-serif', 'monospace', 'system-ui', 'ui-sans-serif', 'ui-serif', 'ui-rounded']);

/**
 * A font family name safe to put in CSS and HTML as is: letters, digits, single spaces and hyphens
 * (no quotes, semicolons, braces, `url(` or `@import` can be formed).
 */
export const FONT_FAMILY = '^[A-Za-z0-9](?:[A-Za-z0-9-]| (?! ))*[A-Za-z0-9]$|^[A-Za-z0-9]$';

export function fontStack(family: string | null): string {
  if (!family) return 'system-ui, sans-serif';
  if (GENERIC_FAMILIES.has(family)) return family;
  return `"${family}", system-ui, sans-serif`;
}

const WARNING_TEXT: Record<MessageLocale, (issue: ContrastIssue, ratio: string, minimum: string) => string> = {
  en: (i, ratio, minimum) =>
    `The contrast of ${i.foreground} on ${i.background} is ${ratio}:1, below the ${minimum}:1 that WCAG AA asks (${i.criterion}).`,
  it: (i, ratio, minimum) =>
    `Il contrasto tra ${i.foreground} e ${i.background} è ${ratio}:1, sotto il minimo di ${minimum}:1 richiesto da WCAG AA (${i.criterion}).`,
};

export type LocaleForText = { messages: MessageLocale; format: Formatter };

function warningsFor(colors: Colors, locale: LocaleForText) {
  return contrastIssues(colors).map((issue) => ({
    code: 'low_contrast' as const,
    ...issue,
    message: WARNING_TEXT[locale.messages](issue, locale.format.number(issue.ratio, 2), locale.format.number(issue.minimum, 1)),
  }));
}

function colorsOf(row: repo.BrandingRow | undefined): Colors {
  return { ...DEFAULT_COLORS, ...(row?.colors ?? {}) };
}

export type BrandingInput = {
  name?: string;
  colors: { primary: string; background: string; text: string; onPrimary?: string; secondary?: string | null };
  fontFamily: string | null;
};

export type UploadedFile = { bytes: Buffer; filename: string | undefined; mimetype: string | undefined };

export function createBrandingService(deps: {
  db: Database;
  bus: InvalidationBus;
  directory: TenantDirectory;
  tenants: TenantService;
  domains: DomainService;
  publicCacheTtlMs?: number;
}) {
  const { db, bus } = deps;
  // Public pages are read by anyone: per-node cache by host, dropped on every node when the tenant changes.
  const publicCache = new LRUCache<string, { tenantId: string; view: ReturnType<typeof publicView> }>({
    max: 10_000,
    ttl: deps.publicCacheTtlMs ?? 30_000,
  });
  bus.on((event) => {
    if (event.type !== 'tenant') return;
    for (const [host, entry] of publicCache.entries()) if (entry.tenantId === event.tenantId) publicCache.delete(host);
  });

  async function nameOf(tenantId: string) {
    const tenant = await deps.directory.get(tenantId);
    assertThat(tenant, notFound('tenant'));
    return tenant.name;
  }

  function logoView(row: repo.BrandingRow | undefined, url: string) {
    if (!row?.logo_content_type || !row.logo_sha256) return null;
    return {
      contentType: row.logo_content_type,
      size: Number(row.logo_size),
      sha256: row.logo_sha256,
      updatedAt: (row.logo_updated_at as Date).toISOString(),
      // The hash in the URL lets clients and CDNs cache a logo for as long as it is current.
      url: `${url}?v=${row.logo_sha256.slice(0, 16)}`,
    };
  }

  function view(name: string, row: repo.BrandingRow | undefined, locale: LocaleForText) {
    const colors = colorsOf(row);
    return {
      name,
      colors,
      fontFamily: row?.font_family ?? null,
      fontStack: fontStack(row?.font_family ?? null),
      logo: logoView(row, '/v1/branding/logo'),
      warnings: warningsFor(colors, locale),
      updatedAt: row?.updated_at.toISOString() ?? null,
    };
  }

  function publicView(name: string, row: repo.BrandingRow | undefined) {
    const colors = colorsOf(row);
    const logo = logoView(row, '/v1/public/branding/logo');
    return {
      name,
      colors,
      fontFamily: row?.font_family ?? null,
      fontStack: fontStack(row?.font_family ?? null),
      logoUrl: logo?.url ?? null,
    };
  }

  async function publicEntry(host: string | undefined) {
    const key = (host ?? '').toLowerCase();
    const hit = publicCache.get(key);
    if (hit) return hit;
    const tenantId = await deps.domains.tenantForHost(host);
    if (!tenantId) return undefined;
    const row = await db.withTenant(tenantId, (tx) => repo.findBranding(tx));
    const entry = { tenantId, view: publicView(await nameOf(tenantId), row) };
    publicCache.set(key, entry);
    return entry;
  }

  return {
    async get(tenantId: string, locale: LocaleForText) {
      const row = await db.withTenant(tenantId, (tx) => repo.findBranding(tx));
      return view(await nameOf(tenantId), row, locale);
    },

    /** Replaces colours and font (and renames the tenant when `name` is given). Low contrast is a warning. */
    async update(tenantId: string, input: BrandingInput, locale: LocaleForText) {
      const colors: Colors = {
        primary: normalizeHex(input.colors.primary),
        background: normalizeHex(input.colors.background),
        text: normalizeHex(input.colors.text),
        onPrimary: normalizeHex(input.colors.onPrimary ?? DEFAULT_COLORS.onPrimary),
        secondary: input.colors.secondary ? normalizeHex(input.colors.secondary) : null,
      };
      const family = input.fontFamily?.trim() || null;
      if (input.name !== undefined && input.name.trim() !== (await nameOf(tenantId))) {
        // The name lives on the tenant; its service invalidates every node's tenant caches.
        await deps.tenants.update(tenantId, { name: input.name.trim() });
      }
      const row = await db.withTenant(tenantId, (tx) => repo.upsertSettings(tx, tenantId, { colors, fontFamily: family }));
      await bus.publish({ type: 'tenant', tenantId });
      return view(await nameOf(tenantId), row, locale);
    },

    /**
     * Stores a logo after checking what it really is: the type comes from the bytes; a declared type
     * (part content type or file extension) that disagrees is refused as a disguised file. PNG is
     * checked chunk by chunk; SVG is sanitised and what was removed is reported.
     */
    async setLogo(tenantId: string, file: UploadedFile) {
      assertThat(file.bytes.length > 0, new AppError('validation_failed', 'the logo file is empty'));
      const detected = detectImageType(file.bytes);
      assertThat(
        detected,
        new AppError('unsupported_media_type', 'the logo must be a PNG or an SVG image (judged by its content, not its name)'),
      );
      const declared = declaredImageType(file.filename, file.mimetype);
      assertThat(
        declared === undefined || declared === detected,
        new AppError(
          'unsupported_media_type',
          `the file is declared as ${declared === 'other' ? 'another type' : declared} but its content is ${detected}`,
          {
            detected,
          },
        ),
      );
      let bytes = file.bytes;
      let removed: string[] = [];
      let dimensions: { width: number; height: number } | null = null;
      if (detected === 'image/png') dimensions = validatePng(bytes);
      else ({ svg: bytes, removed } = await sanitizeSvg(bytes));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const contentType: LogoType = detected;
      const row = await db.withTenant(tenantId, (tx) => repo.upsertLogo(tx, tenantId, { bytes, contentType, sha256 }));
      await bus.publish({ type: 'tenant', tenantId });
      return { logo: logoView(row, '/v1/branding/logo'), dimensions, sanitized: removed.length > 0, removed };
    },

    async getLogo(tenantId: string) {
      const logo = await db.withTenant(tenantId, (tx) => repo.findLogo(tx));
      assertThat(logo, notFound('logo'));
      return logo;
    },

    /** Idempotent: the branding has no logo afterwards, whether or not it had one. */
    async deleteLogo(tenantId: string) {
      const cleared = await db.withTenant(tenantId, (tx) => repo.clearLogo(tx));
      if (cleared) await bus.publish({ type: 'tenant', tenantId });
    },

    async publicBranding(host: string | undefined) {
      const entry = await publicEntry(host);
      assertThat(entry, notFound('site'));
      return entry.view;
    },

    async publicLogo(host: string | undefined) {
      const entry = await publicEntry(host);
      assertThat(entry, notFound('site'));
      const logo = await db.withTenant(entry.tenantId, (tx) => repo.findLogo(tx));
      assertThat(logo, notFound('logo'));
      return logo;
    },
  };
}

export type BrandingService = ReturnType<typeof createBrandingService>;
