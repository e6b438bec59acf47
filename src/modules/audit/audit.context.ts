import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyRequest } from 'fastify';
import type { Database, QueryResult, Tx } from '../../platform/db/database.ts';
import { type ActorType, appendAuditEntry } from './audit.repo.ts';

/**
 * The audit facts of one API request that may change data (POST, PUT, PATCH, DELETE). It lives
 * in an AsyncLocalStorage for the request, so the database door below can append the entry to
 * every tenant transaction the request commits, without each service remembering to.
 */
export type AuditScope = {
  request: FastifyRequest;
  /** Set by services that know better than the route: who acted (a login), what was changed. */
  actor?: { type: ActorType; id: string | null };
  target?: { type: string; id: string | null };
  details?: Record<string, unknown>;
  /** Tenants whose transactions got an entry from this request (a failure entry is then not needed). */
  recorded: Set<string>;
};

const storage = new AsyncLocalStorage<AuditScope>();

export function runInAuditScope(scope: AuditScope, fn: () => void) {
  storage.run(scope, fn);
}

export function currentAuditScope(): AuditScope | undefined {
  return storage.getStore();
}

/** Runs `fn` outside any request's audit scope: tenant purge erases the log it would write to. */
export function withoutAudit<T>(fn: () => T): T {
  return storage.exit(fn);
}

/** For a service that knows the actor better than the credential does (login, signup, invitation accept). */
export function setAuditActor(type: ActorType, id: string | null) {
  const scope = storage.getStore();
  if (scope) scope.actor = { type, id };
}

/** For a service that created something: the new resource is the target (the route has no id yet). */
export function setAuditTarget(type: string, id: string | null, details?: Record<string, unknown>) {
  const scope = storage.getStore();
  if (!scope) return;
  scope.target = { type, id };
  if (details) scope.details = { ...scope.details, ...details };
}

// Writes that are bookkeeping of the request itself, not a change the caller made.
const IGNORED_WRITE = /^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(?:audit_log|audit_heads|security_events)\b/i;
const WRITE = /^\s*(?:INSERT|UPDATE|DELETE|MERGE)\b|^\s*WITH\b[\s\S]*\b(?:INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM)\b/i;

export function isChange(sql: string): boolean {
  return WRITE.test(sql) && !IGNORED_WRITE.test(sql);
}

export type EntryBuilder = (scope: AuditScope, tenantId: string) => Parameters<typeof appendAuditEntry>[1];

/**
 * The database every service gets. Inside a request's audit scope, a tenant transaction that
 * changed something gets its audit entry appended before it commits: the change and its record
 * commit together or not at all. Outside a scope (jobs, reads) it is the plain database.
 */
export function auditedDatabase(base: Database, build: EntryBuilder): Database {
  return {
    kind: base.kind,
    withTenant<T>(tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
      const scope = storage.getStore();
      if (!scope) return base.withTenant(tenantId, fn);
      return base.withTenant(tenantId, async (tx) => {
        let changed = false;
        const watched: Tx = {
          async query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
            const result = await tx.query<R>(text, params);
            // A write that touched no row (a delete of something absent) changed nothing.
            if (!changed && result.rowCount > 0 && isChange(text)) changed = true;
            return result;
          },
          exec(text: string) {
            changed = true;
            return tx.exec(text);
          },
        };
        const result = await fn(watched);
        if (changed) {
          await appendAuditEntry(tx, build(scope, tenantId));
          scope.recorded.add(tenantId);
        }
        return result;
      });
    },
    withTenants: base.withTenants.bind(base),
    withControlPlane: base.withControlPlane.bind(base),
    withOwner: base.withOwner.bind(base),
    close: base.close.bind(base),
  };
}
