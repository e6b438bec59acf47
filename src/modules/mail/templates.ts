import { createFormatter, type Formatter, type MessageLocale, messageLocaleOf } from '../../platform/i18n.ts';

/**
 * Mail templates in English and Italian: subject, plain text and HTML. Data values are escaped in
 * the HTML; dates are formatted in the recipient's locale and time zone.
 */
export type TemplateData = {
  /** A link that proves the address (signup, resend). */
  verify_email: { name: string; link: string; expiresAt: Date };
  password_reset: { name: string; link: string; expiresAt: Date };
  invitation: { inviterName: string; tenantName: string; role: string; link: string; expiresAt: Date };
  /** A one-time sign-in code (adaptive MFA by email); `code` is 6 digits. */
  sign_in_code: { name: string; code: string; expiresAt: Date };
  account_locked: { name: string; until: Date | null; reason: string };
  quota_alert: { tenantName: string; metric: string; used: number; limit: number; at: Date };
};

export type TemplateName = keyof TemplateData;
export const TEMPLATE_NAMES = [
  'verify_email',
  'password_reset',
  'invitation',
  'sign_in_code',
  'account_locked',
  'quota_alert',
] as const satisfies readonly TemplateName[];

export type Rendered = { subject: string; text: string; html: string };

type Part = { subject: string; lines: string[]; action?: { label: string; link: string } };
type Render<K extends TemplateName> = (data: TemplateData[K], f: Formatter) => Part;

