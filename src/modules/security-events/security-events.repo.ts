import type { Tx } from '../../platform/db/database.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { appendAuditEntry } from '../audit/audit.repo.ts';

export type SecurityEventRow = {
  id: string;
  type: string;
  severity: string;
  actor_type: string | null;
  actor_id: string | null;
  ip: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
  created_at: Date;
};

export type NewSecurityEvent = {
  tenantId: string;
  type: string;
  severity: 'info' | 'low' | 'medium' | 'high' | 'critical';
  actorType?: string | null;
  actorId?: string | null;
  ip?: string | null;
  requestId?: string | null;
  details?: Record<string, unknown>;
};

const AUDIT_ACTORS = new Set(['user', 'api_key', 'operator', 'system']);
const REFUSAL = /fail|denied|mismatch|reuse|lock|invalid|refused|forbidden|suspend|probe|misuse/;

export async function insertSecurityEvent(tx: Tx, event: NewSecurityEvent): Promise<string> {
  const id = uuidv7();
  await tx.query(
    `INSERT INTO security_events (tenant_id, id, type, severity, actor_type, actor_id, ip, request_id, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      event.tenantId,
      id,
      event.type,
      event.severity,
      event.actorType ?? null,
      event.actorId ?? null,
      event.ip ?? null,
      event.requestId ?? null,
      JSON.stringify(event.details ?? {}),
    ],
  );
  // Every security event is also on the tenant's audit record, in the same transaction.
  await appendAuditEntry(tx, {
    tenantId: event.tenantId,
    actorType: AUDIT_ACTORS.has(event.actorType ?? '') ? (event.actorType as 'user') : 'anonymous',
    actorId: event.actorId ?? null,
    action: `security.${event.type}`,
    outcome: REFUSAL.test(event.type) ? 'failure' : 'success',
    targetType: 'security_event',
    targetId: id,
    summary: { severity: event.severity, details: event.details ?? {} },
    requestId: event.requestId ?? null,
    ip: event.ip ?? null,
  });
  return id;
}

export type SecurityEventFilter = {
  type?: string;
  severity?: string;
  actorType?: string;
  actorId?: string;
  from?: Date;
  to?: Date;
  after: string | null;
  limit: number;
};

export async function listSecurityEvents(tx: Tx, filter: SecurityEventFilter): Promise<SecurityEventRow[]> {
  // Newest first: ids are UUIDv7, so the cursor continues below the last id seen.
  const { rows } = await tx.query<SecurityEventRow>(
    `SELECT id, type, severity, actor_type, actor_id, ip, request_id, details, created_at FROM security_events
     WHERE ($1::text IS NULL OR type = $1) AND ($2::uuid IS NULL OR id < $2)
       AND ($4::text IS NULL OR severity = $4) AND ($5::text IS NULL OR actor_type = $5) AND ($6::uuid IS NULL OR actor_id = $6)
       AND ($7::timestamptz IS NULL OR created_at >= $7) AND ($8::timestamptz IS NULL OR created_at < $8)
     ORDER BY id DESC LIMIT $3`,
    [
      filter.type ?? null,
      filter.after,
      filter.limit + 1,
      filter.severity ?? null,
      filter.actorType ?? null,
      filter.actorId ?? null,
      filter.from ?? null,
      filter.to ?? null,
    ],
  );
  return rows;
}
