/**
 * Outbound mail. Other modules use it inside the transaction of the action that causes the mail:
 *
 *   await mail.enqueue(tx, {
 *     tenantId,                 // the tenant the mail is about (null for instance mail)
 *     to: 'ada@example.com',
 *     template: 'sign_in_code', // verify_email | password_reset | invitation | sign_in_code | account_locked | quota_alert
 *     userId,                   // optional: the language and time zone are this user's, else the tenant's
 *     locale: 'it',             // optional override (BCP 47); Italian for it-*, English otherwise
 *     data: { name: 'Ada', code: '123456', expiresAt: new Date(Date.now() + 600_000) },
 *   });
 *
 * The message is rendered (subject, text, HTML) and written to `mail_outbox` in that transaction: it
 * exists exactly when the action commits. With PALAZZO_SMTP_URL a `mail.deliver` job is committed
 * with it and sends it through nodemailer, retrying with backoff and recording the reason of each
 * failure; without, the message is kept for operators (`GET /v1/operator/mail`, `palazzo mail list`).
 * Bodies are sealed at rest with the master key and dropped once delivered; logs carry the id,
 * template, tenant and a masked address, never a body, link or code.
 */
export { operatorMailRoutes } from './mail.routes.ts';
export {
  createMailService,
  MAIL_DELIVER_JOB,
  MAIL_MAX_ATTEMPTS,
  type MailService,
  maskAddress,
  type OutgoingMail,
} from './mail.service.ts';
export { renderTemplate, TEMPLATE_NAMES, type TemplateData, type TemplateName } from './templates.ts';
