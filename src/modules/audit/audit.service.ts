import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../../platform/db/database.ts';
import type { JobRunner } from '../../platform/jobs.ts';
import { enqueue } from '../../platform/jobs.ts';
import type { Principal } from '../access/principal.ts';
import { type AuditScope, currentAuditScope, type EntryBuilder, runInAuditScope } from './audit.context.ts';
import { entryHash, GENESIS } from './audit.hash.ts';
import * as repo from './audit.repo.ts';

export const AUDIT_RETENTION_JOB = 'audit.retention';
const RETENTION_INTERVAL_MS = 3600_000;

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Overrides the audit action derived from the route, or `false` for a route that changes nothing. */
    audit?: { action: string } | false;
  }
}

// ───────────────────────────── what an entry says ─────────────────────────────

/** Field names whose values never reach the log (T37: no passwords, tokens, seeds or keys). */
const SECRET_FIELD = /pass(word|phrase)?|secret|token|otp|^code$|codes$|credential|authorization|private|api_?key|seed|signature/i;
const SECRET_VALUE = /^(pz[kr]_|Bearer\s|eyJ[A-Za-z0-9_-]{10,}\.)/;
const MAX_STRING = 200;
const MAX_ITEMS = 20;
const MAX_DEPTH = 4;

/** A bounded, secret-free copy of a request body for the audit summary. */
export function redact(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') {
    if (SECRET_VALUE.test(value)) return '[redacted]';
    // NUL cannot be stored in jsonb; control characters stay escaped inside the JSON string.
    const clean = value.replaceAll('\u0000', '');
    return clean.length > MAX_STRING ? `${clean.slice(0, MAX_STRING)}…` : clean;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((item) => redact(item, depth + 1));
    if (value.length > MAX_ITEMS) items.push(`[+${value.length - MAX_ITEMS} more]`);
    return items;
  }
  if (typeof value === 'object') {
    if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
    const out: Record<string, unknown> = {};
    let n = 0;
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      if (n++ >= MAX_ITEMS * 2) {
        out['…'] = 'truncated';
        break;
      }
      const safeKey = key.replaceAll('\u0000', '').slice(0, 64);
      out[safeKey] = SECRET_FIELD.test(key) ? '[redacted]' : redact(child, depth + 1);
    }
    return out;
  }
  return String(value);
}

const VERB: Record<string, string> = { POST: 'create', PUT: 'set', PATCH: 'update', DELETE: 'delete', GET: 'read' };

/**
 * `POST /v1/api-keys` → `api_keys.create`; `POST /v1/api-keys/:id/rotate` → `api_keys.rotate`;
 * `PATCH /v1/config` → `config.update`; `POST /v1/auth/login` → `auth.login`. A POST whose last
 * segment is not a plural collection names its own verb.
 */
export function actionOf(method: string, url: string): string {
  const segments =
    url
      .split('?')[0]
      ?.split('/')
      .filter((s) => s !== '' && s !== 'v1') ?? [];
  const words = segments.filter((s) => !s.startsWith(':')).map((s) => s.replaceAll('-', '_').toLowerCase());
  if (words.length === 0) return `root.${VERB[method] ?? method.toLowerCase()}`;
  const last = words.at(-1) as string;
  if (method === 'POST' && words.length > 1 && !/[^s]s$/.test(last)) return words.join('.');
  return `${words.join('.')}.${VERB[method] ?? method.toLowerCase()}`;
}

function actorOfPrincipal(principal: Principal | undefined): { type: repo.ActorType; id: string | null } {
  if (!principal) return { type: 'anonymous', id: null };
  if (principal.kind === 'user') return { type: 'user', id: principal.userId };
  if (principal.kind === 'api_key') return { type: 'api_key', id: principal.apiKeyId };
  return { type: 'operator', id: principal.operatorId };
}

function impersonatorOf(principal: Principal | undefined): string | null {
  const impersonator = (principal as { impersonator?: { operatorId?: string } } | undefined)?.impersonator;
  return impersonator?.operatorId ?? null;
}

function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? request.url.split('?')[0] ?? request.url;
}

function defaultTarget(request: FastifyRequest): { type: string | null; id: string | null } {
  const url = routeOf(request);
  const first = url.split('/').filter((s) => s !== '' && s !== 'v1' && s !== 'operator' && !s.startsWith(':'))[0];
  const params = (request.params ?? {}) as Record<string, unknown>;
  const id = params.id ?? params.key ?? params.docId ?? params.slug ?? null;
  return { type: first ? first.replaceAll('-', '_') : null, id: typeof id === 'string' ? id.slice(0, 200) : null };
}

function actionFor(request: FastifyRequest): string {
  const configured = request.routeOptions.config?.audit;
  return configured ? configured.action : actionOf(request.method, routeOf(request));
}

