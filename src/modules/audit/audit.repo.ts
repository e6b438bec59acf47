import type { Tx } from '../../platform/db/database.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { entryHash, GENESIS, type HashedFields } from './audit.hash.ts';

export type ActorType = 'user' | 'api_key' | 'operator' | 'system' | 'anonymous';

export type NewAuditEntry = {
  tenantId: string;
  actorType: ActorType;
  actorId?: string | null;
  impersonatorId?: string | null;
  action: string;
  outcome: 'success' | 'failure';
  targetType?: string | null;
  targetId?: string | null;
  summary?: Record<string, unknown>;
  requestId?: string | null;
  ip?: string | null;
};

export type AuditRow = {
  tenant_id: string;
  seq: string;
  id: string;
  at: Date;
  actor_type: string;
  actor_id: string | null;
  impersonator_id: string | null;
  action: string;
  outcome: string;
  target_type: string | null;
  target_id: string | null;
  summary: Record<string, unknown>;
  request_id: string | null;
  ip: string | null;
  prev_hash: Buffer | Uint8Array;
  hash: Buffer | Uint8Array;
};

const COLUMNS =
  'tenant_id, seq, id, at, actor_type, actor_id, impersonator_id, action, outcome, target_type, target_id, summary, request_id, ip, prev_hash, hash';

export function fieldsOf(row: AuditRow): HashedFields {
  return {
    tenantId: row.tenant_id,
    seq: Number(row.seq),
    id: row.id,
    at: row.at,
    actorType: row.actor_type,
    actorId: row.actor_id,
    impersonatorId: row.impersonator_id,
    action: row.action,
    outcome: row.outcome,
    targetType: row.target_type,
    targetId: row.target_id,
    summary: row.summary,
    requestId: row.request_id,
    ip: row.ip,
  };
}

/**
 * Appends one entry to the tenant's chain in the caller's transaction. The head row is locked,
 * so concurrent writers of one tenant append one after another; other tenants are not held up.
 */
export async function appendAuditEntry(tx: Tx, entry: NewAuditEntry): Promise<{ id: string; seq: number }> {
  const head = await tx.query<{ seq: string; hash: Buffer | Uint8Array }>(
    'SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE',
    [entry.tenantId],
  );
  const previous = head.rows[0];
  const prev = previous ? Buffer.from(previous.hash) : GENESIS;
  const seq = previous ? Number(previous.seq) + 1 : 1;
  const fields: HashedFields = {
    tenantId: entry.tenantId,
    seq,
    id: uuidv7(),
    // Millisecond precision: what JavaScript reads back is exactly what was hashed.
    at: new Date(Math.floor(Date.now())),
    actorType: entry.actorType,
    actorId: entry.actorId ?? null,
    impersonatorId: entry.impersonatorId ?? null,
    action: entry.action,
    outcome: entry.outcome,
    targetType: entry.targetType ?? null,
    targetId: entry.targetId ?? null,
    summary: entry.summary ?? {},
    requestId: entry.requestId ?? null,
    ip: entry.ip ?? null,
  };
  const hash = entryHash(prev, fields);
  await tx.query(`INSERT INTO audit_log (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, [
    fields.tenantId,
    seq,
    fields.id,
    fields.at,
    fields.actorType,
    fields.actorId,
    fields.impersonatorId,
    fields.action,
    fields.outcome,
    fields.targetType,
    fields.targetId,
    JSON.stringify(fields.summary),
    fields.requestId,
    fields.ip,
    prev,
    hash,
  ]);
  if (previous) {
    await tx.query('UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1', [entry.tenantId, seq, hash]);
  } else {
    await tx.query('INSERT INTO audit_heads (tenant_id, seq, hash, anchor_seq, anchor_hash) VALUES ($1, $2, $3, 0, $4)', [
      entry.tenantId,
      seq,
      hash,
      GENESIS,
    ]);
  }
  return { id: fields.id, seq };
}

export type AuditFilter = {
  action?: string;
  actorType?: string;
  actorId?: string;
  targetType?: string;
  targetId?: string;
  outcome?: string;
  requestId?: string;
  from?: Date;
  to?: Date;
};

/** Newest first; the cursor is the sequence number below which the next page starts. */
export async function listAuditEntries(tx: Tx, filter: AuditFilter, beforeSeq: number | null, limit: number): Promise<AuditRow[]> {
  const { rows } = await tx.query<AuditRow>(
    `SELECT ${COLUMNS} FROM audit_log
     WHERE ($1::bigint IS NULL OR seq < $1)
       AND ($2::text IS NULL OR action = $2 OR action LIKE $2 || '.%')
       AND ($3::text IS NULL OR actor_type = $3)
       AND ($4::text IS NULL OR actor_id = $4)
       AND ($5::text IS NULL OR target_type = $5)
       AND ($6::text IS NULL OR target_id = $6)
       AND ($7::text IS NULL OR outcome = $7)
       AND ($8::text IS NULL OR request_id = $8)
       AND ($9::timestamptz IS NULL OR at >= $9)
       AND ($10::timestamptz IS NULL OR at < $10)
     ORDER BY seq DESC LIMIT $11`,
    [
      beforeSeq,
      filter.action ?? null,
      filter.actorType ?? null,
      filter.actorId ?? null,
      filter.targetType ?? null,
      filter.targetId ?? null,
      filter.outcome ?? null,
      filter.requestId ?? null,
      filter.from ?? null,
      filter.to ?? null,
      limit + 1,
    ],
  );
  return rows;
}

/** Oldest first from a sequence number: verification and export walk the chain in pages. */
export async function readAuditChain(tx: Tx, afterSeq: number, limit: number, range: { from?: Date; to?: Date } = {}): Promise<AuditRow[]> {
  const { rows } = await tx.query<AuditRow>(
    `SELECT ${COLUMNS} FROM audit_log WHERE seq > $1
       AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
     ORDER BY seq LIMIT $4`,
    [afterSeq, range.from ?? null, range.to ?? null, limit],
  );
  return rows;
}

export async function readAuditHead(tx: Tx): Promise<{ seq: number; hash: Buffer; anchorSeq: number; anchorHash: Buffer } | undefined> {
  const { rows } = await tx.query<{ seq: string; hash: Uint8Array; anchor_seq: string; anchor_hash: Uint8Array }>(
    'SELECT seq, hash, anchor_seq, anchor_hash FROM audit_heads',
  );
  const row = rows[0];
  if (!row) return undefined;
  return { seq: Number(row.seq), hash: Buffer.from(row.hash), anchorSeq: Number(row.anchor_seq), anchorHash: Buffer.from(row.anchor_hash) };
}

/** Retention: removes the tenant's entries older than `before` (owner function, keeps the anchor). */
export async function pruneAuditEntries(tx: Tx, before: Date): Promise<number> {
  const { rows } = await tx.query<{ n: string }>('SELECT palazzo_audit_prune($1) AS n', [before]);
  return Number(rows[0]?.n ?? 0);
}