const TEMPLATES: { [L in MessageLocale]: { [K in TemplateName]: Render<K> } } = {
  en: {
    verify_email: (d, f) => ({
      subject: 'Confirm your email address',
      lines: [
        `Hello ${d.name},`,
        'please confirm your email address by opening this link:',
        `The link works once, until ${f.dateTime(d.expiresAt)}.`,
      ],
      action: { label: 'Confirm email address', link: d.link },
    }),
    password_reset: (d, f) => ({
      subject: 'Reset your password',
      lines: [
        `Hello ${d.name},`,
        'someone asked to reset the password of your account. If it was you, open this link:',
        `The link works once, until ${f.dateTime(d.expiresAt)}. If it was not you, ignore this message: your password stays as it is.`,
      ],
      action: { label: 'Choose a new password', link: d.link },
    }),
    invitation: (d, f) => ({
      subject: `${d.inviterName} invited you to ${d.tenantName}`,
      lines: [
        `${d.inviterName} invited you to join ${d.tenantName} as ${d.role}.`,
        'To accept, open this link and choose a password:',
        `The invitation is valid until ${f.dateTime(d.expiresAt)}.`,
      ],
      action: { label: 'Accept the invitation', link: d.link },
    }),
    sign_in_code: (d, f) => ({
      subject: `Your sign-in code: ${d.code}`,
      lines: [
        `Hello ${d.name},`,
        `your sign-in code is ${d.code}.`,
        `It works once, until ${f.dateTime(d.expiresAt)}. If you did not try to sign in, change your password.`,
      ],
    }),
    account_locked: (d, f) => ({
      subject: 'Your account has been locked',
      lines: [
        `Hello ${d.name},`,
        `your account was locked for your protection (${d.reason}).`,
        d.until ? `It unlocks on its own on ${f.dateTime(d.until)}.` : 'An administrator of your organisation can unlock it.',
        'You can also reset your password.',
      ],
    }),
    quota_alert: (d, f) => ({
      subject: `${d.tenantName}: ${d.metric} at ${f.percent(d.limit > 0 ? d.used / d.limit : 1, 0)} of the limit`,
      lines: [`${d.tenantName} has used ${f.number(d.used)} of ${f.number(d.limit)} (${d.metric}) as of ${f.dateTime(d.at)}.`],
    }),
  },
  it: {
    verify_email: (d, f) => ({
      subject: 'Conferma il tuo indirizzo email',
      lines: [
        `Ciao ${d.name},`,
        'conferma il tuo indirizzo email aprendo questo link:',
        `Il link funziona una sola volta, fino al ${f.dateTime(d.expiresAt)}.`,
      ],
      action: { label: 'Conferma indirizzo email', link: d.link },
    }),
    password_reset: (d, f) => ({
      subject: 'Reimposta la password',
      lines: [
        `Ciao ${d.name},`,
        'è stato chiesto di reimpostare la password del tuo account. Se sei stato tu, apri questo link:',
        `Il link funziona una sola volta, fino al ${f.dateTime(d.expiresAt)}. Se non sei stato tu, ignora questo messaggio: la password resta invariata.`,
      ],
      action: { label: 'Scegli una nuova password', link: d.link },
    }),
    invitation: (d, f) => ({
      subject: `${d.inviterName} ti ha invitato in ${d.tenantName}`,
      lines: [
        `${d.inviterName} ti ha invitato a unirti a ${d.tenantName} con il ruolo ${d.role}.`,
        'Per accettare, apri questo link e scegli una password:',
        `L’invito è valido fino al ${f.dateTime(d.expiresAt)}.`,
      ],
      action: { label: 'Accetta l’invito', link: d.link },
    }),
    sign_in_code: (d, f) => ({
      subject: `Il tuo codice di accesso: ${d.code}`,
      lines: [
        `Ciao ${d.name},`,
        `il tuo codice di accesso è ${d.code}.`,
        `Funziona una sola volta, fino al ${f.dateTime(d.expiresAt)}. Se non hai tentato l’accesso, cambia la password.`,
      ],
    }),
    account_locked: (d, f) => ({
      subject: 'Il tuo account è stato bloccato',
      lines: [
        `Ciao ${d.name},`,
        `il tuo account è stato bloccato per protezione (${d.reason}).`,
        d.until ? `Si sblocca da solo il ${f.dateTime(d.until)}.` : 'Un amministratore della tua organizzazione può sbloccarlo.',
        'Puoi anche reimpostare la password.',
      ],
    }),
    quota_alert: (d, f) => ({
      subject: `${d.tenantName}: ${d.metric} al ${f.percent(d.limit > 0 ? d.used / d.limit : 1, 0)} del limite`,
      lines: [`${d.tenantName} ha usato ${f.number(d.used)} su ${f.number(d.limit)} (${d.metric}) al ${f.dateTime(d.at)}.`],
    }),
  },
};

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/** Renders a template in the language of `locale` (English unless Italian), dates in `timeZone`. */
export function renderTemplate<K extends TemplateName>(
  template: K,
  data: TemplateData[K],
  locale: string | undefined,
  timeZone: string | undefined,
): Rendered & { language: MessageLocale } {
  const language = messageLocaleOf(locale) ?? 'en';
  const formatter = createFormatter(locale && messageLocaleOf(locale) ? locale : language, timeZone);
  const render = TEMPLATES[language][template] as Render<K>;
  const part = render(data, formatter);
  const text = [...part.lines.slice(0, 2), ...(part.action ? [part.action.link] : []), ...part.lines.slice(2), '', '— Palazzo'].join('\n');
  const paragraphs = part.lines.map((line) => `<p>${escapeHtml(line)}</p>`);
  if (part.action) {
    const link = escapeHtml(part.action.link);
    paragraphs.splice(
      2,
      0,
      `<p><a href="${link}">${escapeHtml(part.action.label)}</a></p><p style="font-size:12px;color:#555">${link}</p>`,
    );
  }
  const html = `<!doctype html><html lang="${language}"><head><meta charset="utf-8"><title>${escapeHtml(part.subject)}</title></head><body style="font-family:sans-serif;line-height:1.5">${paragraphs.join('')}<p>— Palazzo</p></body></html>`;
  // A subject is a header: no line breaks from data.
  return { subject: part.subject.replace(/[\r\n]+/g, ' '), text, html, language };
}
