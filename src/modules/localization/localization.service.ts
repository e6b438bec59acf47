import type { FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { Database } from '../../platform/db/database.ts';
import { AppError, assertThat, notFound } from '../../platform/errors.ts';
import {
  canonicalLocale,
  canonicalTimeZone,
  createFormatter,
  DEFAULT_LOCALE,
  type Formatter,
  type MessageLocale,
  messageLocaleOf,
  negotiateLocale,
} from '../../platform/i18n.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import type { TenantPrincipal } from '../access/index.ts';
import type { TenantService } from '../tenants/index.ts';
import * as repo from './localization.repo.ts';

export type Preferences = {
  tenant: { locale: string; timezone: string };
  /** The user's own settings; null fields inherit the tenant's. Absent for API keys. */
  user: { locale: string | null; timezone: string | null } | null;
};

/** What a response to this caller is written in: locale for formatting, language for texts, time zone. */
export type RequestLocale = { locale: string; timeZone: string; messages: MessageLocale; format: Formatter };

const invalidLocale = (path: string) =>
  new AppError('validation_failed', `${path} is not a locale tag (for example "it" or "it-IT")`, {
    errors: [{ path, message: 'is not a valid locale' }],
  });
const invalidTimeZone = (path: string) =>
  new AppError('validation_failed', `${path} is not an IANA time zone (for example "Europe/Rome")`, {
    errors: [{ path, message: 'is not a known time zone' }],
  });

/** Validates and canonicalises a locale and a time zone; undefined and null pass through. */
export function normalizeLocalization<T extends { locale?: string | null; timezone?: string | null }>(input: T, prefix = 'body'): T {
  const out = { ...input };
  if (typeof input.locale === 'string') {
    const locale = canonicalLocale(input.locale);
    assertThat(locale, invalidLocale(`${prefix}/locale`));
    out.locale = locale;
  }
  if (typeof input.timezone === 'string') {
    const zone = canonicalTimeZone(input.timezone);
    assertThat(zone, invalidTimeZone(`${prefix}/timezone`));
    out.timezone = zone;
  }
  return out;
}

/**
 * Locale and time zone per tenant and per user. Read on the error path and where a response carries
 * text for people, so the preferences are cached per node and dropped on every node when the user
 * or the tenant changes.
 */
export function createLocalizationService(deps: { db: Database; bus: InvalidationBus; tenants: TenantService; ttlMs?: number }) {
  const { db, bus } = deps;
  const cache = new LRUCache<string, Preferences>({ max: 50_000, ttl: deps.ttlMs ?? 30_000 });
  const keyOf = (tenantId: string, userId: string | null) => `${tenantId}:${userId ?? '-'}`;
  bus.on((event) => {
    if (event.type === 'user') cache.delete(keyOf(event.tenantId, event.userId));
    if (event.type !== 'tenant') return;
    for (const key of cache.keys()) if (key.startsWith(`${event.tenantId}:`)) cache.delete(key);
  });

  async function preferences(principal: TenantPrincipal): Promise<Preferences> {
    const userId = principal.kind === 'user' ? principal.userId : null;
    const key = keyOf(principal.tenantId, userId);
    const hit = cache.get(key);
    if (hit) return hit;
    const row = await db.withTenant(principal.tenantId, (tx) => repo.findPreferences(tx, principal.tenantId, userId));
    assertThat(row, notFound('tenant'));
    const prefs: Preferences = {
      tenant: { locale: row.tenant_locale, timezone: row.tenant_timezone },
      user: userId ? { locale: row.user_locale, timezone: row.user_timezone } : null,
    };
    cache.set(key, prefs);
    return prefs;
  }

  /**
   * The order: the user's own locale, then the request's Accept-Language, then the tenant's locale,
   * then English. Texts use the first of these the server speaks (English or Italian); numbers and
   * dates use the first one in full (a user set to `de-CH` gets Swiss number formats, English texts).
   */
  function decide(prefs: Preferences | undefined, acceptLanguage: string | string[] | undefined): Omit<RequestLocale, 'format'> {
    const header = negotiateLocale(acceptLanguage);
    const candidates = [prefs?.user?.locale ?? undefined, header, prefs?.tenant.locale].filter((c): c is string => Boolean(c));
    const locale = candidates[0] ?? DEFAULT_LOCALE;
    const messages = candidates.map(messageLocaleOf).find(Boolean) ?? DEFAULT_LOCALE;
    const timeZone = prefs?.user?.timezone ?? prefs?.tenant.timezone ?? 'UTC';
    return { locale, messages, timeZone };
  }

  return {
    preferences,

    async forRequest(request: FastifyRequest): Promise<RequestLocale> {
      const principal = request.principal;
      const prefs = principal && principal.kind !== 'operator' ? await preferences(principal) : undefined;
      const decided = decide(prefs, request.headers['accept-language']);
      return { ...decided, format: createFormatter(decided.locale, decided.timeZone) };
    },

    /** For the error handler: the language of problem titles for this request. */
    async messageLocale(request: FastifyRequest): Promise<MessageLocale | undefined> {
      const principal = request.principal;
      if (!principal || principal.kind === 'operator') return undefined;
      return decide(await preferences(principal), request.headers['accept-language']).messages;
    },

    async setUserPreferences(principal: TenantPrincipal, patch: { locale?: string | null; timezone?: string | null }) {
      assertThat(
        principal.kind === 'user',
        new AppError('forbidden', 'only a user has personal preferences; an API key follows the tenant'),
      );
      const input = normalizeLocalization(patch);
      const found = await db.withTenant(principal.tenantId, (tx) => repo.updateUserPreferences(tx, principal.userId, input));
      assertThat(found, notFound('user'));
      await bus.publish({ type: 'user', tenantId: principal.tenantId, userId: principal.userId });
      return preferences(principal);
    },

    async setTenantLocalization(principal: TenantPrincipal, input: { locale: string; timezone: string }) {
      const normalized = normalizeLocalization(input);
      // Through the tenant service: the tenants row is the control plane's, and it invalidates every node.
      await deps.tenants.update(principal.tenantId, { locale: normalized.locale, timezone: normalized.timezone });
      return preferences(principal);
    },
  };
}

export type LocalizationService = ReturnType<typeof createLocalizationService>;
