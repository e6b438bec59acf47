import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS, TITLES_IT, titleOf } from '../../src/platform/errors.ts';
import { canonicalTimeZone, createFormatter, negotiateLocale } from '../../src/platform/i18n.ts';
import { createTestContext, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';

let ctx: TestContext;
let tenant: TestTenant;
beforeAll(async () => {
  ctx = await createTestContext();
  tenant = await ctx.tenant();
});
afterAll(async () => {
  await ctx?.close();
});

describe('negotiation and formatting', () => {
  it('picks the best language the server speaks from Accept-Language', () => {
    expect(negotiateLocale('it-IT,it;q=0.9,en;q=0.8')).toBe('it');
    expect(negotiateLocale('fr-FR, de;q=0.9, it;q=0.5, en;q=0.4')).toBe('it');
    expect(negotiateLocale('en;q=0.5, it;q=0.6')).toBe('it');
    expect(negotiateLocale('it;q=0, en')).toBe('en');
    expect(negotiateLocale('de, fr')).toBeUndefined();
    expect(negotiateLocale('de, *;q=0.1')).toBe('en');
    expect(negotiateLocale(undefined)).toBeUndefined();
    expect(negotiateLocale(';;;,q=,')).toBeUndefined();
  });

  it('formats dates in the time zone and numbers in the locale', () => {
    const when = new Date('2025-03-03T13:05:00Z');
    const it = createFormatter('it-IT', 'Europe/Rome');
    expect(it.dateTime(when)).toContain('3 marzo 2025');
    expect(it.dateTime(when)).toContain('14:05');
    // Italian groups thousands from five digits on (CLDR minimumGroupingDigits = 2).
    expect(it.number(12345.5)).toBe('12.345,5');
    expect(it.percent(0.2245, 1)).toBe('22,5%');
    const en = createFormatter('en-US', 'America/New_York');
    expect(en.dateTime(when)).toContain('March 3, 2025');
    expect(en.dateTime(when)).toContain('8:05');
    expect(en.number(1234.5)).toBe('1,234.5');
    // Unknown values fall back to English and UTC instead of failing.
    expect(createFormatter('!!', 'Mars/Olympus').timeZone).toBe('UTC');
    expect(canonicalTimeZone('europe/rome')).toBe('Europe/Rome');
  });

  it('has an Italian title for every error code, and English stays the default', () => {
    for (const code of Object.keys(ERROR_STATUS) as Array<keyof typeof ERROR_STATUS>) {
      expect(TITLES_IT[code], `Italian title of ${code}`).toBeTruthy();
      expect(titleOf(code)).not.toBe(TITLES_IT[code]);
    }
  });
});

describe('problem titles follow the caller', () => {
  it('uses Accept-Language when nothing else is known; the code never changes', async () => {
    const anonymous = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { 'accept-language': 'it-IT,it;q=0.9' } });
    expectProblem(anonymous, 401, 'unauthenticated');
    expect(anonymous.json().title).toBe('È richiesta l’autenticazione');
    const noRoute = await ctx.app.inject({ method: 'GET', url: '/v1/nowhere', headers: { 'accept-language': 'it' } });
    expectProblem(noRoute, 404, 'not_found');
    expect(noRoute.json().title).toBe('Non trovato');
    const invalid = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'accept-language': 'it' },
      payload: { tenant: 'x' },
    });
    expectProblem(invalid, 400, 'validation_failed');
    expect(invalid.json().title).toBe('La richiesta non è valida');
    const english = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { 'accept-language': 'de-DE, en;q=0.5' } });
    expect(english.json().title).toBe('Authentication is required');
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me' })).json().title).toBe('Authentication is required');
  });

  it("uses the user's own locale first, on every node at once, and back to the header when cleared", async () => {
    const member = await ctx.user(tenant, 'member');
    const forbidden = (headers: Record<string, string> = {}) =>
      ctx.app.inject({ method: 'GET', url: '/v1/api-keys', headers: { ...member.auth, ...headers } });
    expect((await forbidden()).json().title).toBe('You do not have permission for this action');

    const set = await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/me',
      headers: member.auth,
      payload: { locale: 'it-it', timezone: 'europe/rome' },
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({
      user: { locale: 'it-IT', timezone: 'Europe/Rome' },
      tenant: { locale: 'en', timezone: 'UTC' },
      effective: { locale: 'it-IT', messages: 'it', timezone: 'Europe/Rome' },
    });
    const italian = await forbidden({ 'accept-language': 'en' });
    expectProblem(italian, 403, 'forbidden');
    expect(italian.json().title).toBe('Non hai il permesso per questa azione');
    expect(italian.json().permission).toBe('api_keys.read');

    const cleared = await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: member.auth, payload: { locale: null } });
    expect(cleared.json().user).toEqual({ locale: null, timezone: 'Europe/Rome' });
    expect((await forbidden()).json().title).toBe('You do not have permission for this action');
    expect((await forbidden({ 'accept-language': 'it' })).json().title).toBe('Non hai il permesso per questa azione');
  });

  it("falls back to the tenant's locale, which the header still overrides; API keys follow the tenant", async () => {
    const other = await ctx.tenant();
    const key = await ctx.apiKey(other, ['tenant.read']);
    const set = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/tenant/localization',
      headers: other.auth,
      payload: { locale: 'it', timezone: 'Europe/Rome' },
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().tenant).toEqual({ locale: 'it', timezone: 'Europe/Rome' });
    const byKey = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: key.auth });
    expectProblem(byKey, 403, 'forbidden');
    expect(byKey.json().title).toBe('Non hai il permesso per questa azione');
    const header = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: { ...key.auth, 'accept-language': 'en' } });
    expect(header.json().title).toBe('You do not have permission for this action');
    const view = await ctx.app.inject({ method: 'GET', url: '/v1/localization', headers: key.auth });
    expect(view.json()).toMatchObject({ user: null, effective: { locale: 'it', messages: 'it', timezone: 'Europe/Rome' } });
    expect(view.json().supportedMessageLocales).toEqual(['en', 'it']);
    // The first tenant is untouched.
    const first = await ctx.app.inject({ method: 'GET', url: '/v1/localization', headers: tenant.auth });
    expect(first.json().tenant).toEqual({ locale: 'en', timezone: 'UTC' });
  });

  it('validates locales and time zones, and refuses personal preferences for an API key', async () => {
    for (const payload of [
      { locale: 'italian' },
      { locale: 'it_IT' },
      { timezone: 'Mars/Olympus' },
      { timezone: 'Rome; DROP' },
      {},
      { theme: 'dark' },
    ]) {
      const res = await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: tenant.auth, payload });
      expectProblem(res, 400, 'validation_failed');
    }
    const zone = await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: tenant.auth, payload: { timezone: 'Mars/Olympus' } });
    expect(zone.json().errors).toEqual([{ path: 'body/timezone', message: 'is not a known time zone' }]);
    const badTenant = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/tenant/localization',
      headers: tenant.auth,
      payload: { locale: 'it', timezone: 'Nowhere/City' },
    });
    expectProblem(badTenant, 400, 'validation_failed');
    const key = await ctx.apiKey(tenant, ['tenant.read']);
    expectProblem(await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: key.auth, payload: { locale: 'it' } }), 403, 'forbidden');
    const member = await ctx.user(tenant, 'member');
    expectProblem(
      await ctx.app.inject({
        method: 'PUT',
        url: '/v1/tenant/localization',
        headers: member.auth,
        payload: { locale: 'it', timezone: 'UTC' },
      }),
      403,
      'forbidden',
    );
  });

  it('formats human-readable text in the user’s time zone', async () => {
    const user = await ctx.user(tenant, 'admin');
    await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: user.auth, payload: { locale: 'it-IT', timezone: 'Asia/Tokyo' } });
    const view = (await ctx.app.inject({ method: 'GET', url: '/v1/localization', headers: user.auth })).json();
    const expected = createFormatter('it-IT', 'Asia/Tokyo').date(new Date());
    expect(view.effective.now).toContain(expected);
    expect(view.effective.timezone).toBe('Asia/Tokyo');
  });
});
