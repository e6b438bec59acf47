import { createHash } from 'node:crypto';

/** The chain starts from 32 zero bytes. */
export const GENESIS = Buffer.alloc(32);

/** What is hashed of an entry: every field but the hashes themselves. */
export type HashedFields = {
  tenantId: string;
  seq: number;
  id: string;
  at: Date;
  actorType: string;
  actorId: string | null;
  impersonatorId: string | null;
  action: string;
  outcome: string;
  targetType: string | null;
  targetId: string | null;
  summary: unknown;
  requestId: string | null;
  ip: string | null;
};

/**
 * JSON with object keys sorted at every depth, so a summary hashes the same before it is stored
 * and after PostgreSQL's jsonb has reordered it.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** SHA-256 over the previous hash and the canonical form of the entry (format version 1). */
export function entryHash(prev: Buffer, entry: HashedFields): Buffer {
  const body = canonicalJson([
    1,
    entry.tenantId,
    entry.seq,
    entry.id,
    entry.at.toISOString(),
    entry.actorType,
    entry.actorId,
    entry.impersonatorId,
    entry.action,
    entry.outcome,
    entry.targetType,
    entry.targetId,
    entry.summary,
    entry.requestId,
    entry.ip,
  ]);
  return createHash('sha256').update(prev).update(body, 'utf8').digest();
}
