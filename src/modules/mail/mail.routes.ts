import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import type { MailService } from './mail.service.ts';
import { TEMPLATE_NAMES } from './templates.ts';

const MailStatus = Type.Union([Type.Literal('kept'), Type.Literal('queued'), Type.Literal('sent'), Type.Literal('failed')], {
  description: 'kept: no SMTP configured, held for an operator; queued: waiting for delivery; sent; failed: retries exhausted',
});

export const Mail = Type.Object({
  id: Type.String({ format: 'uuid' }),
  tenantId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  to: Type.String(),
  template: Type.String({ description: `One of ${TEMPLATE_NAMES.join(', ')}` }),
  locale: Type.String(),
  subject: Type.String(),
  text: Type.Union([Type.String(), Type.Null()], {
    description: 'The plain-text body; null once delivered (bodies hold links with tokens)',
  }),
  html: Type.Union([Type.String(), Type.Null()]),
  status: MailStatus,
  attempts: Type.Integer(),
  lastError: Type.Union([Type.String(), Type.Null()], { description: 'Why the last delivery attempt failed' }),
  createdAt: Timestamp,
  sentAt: NullableTimestamp,
});

export const operatorMailRoutes =
  (mail: MailService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/v1/operator/mail',
      {
        config: { auth: { kind: 'operator' } },
        schema: {
          tags: ['operator'],
          summary: 'Read the mail outbox (newest first)',
          description:
            'Every outbound message is recorded here in the transaction of the action that caused it. Without PALAZZO_SMTP_URL messages stay `kept` with their body, so an operator can pass a link on; with SMTP they are delivered by a job and their body is dropped once sent.',
          querystring: Type.Object({
            ...PaginationQuery,
            tenantId: Type.Optional(Type.String({ format: 'uuid' })),
            status: Type.Optional(MailStatus),
            to: Type.Optional(Type.String({ maxLength: 254, description: 'Exact recipient address' })),
          }),
          response: { 200: Page(Mail) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await mail.list({
          tenantId: request.query.tenantId,
          status: request.query.status,
          recipient: request.query.to?.trim().toLowerCase(),
          before: decodeCursor(request.query.cursor),
          limit,
        });
        const page = toPage(
          rows.map(({ row, body }) => ({
            id: row.id,
            tenantId: row.tenant_id,
            to: row.recipient,
            template: row.template,
            locale: row.locale,
            subject: row.subject,
            text: body?.text ?? null,
            html: body?.html ?? null,
            status: row.status,
            attempts: row.attempts,
            lastError: row.last_error,
            createdAt: row.created_at.toISOString(),
            sentAt: row.sent_at?.toISOString() ?? null,
          })),
          limit,
        );
        return page;
      },
    );
  };