/** Builds the success entry for a tenant transaction of a request (see auditedDatabase). */
export const buildEntry: EntryBuilder = (scope: AuditScope, tenantId: string) => {
  const { request } = scope;
  const actor = scope.actor ?? actorOfPrincipal(request.principal);
  const target = scope.target ?? defaultTarget(request);
  const isMultipart = request.isMultipart?.() ?? false;
  return {
    tenantId,
    actorType: actor.type,
    actorId: actor.id,
    impersonatorId: impersonatorOf(request.principal),
    action: actionFor(request),
    outcome: 'success',
    targetType: target.type,
    targetId: target.id,
    summary: {
      method: request.method,
      route: routeOf(request),
      ...(Object.keys((request.params ?? {}) as object).length ? { params: redact(request.params) } : {}),
      ...(isMultipart ? { body: '[multipart upload]' } : request.body !== undefined ? { body: redact(request.body) } : {}),
      ...(scope.details ? { details: redact(scope.details) } : {}),
    },
    requestId: request.id,
    ip: request.ip ?? null,
  };
};

// ───────────────────────────── the service ─────────────────────────────

export type VerifyReport = {
  valid: boolean;
  checked: number;
  firstSeq: number | null;
  lastSeq: number | null;
  anchorSeq: number;
  headSeq: number | null;
  brokenAt: { seq: number; reason: 'missing_entry' | 'chain_break' | 'hash_mismatch' | 'head_mismatch' } | null;
};

export type AuditEntryView = ReturnType<typeof toAuditView>;

export function toAuditView(row: repo.AuditRow) {
  return {
    id: row.id,
    seq: Number(row.seq),
    at: row.at.toISOString(),
    actor: { type: row.actor_type, id: row.actor_id },
    impersonator: row.impersonator_id ? { type: 'operator', id: row.impersonator_id } : null,
    action: row.action,
    outcome: row.outcome as 'success' | 'failure',
    target: row.target_type ? { type: row.target_type, id: row.target_id } : null,
    summary: row.summary,
    requestId: row.request_id,
    ip: row.ip,
    hash: Buffer.from(row.hash).toString('hex'),
    prevHash: Buffer.from(row.prev_hash).toString('hex'),
  };
}

