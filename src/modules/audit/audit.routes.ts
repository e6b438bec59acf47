import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../platform/errors.ts';
import { tenantOf, tenantPrincipal } from '../../platform/http/request-context.ts';
import { PaginationQuery } from '../../platform/pagination.ts';
import { type AuditService, toAuditView } from './audit.service.ts';

const Actor = Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) });

const AuditEntry = Type.Object({
  id: Type.String({ format: 'uuid' }),
  seq: Type.Integer({ description: 'Position in the tenant’s chain, from 1' }),
  at: Type.String({ format: 'date-time' }),
  actor: Actor,
  impersonator: Type.Union([Actor, Type.Null()], { description: 'The operator acting through an impersonation token' }),
  action: Type.String({ description: 'What was done, e.g. `api_keys.create`, `auth.login`, `security.login_failed`' }),
  outcome: Type.Union([Type.Literal('success'), Type.Literal('failure')]),
  target: Type.Union([Actor, Type.Null()]),
  summary: Type.Record(Type.String(), Type.Unknown(), { description: 'Route, parameters and the request body with secrets redacted' }),
  requestId: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  hash: Type.String({ description: 'SHA-256 of the previous hash and this entry, hex' }),
  prevHash: Type.String(),
});

const Filters = {
  action: Type.Optional(Type.String({ maxLength: 200, description: 'Exact action, or a prefix ending at a dot (`api_keys`)' })),
  actorType: Type.Optional(
    Type.Union([
      Type.Literal('user'),
      Type.Literal('api_key'),
      Type.Literal('operator'),
      Type.Literal('system'),
      Type.Literal('anonymous'),
    ]),
  ),
  actorId: Type.Optional(Type.String({ maxLength: 100 })),
  targetType: Type.Optional(Type.String({ maxLength: 100 })),
  targetId: Type.Optional(Type.String({ maxLength: 200 })),
  outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure')])),
  requestId: Type.Optional(Type.String({ maxLength: 100 })),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Entries at or after (inclusive)' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Entries before (exclusive)' })),
};

function seqCursor(cursor: string | undefined): number | null {
  if (cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9][0-9]{0,15}$/.test(text)) throw new AppError('invalid_cursor', 'cursor is not one this API returned');
  return Number(text);
}

function dateOf(value: string | undefined): Date | undefined {
  return value === undefined ? undefined : new Date(value);
}

export const auditRoutes =
  (audit: AuditService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['audit'];

    app.get(
      '/v1/audit-log',
      {
        config: { auth: { kind: 'tenant', permission: 'audit.read' } },
        schema: {
          tags,
          summary: 'List audit entries, newest first, with filters',
          querystring: Type.Object({ ...PaginationQuery, ...Filters }),
          response: { 200: Type.Object({ data: Type.Array(AuditEntry), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        },
      },
      async (request) => {
        const { limit = 50, cursor, from, to, ...rest } = request.query;
        const rows = await audit.list(tenantOf(request), { ...rest, from: dateOf(from), to: dateOf(to) }, seqCursor(cursor), limit);
        const data = rows.slice(0, limit).map(toAuditView);
        const last = data.at(-1);
        return { data, nextCursor: rows.length > limit && last ? Buffer.from(String(last.seq)).toString('base64url') : null };
      },
    );

    app.get(
      '/v1/audit-log/verify',
      {
        config: { auth: { kind: 'tenant', permission: 'audit.read' } },
        schema: {
          tags,
          summary: 'Verify the hash chain of the tenant’s audit log',
          description:
            'Recomputes every entry’s hash from the retention anchor to the head. `valid: false` names the first broken position: a missing entry, a broken link, an edited entry, or a truncated tail.',
          response: {
            200: Type.Object({
              valid: Type.Boolean(),
              checked: Type.Integer(),
              firstSeq: Type.Union([Type.Integer(), Type.Null()]),
              lastSeq: Type.Union([Type.Integer(), Type.Null()]),
              anchorSeq: Type.Integer({ description: 'Entries up to here were removed by retention' }),
              headSeq: Type.Union([Type.Integer(), Type.Null()]),
              brokenAt: Type.Union([
                Type.Object({
                  seq: Type.Integer(),
                  reason: Type.Union([
                    Type.Literal('missing_entry'),
                    Type.Literal('chain_break'),
                    Type.Literal('hash_mismatch'),
                    Type.Literal('head_mismatch'),
                  ]),
                }),
                Type.Null(),
              ]),
            }),
          },
        },
      },
      async (request) => audit.verify(tenantOf(request)),
    );

    app.get(
      '/v1/audit-log/export',
      {
        config: { auth: { kind: 'tenant', permission: 'audit.read' } },
        schema: {
          tags,
          summary: 'Export the audit log as JSON Lines, oldest first',
          description: 'One entry per line (`application/x-ndjson`). The export itself is recorded in the log.',
          querystring: Type.Object({ from: Filters.from, to: Filters.to }),
          produces: ['application/x-ndjson'],
        },
      },
      async (request, reply) => {
        const principal = tenantPrincipal(request);
        const range = { from: dateOf(request.query.from), to: dateOf(request.query.to) };
        await audit.note(principal.tenantId, {
          actorType: principal.kind === 'user' ? 'user' : 'api_key',
          actorId: principal.kind === 'user' ? principal.userId : principal.apiKeyId,
          impersonatorId: (principal as { impersonator?: { operatorId: string } }).impersonator?.operatorId ?? null,
          action: 'audit_log.export',
          outcome: 'success',
          targetType: 'audit_log',
          summary: { from: request.query.from ?? null, to: request.query.to ?? null },
          requestId: request.id,
          ip: request.ip,
        });
        const entries = audit.entries(principal.tenantId, range);
        async function* lines() {
          for await (const row of entries) yield `${JSON.stringify(toAuditView(row))}\n`;
        }
        reply.type('application/x-ndjson; charset=utf-8');
        reply.header('content-disposition', 'attachment; filename="audit-log.jsonl"');
        return reply.send(Readable.from(lines()));
      },
    );
  };
