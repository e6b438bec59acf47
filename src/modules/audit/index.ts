/**
 * The audit log (F-I1). Every change made through the API is recorded in the transaction of the
 * change by `auditedDatabase` (no service has to remember); refusals (401, 403, 429, failed
 * writes) are recorded after the response; security events are recorded as they are written.
 * Entries are hash-chained per tenant and append-only for the request role.
 */
export { auditedDatabase, isChange, setAuditActor, setAuditTarget, withoutAudit } from './audit.context.ts';
export { appendAuditEntry, type NewAuditEntry } from './audit.repo.ts';
export { auditRoutes } from './audit.routes.ts';
export {
  AUDIT_RETENTION_JOB,
  actionOf,
  type AuditService,
  buildEntry,
  createAuditService,
  redact,
  type VerifyReport,
} from './audit.service.ts';