export function createAuditService(deps: {
  /** The plain database: the audit module writes its own entries and must not be audited twice. */
  db: Database;
  log: FastifyBaseLogger;
  jobs: JobRunner;
  /** Each tenant's retention in days (its tier's auditRetentionDays), for every tenant that has data. */
  retentionDays(): Promise<Array<{ tenantId: string; days: number }>>;
}) {
  const { db, log } = deps;

  // Refusals for rate are recorded once a minute per tenant and actor (a flood must not become a
  // write flood); the entry says how many were refused in the previous window.
  const refusals = new Map<string, { windowStart: number; count: number }>();

  function recordFailure(request: FastifyRequest, reply: FastifyReply, scope: AuditScope | undefined) {
    const principal = request.principal;
    if (!principal || principal.kind === 'operator') return;
    const status = reply.statusCode;
    const mutating = MUTATING.has(request.method);
    const denied = status === 401 || status === 403 || status === 429;
    if (!denied && !(mutating && status >= 400)) return;
    if (scope?.recorded.has(principal.tenantId) && !denied) return;
    const actor = actorOfPrincipal(principal);
    let extra: Record<string, unknown> = {};
    if (status === 429) {
      const key = `${principal.tenantId}:${actor.type}:${actor.id}`;
      const now = Date.now();
      const window = refusals.get(key);
      if (window && now - window.windowStart < 60_000) {
        window.count++;
        return;
      }
      refusals.set(key, { windowStart: now, count: 1 });
      if (refusals.size > 10_000) refusals.clear();
      if (window) extra = { refusedInPreviousWindow: window.count };
    }
    const code = (reply as { problemCode?: string }).problemCode;
    const entry: repo.NewAuditEntry = {
      tenantId: principal.tenantId,
      actorType: actor.type,
      actorId: actor.id,
      impersonatorId: impersonatorOf(principal),
      action: actionFor(request),
      outcome: 'failure',
      // A refused request for something that was not found names no target (it may be another tenant's id).
      ...(status === 404 ? { targetType: defaultTarget(request).type, targetId: null } : defaultTargetEntry(request)),
      summary: {
        method: request.method,
        route: routeOf(request),
        status,
        ...(code ? { code } : {}),
        ...extra,
      },
      requestId: request.id,
      ip: request.ip ?? null,
    };
    db.withTenant(principal.tenantId, (tx) => repo.appendAuditEntry(tx, entry)).catch((error) =>
      log.warn({ err: error, requestId: request.id }, 'could not record a refused request in the audit log'),
    );
  }

  function defaultTargetEntry(request: FastifyRequest) {
    const target = defaultTarget(request);
    return { targetType: target.type, targetId: target.id };
  }

  async function applyRetention(now = new Date()): Promise<{ tenants: number; removed: number }> {
    let removed = 0;
    const tenants = await deps.retentionDays();
    for (const { tenantId, days } of tenants) {
      const before = new Date(now.getTime() - days * 86_400_000);
      try {
        removed += await db.withTenant(tenantId, (tx) => repo.pruneAuditEntries(tx, before));
      } catch (error) {
        log.warn({ err: error, tenantId }, 'audit retention failed for a tenant');
      }
    }
    return { tenants: tenants.length, removed };
  }

  deps.jobs.register(AUDIT_RETENTION_JOB, async () => {
    const result = await applyRetention();
    // The next sweep is enqueued by the one that ends, so exactly one is pending.
    await db.withControlPlane((tx) => enqueue(tx, { kind: AUDIT_RETENTION_JOB, runAt: new Date(Date.now() + RETENTION_INTERVAL_MS) }));
    return result;
  });

  return {
    /** Fastify hooks: open the audit scope of a request that may change data; record refusals. */
    hooks: {
      onRequest(request: FastifyRequest, _reply: FastifyReply, done: () => void) {
        if (!MUTATING.has(request.method) || request.routeOptions.config?.audit === false) return done();
        runInAuditScope({ request, recorded: new Set() }, done);
      },
      async onResponse(request: FastifyRequest, reply: FastifyReply) {
        if (reply.statusCode < 400) return;
        recordFailure(request, reply, currentAuditScope());
      },
    },

    async list(tenantId: string, filter: repo.AuditFilter, beforeSeq: number | null, limit: number) {
      return db.withTenant(tenantId, (tx) => repo.listAuditEntries(tx, filter, beforeSeq, limit));
    },

    /** Walks the tenant's chain from its anchor to its head, in pages, recomputing every hash. */
    async verify(tenantId: string): Promise<VerifyReport> {
      const head = await db.withTenant(tenantId, (tx) => repo.readAuditHead(tx));
      const report: VerifyReport = {
        valid: true,
        checked: 0,
        firstSeq: null,
        lastSeq: null,
        anchorSeq: head?.anchorSeq ?? 0,
        headSeq: head?.seq ?? null,
        brokenAt: null,
      };
      let prev = head?.anchorHash ?? GENESIS;
      let expected = (head?.anchorSeq ?? 0) + 1;
      const broken = (seq: number, reason: NonNullable<VerifyReport['brokenAt']>['reason']) => {
        report.valid = false;
        report.brokenAt = { seq, reason };
        return report;
      };
      for (;;) {
        const rows = await db.withTenant(tenantId, (tx) => repo.readAuditChain(tx, expected - 1, 1000));
        // Entries below the anchor can only exist if retention's bookkeeping was tampered with.
        for (const row of rows) {
          const seq = Number(row.seq);
          if (seq !== expected) return broken(expected, 'missing_entry');
          if (!Buffer.from(row.prev_hash).equals(prev)) return broken(seq, 'chain_break');
          const hash = entryHash(prev, repo.fieldsOf(row));
          if (!hash.equals(Buffer.from(row.hash))) return broken(seq, 'hash_mismatch');
          report.firstSeq ??= seq;
          report.lastSeq = seq;
          report.checked++;
          prev = hash;
          expected = seq + 1;
        }
        if (rows.length < 1000) break;
      }
      if (head) {
        if (report.lastSeq !== head.seq && !(report.lastSeq === null && head.seq === head.anchorSeq)) {
          return broken((report.lastSeq ?? head.anchorSeq) + 1, 'head_mismatch');
        }
        if (report.lastSeq !== null && !prev.equals(head.hash)) return broken(report.lastSeq, 'head_mismatch');
      } else if (report.checked > 0) {
        return broken(1, 'head_mismatch');
      }
      return report;
    },

    /** The tenant's entries, oldest first, page by page (JSON Lines export). */
    async *entries(tenantId: string, range: { from?: Date; to?: Date }) {
      let after = 0;
      for (;;) {
        const rows = await db.withTenant(tenantId, (tx) => repo.readAuditChain(tx, after, 1000, range));
        for (const row of rows) yield row;
        if (rows.length < 1000) return;
        after = Number(rows.at(-1)?.seq);
      }
    },

    /** Records an action that changed nothing but must be on the record (an export). */
    async note(tenantId: string, entry: Omit<repo.NewAuditEntry, 'tenantId'>) {
      await db.withTenant(tenantId, (tx) => repo.appendAuditEntry(tx, { ...entry, tenantId }));
    },

    applyRetention,

    /** Makes sure one retention sweep is pending (called when a node starts its job runner). */
    async scheduleRetention() {
      await db.withControlPlane(async (tx) => {
        const { rows } = await tx.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM jobs WHERE kind = $1 AND status IN ('queued', 'running')",
          [AUDIT_RETENTION_JOB],
        );
        if ((rows[0]?.n ?? 0) === 0) await enqueue(tx, { kind: AUDIT_RETENTION_JOB });
      });
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
