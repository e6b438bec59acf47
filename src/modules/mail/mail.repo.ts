import type { Tx } from '../../platform/db/database.ts';

export type MailStatus = 'kept' | 'queued' | 'sent' | 'failed';

export type MailRow = {
  id: string;
  tenant_id: string | null;
  recipient: string;
  template: string;
  locale: string;
  subject: string;
  body_sealed: string | null;
  status: MailStatus;
  attempts: number;
  last_error: string | null;
  smtp_message_id: string | null;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
};

const COLUMNS =
  'id, tenant_id, recipient, template, locale, subject, body_sealed, status, attempts, last_error, smtp_message_id, created_at, updated_at, sent_at';

export async function insertMail(
  tx: Tx,
  mail: {
    id: string;
    tenantId: string | null;
    recipient: string;
    template: string;
    locale: string;
    subject: string;
    bodySealed: string;
    status: MailStatus;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO mail_outbox (id, tenant_id, recipient, template, locale, subject, body_sealed, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [mail.id, mail.tenantId, mail.recipient, mail.template, mail.locale, mail.subject, mail.bodySealed, mail.status],
  );
}

export async function findMail(tx: Tx, id: string): Promise<MailRow | undefined> {
  const { rows } = await tx.query<MailRow>(`SELECT ${COLUMNS} FROM mail_outbox WHERE id = $1`, [id]);
  return rows[0];
}

/** Newest first; the cursor is the last id of the previous page. */
export async function listMail(
  tx: Tx,
  filter: { tenantId?: string; status?: MailStatus; recipient?: string; before: string | null; limit: number },
): Promise<MailRow[]> {
  const { rows } = await tx.query<MailRow>(
    `SELECT ${COLUMNS} FROM mail_outbox
     WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR status = $2)
       AND ($3::text IS NULL OR recipient = $3) AND ($4::uuid IS NULL OR id < $4)
     ORDER BY id DESC LIMIT $5`,
    [filter.tenantId ?? null, filter.status ?? null, filter.recipient ?? null, filter.before, filter.limit + 1],
  );
  return rows;
}

/** Delivered: the body (and the links in it) is dropped; the record of the delivery stays. */
export async function markSent(tx: Tx, id: string, smtpMessageId: string | null, attempts: number): Promise<void> {
  await tx.query(
    `UPDATE mail_outbox SET status = 'sent', body_sealed = NULL, smtp_message_id = $2, attempts = $3, last_error = NULL,
       sent_at = now(), updated_at = now()
     WHERE id = $1`,
    [id, smtpMessageId, attempts],
  );
}

export async function markAttemptFailed(tx: Tx, id: string, error: string, attempts: number, final: boolean): Promise<void> {
  await tx.query(
    `UPDATE mail_outbox SET last_error = $2, attempts = $3, status = CASE WHEN $4::boolean THEN 'failed' ELSE status END, updated_at = now()
     WHERE id = $1`,
    [id, error.slice(0, 1000), attempts, final],
  );
}

/** The recipient's locale and time zone: the user's own, else the tenant's. */
export async function findRecipientLocale(
  tx: Tx,
  tenantId: string,
  userId: string | null,
): Promise<{ locale: string; timezone: string } | undefined> {
  const { rows } = await tx.query<{ locale: string; timezone: string }>(
    `SELECT COALESCE(u.locale, t.locale) AS locale, COALESCE(u.timezone, t.timezone) AS timezone
     FROM tenants t LEFT JOIN users u ON u.tenant_id = t.id AND u.id = $2::uuid
     WHERE t.id = $1`,
    [tenantId, userId],
  );
  return rows[0];
}
