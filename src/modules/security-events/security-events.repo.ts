import type { Tx } from '../../platform/db/database.ts';
import { uuidv7 } from '../../platform/ids.ts';

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
  return id;
}

export async function listSecurityEvents(
  tx: Tx,
  filter: { type?: string; after: string | null; limit: number },
): Promise<SecurityEventRow[]> {
  // Newest first: ids are UUIDv7, so the cursor continues below the last id seen.
  const { rows } = await tx.query<SecurityEventRow>(
    `SELECT id, type, severity, actor_type, actor_id, ip, request_id, details, created_at FROM security_events
     WHERE ($1::text IS NULL OR type = $1) AND ($2::uuid IS NULL OR id < $2)
     ORDER BY id DESC LIMIT $3`,
    [filter.type ?? null, filter.after, filter.limit + 1],
  );
  return rows;
}
