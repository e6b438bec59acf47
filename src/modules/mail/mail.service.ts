import type { FastifyBaseLogger } from 'fastify';
import nodemailer, { type Transporter } from 'nodemailer';
import { decrypt, encrypt } from '../../platform/crypto.ts';
import type { Database, Tx } from '../../platform/db/database.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { enqueue, type JobRunner } from '../../platform/jobs.ts';
import * as repo from './mail.repo.ts';
import { renderTemplate, type TemplateData, type TemplateName } from './templates.ts';

export const MAIL_DELIVER_JOB = 'mail.deliver';
/** Delivery attempts before a message is marked failed (backoff 2, 4, 8, 16 s… between them). */
export const MAIL_MAX_ATTEMPTS = 6;

export type OutgoingMail<K extends TemplateName = TemplateName> = {
  /** The tenant the mail is about (null for instance mail); the job runs at its tier's priority. */
  tenantId: string | null;
  to: string;
  template: K;
  /** BCP 47 tag; the language is Italian for `it…`, English otherwise. Default: the tenant's (or the user's) locale. */
  locale?: string;
  timeZone?: string;
  /** With `tenantId` and no `locale`: the locale and time zone are the user's own, else the tenant's. */
  userId?: string;
  data: TemplateData[K];
};

export type MailBody = { text: string; html: string };

/** An address for logs: the first letter of the local part and the domain. */
export function maskAddress(address: string): string {
  const [local = '', domain = ''] = address.split('@');
  return `${local.slice(0, 1)}***@${domain}`;
}

export function createMailService(deps: {
  db: Database;
  jobs: JobRunner;
  log: FastifyBaseLogger;
  masterKey: Buffer;
  smtpUrl: string | undefined;
  from: string;
}) {
  const { db, jobs, log, masterKey } = deps;
  const transport: Transporter | undefined = deps.smtpUrl ? nodemailer.createTransport(deps.smtpUrl, { from: deps.from }) : undefined;
  const aad = (id: string) => `mail:${id}`;

  jobs.register(MAIL_DELIVER_JOB, async (job) => {
    const id = job.payload.messageId;
    if (typeof id !== 'string') throw new Error('mail job without messageId');
    const row = await db.withControlPlane((tx) => repo.findMail(tx, id));
    if (!row || row.status === 'sent' || !row.body_sealed) return { skipped: row?.status ?? 'missing' };
    if (!transport) return { skipped: 'smtp not configured' };
    const body = JSON.parse(decrypt(masterKey, row.body_sealed, aad(row.id))) as MailBody;
    try {
      const info = await transport.sendMail({ from: deps.from, to: row.recipient, subject: row.subject, text: body.text, html: body.html });
      await db.withControlPlane((tx) => repo.markSent(tx, row.id, info.messageId ?? null, job.attempts));
      log.info({ mailId: row.id, template: row.template, tenantId: row.tenant_id, to: maskAddress(row.recipient) }, 'mail sent');
      return { sent: true };
    } catch (error) {
      // The reason is recorded on the message; the job runner retries with backoff.
      const reason = error instanceof Error ? error.message : String(error);
      const final = job.attempts >= job.max_attempts;
      await db.withControlPlane((tx) => repo.markAttemptFailed(tx, row.id, reason, job.attempts, final));
      log.warn({ mailId: row.id, template: row.template, attempt: job.attempts, final, reason }, 'mail delivery failed');
      throw error;
    }
  });

  return {
    /** True when messages leave over SMTP; false when they are kept in the outbox. */
    delivers: transport !== undefined,

    /**
     * Renders and records a message in the caller's transaction (a transactional outbox): it exists
     * exactly when the action that caused it commits. With SMTP configured a delivery job is
     * committed with it; without, the message is kept for an operator (`palazzo mail list`).
     * Logs never carry the body, which holds links with tokens.
     */
    async enqueue<K extends TemplateName>(tx: Tx, mail: OutgoingMail<K>): Promise<string> {
      let locale = mail.locale;
      let timeZone = mail.timeZone;
      if (mail.tenantId && (!locale || !timeZone)) {
        const found = await repo.findRecipientLocale(tx, mail.tenantId, mail.userId ?? null);
        locale ??= found?.locale;
        timeZone ??= found?.timezone;
      }
      const rendered = renderTemplate(mail.template, mail.data, locale, timeZone);
      const id = uuidv7();
      const body: MailBody = { text: rendered.text, html: rendered.html };
      await repo.insertMail(tx, {
        id,
        tenantId: mail.tenantId,
        recipient: mail.to,
        template: mail.template,
        locale: rendered.language,
        subject: rendered.subject,
        bodySealed: encrypt(masterKey, JSON.stringify(body), aad(id)),
        status: transport ? 'queued' : 'kept',
      });
      if (transport) {
        const job = { kind: MAIL_DELIVER_JOB, payload: { messageId: id }, maxAttempts: MAIL_MAX_ATTEMPTS };
        if (mail.tenantId) await jobs.enqueueForTenant(tx, { ...job, tenantId: mail.tenantId });
        else await enqueue(tx, job);
      }
      log.info(
        { mailId: id, template: mail.template, tenantId: mail.tenantId, to: maskAddress(mail.to), mode: transport ? 'smtp' : 'outbox' },
        transport ? 'mail queued for delivery' : 'mail kept in the outbox (no SMTP configured)',
      );
      return id;
    },

    /** The outbox for operators, newest first, with the body while it is still held. */
    async list(filter: { tenantId?: string; status?: repo.MailStatus; recipient?: string; before: string | null; limit: number }) {
      const rows = await db.withControlPlane((tx) => repo.listMail(tx, filter));
      return rows.map((row) => ({
        row,
        body: row.body_sealed ? (JSON.parse(decrypt(masterKey, row.body_sealed, aad(row.id))) as MailBody) : null,
      }));
    },

    async close() {
      transport?.close();
    },
  };
}

export type MailService = ReturnType<typeof createMailService>;
