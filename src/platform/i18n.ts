/**
 * Localization primitives: which languages the server's own messages exist in, negotiation from
 * `Accept-Language`, validation of stored locales and time zones, and one formatter for dates and
 * numbers per locale and time zone (Intl, no message catalogue of dates to maintain).
 */

/** Languages the server's own texts (problem titles, warnings, summaries) exist in. */
export const MESSAGE_LOCALES = ['en', 'it'] as const;
export type MessageLocale = (typeof MESSAGE_LOCALES)[number];
export const DEFAULT_LOCALE: MessageLocale = 'en';

/** A BCP 47 tag in its canonical form (`it-it` → `it-IT`), or undefined when it is not one. */
export function canonicalLocale(tag: string): string | undefined {
  if (tag.length === 0 || tag.length > 35) return undefined;
  try {
    const [canonical] = Intl.getCanonicalLocales(tag);
    return canonical;
  } catch {
    return undefined;
  }
}

/** An IANA time zone name this runtime knows (`Europe/Rome`, `UTC`), in its canonical spelling. */
export function canonicalTimeZone(name: string): string | undefined {
  if (name.length === 0 || name.length > 64) return undefined;
  try {
    return new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** The message language for a locale tag: its language if the server speaks it, else undefined. */
export function messageLocaleOf(tag: string | null | undefined): MessageLocale | undefined {
  if (!tag) return undefined;
  const language = tag.split('-')[0]?.toLowerCase();
  return (MESSAGE_LOCALES as readonly string[]).includes(language ?? '') ? (language as MessageLocale) : undefined;
}

/**
 * The best message language for an `Accept-Language` header (RFC 9110 §12.5.4): the ranges by
 * descending q, first one the server speaks; `*` means "anything", which is English. Undefined
 * when the header is absent or names only languages the server does not speak.
 */
export function negotiateLocale(header: string | string[] | undefined): MessageLocale | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!value) return undefined;
  const ranges = value
    .slice(0, 1000)
    .split(',')
    .map((part, index) => {
      const [range = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p)).find(Boolean);
      return { range: range.trim().toLowerCase(), q: q ? Number(q[1]) : 1, index };
    })
    .filter((r) => r.range !== '' && r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { range } of ranges) {
    if (range === '*') return DEFAULT_LOCALE;
    const locale = messageLocaleOf(range);
    if (locale) return locale;
  }
  return undefined;
}

export type Formatter = {
  readonly locale: string;
  readonly timeZone: string;
  /** `3 March 2025, 14:05` / `3 marzo 2025, 14:05` in the formatter's time zone. */
  dateTime(value: Date): string;
  date(value: Date): string;
  number(value: number, maximumFractionDigits?: number): string;
  /** 0.1234 → `12.34%` / `12,34%`. */
  percent(value: number, maximumFractionDigits?: number): string;
};

/** Dates and numbers for people, in a locale and time zone (falls back to English and UTC). */
export function createFormatter(locale: string | undefined, timeZone: string | undefined): Formatter {
  const tag = (locale && canonicalLocale(locale)) || DEFAULT_LOCALE;
  const zone = (timeZone && canonicalTimeZone(timeZone)) || 'UTC';
  const dateTime = new Intl.DateTimeFormat(tag, { dateStyle: 'long', timeStyle: 'short', timeZone: zone });
  const date = new Intl.DateTimeFormat(tag, { dateStyle: 'long', timeZone: zone });
  return {
    locale: tag,
    timeZone: zone,
    dateTime: (value) => dateTime.format(value),
    date: (value) => date.format(value),
    number: (value, maximumFractionDigits = 2) => new Intl.NumberFormat(tag, { maximumFractionDigits }).format(value),
    percent: (value, maximumFractionDigits = 2) => new Intl.NumberFormat(tag, { style: 'percent', maximumFractionDigits }).format(value),
  };
}
