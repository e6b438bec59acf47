import { createHash } from 'node:crypto';
import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, conflict, notFound } from '../../platform/errors.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { JobRunner } from '../../platform/jobs.ts';
import type { TenantPrincipal } from '../access/index.ts';
import type { Metric } from '../metering/index.ts';
import type { TenantDirectory } from '../tenants/index.ts';
import { type ChunkSettings, effectiveChunking } from './chunker.ts';
import { cleanFilename, detectMediaType } from './detect.ts';
import { INGEST_JOB } from './ingestion.ts';
import * as repo from './knowledge.repo.ts';
import { type SearchLanguage, searchLanguageOf } from './ports.ts';

export type BaseInput = {
  name: string;
  description?: string;
  language?: SearchLanguage;
  chunkSize?: number | null;
  chunkOverlap?: number | null;
};

export type Upload = { bytes: Buffer; filename: string | undefined; title: string | undefined; declaredType: string | undefined };

const invalid = (path: string, message: string) => new AppError('validation_failed', `${path} ${message}`, { errors: [{ path, message }] });

const quota = (metric: Metric, detail: string, limit: number, used: number) =>
  new AppError('quota_exceeded', detail, { metric, limit, used });

/** Knowledge bases and their documents: the rules (limits, types, re-indexing); SQL in knowledge.repo.ts. */
export function createKnowledgeService(deps: {
  db: Database;
  jobs: JobRunner;
  directory: TenantDirectory;
  /** The tenant's locale, for the default text-search language of a new base. */
  tenantLocale: (principal: TenantPrincipal) => Promise<string | undefined>;
  /** Usage alerts at 80% and 100% of a limit, in the transaction that used it. */
  onUsed?: (tx: Tx, tenantId: string, metric: Metric, used: number, limit: number | null) => Promise<void>;
  /** The tenant's `retrieval.chunkSize` / `chunkOverlap` (configuration engine), for re-indexing after a change. */
  chunkDefaults?: (tenantId: string) => Promise<ChunkSettings>;
  /** Failures of background re-index checks. */
  onBackgroundError?: (error: unknown, tenantId: string) => void;
  /** How long a configuration change waits before its re-index check, so a burst of changes makes one check. */
  configDebounceMs?: number;
}) {
  const { db, jobs, directory } = deps;
  const pendingChecks = new Map<string, NodeJS.Timeout>();

  async function limitsOf(tx: Tx, tenantId: string) {
    const tenant = await directory.getWithin(tx, tenantId);
    if (!tenant) throw new Error(`tenant ${tenantId} vanished`);
    return tenant.limits;
  }

  async function baseOrMissing(tx: Tx, id: string, lock = false) {
    assertId(id, 'knowledge base');
    const base = await repo.findBase(tx, id, lock);
    assertThat(base, notFound('knowledge base'));
    return base;
  }

  function assertChunking(size: number | null | undefined, overlap: number | null | undefined) {
    if (typeof size === 'number' && typeof overlap === 'number') {
      assertThat(overlap < size, invalid('body/chunkOverlap', `must be smaller than chunkSize (${size})`));
    }
  }

  async function enqueueIngest(tx: Tx, tenantId: string, documentIds: string[]) {
    for (const documentId of documentIds) {
      await jobs.enqueueForTenant(tx, { kind: INGEST_JOB, tenantId, payload: { tenantId, documentId }, maxAttempts: 3 });
    }
  }

  /** Postgres constraint names to clear messages (the unique name per tenant). */
  async function named<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if ((error as { constraint?: string }).constraint === 'knowledge_bases_name_key' || /knowledge_bases_name_key/.test(String(error))) {
        throw conflict('a knowledge base with this name exists', { field: 'name' });
      }
      throw error;
    }
  }

  /**
   * After a change of the tenant's configuration: documents of bases that follow the tenant's
   * `retrieval.chunkSize` / `chunkOverlap` and were chunked otherwise are re-indexed. Every node
   * hears of the change; the update is idempotent, so the documents are queued once.
   */
  async function reindexStale(tenantId: string, tenantChunking: ChunkSettings): Promise<number> {
    return db.withTenant(tenantId, async (tx) => {
      let queued = 0;
      for (const base of await repo.listBasesUsingTenantChunking(tx)) {
        const chunking = effectiveChunking({ size: base.chunk_size, overlap: base.chunk_overlap }, tenantChunking);
        const ids = await repo.queueStaleDocuments(tx, base.id, chunking);
        await enqueueIngest(tx, tenantId, ids);
        queued += ids.length;
      }
      return queued;
    });
  }

  return {
    async listBases(tenantId: string, page: { after: string | null; limit: number }) {
      return db.withTenant(tenantId, (tx) => repo.listBases(tx, page));
    },

    async getBase(tenantId: string, id: string) {
      return db.withTenant(tenantId, (tx) => baseOrMissing(tx, id));
    },

    async createBase(principal: TenantPrincipal, input: BaseInput) {
      assertChunking(input.chunkSize, input.chunkOverlap);
      const language = input.language ?? searchLanguageOf(await deps.tenantLocale(principal));
      const { tenantId } = principal;
      return named(() =>
        db.withTenant(tenantId, async (tx) => {
          const limit = (await limitsOf(tx, tenantId)).knowledgeBases;
          // Count-then-insert races under READ COMMITTED: creations of one tenant take turns.
          await tx.query(`SELECT pg_advisory_xact_lock(hashtext('palazzo:knowledge_bases'), hashtext($1))`, [tenantId]);
          const used = await repo.countBases(tx);
          assertThat(limit === null || used < limit, () =>
            quota('knowledge_bases', `the tier allows ${limit} knowledge bases`, limit ?? 0, used),
          );
          const row = await repo.insertBase(tx, {
            tenantId,
            id: uuidv7(),
            name: input.name,
            description: input.description ?? '',
            language,
            chunkSize: input.chunkSize ?? null,
            chunkOverlap: input.chunkOverlap ?? null,
          });
          await deps.onUsed?.(tx, tenantId, 'knowledge_bases', used + 1, limit);
          return row;
        }),
      );
    },

    /** A change of language or chunking re-indexes every document of the base (their chunks stay searchable until replaced). */
    async updateBase(tenantId: string, id: string, patch: BaseInput extends infer T ? Partial<T> : never) {
      return named(() =>
        db.withTenant(tenantId, async (tx) => {
          const base = await baseOrMissing(tx, id, true);
          const size = patch.chunkSize !== undefined ? patch.chunkSize : base.chunk_size;
          const overlap = patch.chunkOverlap !== undefined ? patch.chunkOverlap : base.chunk_overlap;
          assertChunking(size, overlap);
          const updated = (await repo.updateBase(tx, id, patch)) as repo.KnowledgeBaseRow;
          const reindex =
            updated.language !== base.language || updated.chunk_size !== base.chunk_size || updated.chunk_overlap !== base.chunk_overlap;
          if (reindex) await enqueueIngest(tx, tenantId, await repo.queueDocuments(tx, { knowledgeBaseId: id }));
          return { base: updated, reindexing: reindex ? updated.document_count : 0 };
        }),
      );
    },

    async deleteBase(tenantId: string, id: string) {
      await db.withTenant(tenantId, async (tx) => {
        await baseOrMissing(tx, id, true);
        await repo.deleteBase(tx, id);
      });
    },

    async reindexBase(tenantId: string, id: string) {
      return db.withTenant(tenantId, async (tx) => {
        await baseOrMissing(tx, id, true);
        const ids = await repo.queueDocuments(tx, { knowledgeBaseId: id });
        await enqueueIngest(tx, tenantId, ids);
        return ids.length;
      });
    },

    /**
     * Stores the upload and enqueues its ingestion in one transaction (202: the document is queued).
     * The type comes from the content; the limits of documents and storage are checked under a
     * per-tenant lock so concurrent uploads cannot overshoot them.
     */
    async upload(principal: TenantPrincipal, knowledgeBaseId: string, upload: Upload) {
      const { tenantId } = principal;
      assertId(knowledgeBaseId, 'knowledge base');
      assertThat(upload.bytes.byteLength > 0, new AppError('empty_file', 'the uploaded file has no content'));
      const filename = cleanFilename(upload.filename);
      const title =
        (upload.title ?? '')
          .replace(/[\u0000-\u001f\u007f]/g, ' ')
          .trim()
          .slice(0, 500) || filename;
      return db.withTenant(tenantId, async (tx) => {
        // Missing before unsupported: another tenant's base id learns nothing about the file.
        await baseOrMissing(tx, knowledgeBaseId);
        const mediaType = await detectMediaType(upload.bytes, filename, upload.declaredType);
        const limits = await limitsOf(tx, tenantId);
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('palazzo:knowledge_documents'), hashtext($1))`, [tenantId]);
        const totals = await repo.documentTotals(tx);
        assertThat(limits.documents === null || totals.documents < limits.documents, () =>
          quota('documents', `the tier allows ${limits.documents} documents`, limits.documents ?? 0, totals.documents),
        );
        const bytes = totals.bytes + upload.bytes.byteLength;
        assertThat(limits.storageBytes === null || bytes <= limits.storageBytes, () =>
          quota('storage_bytes', `the tier allows ${limits.storageBytes} bytes of documents`, limits.storageBytes ?? 0, totals.bytes),
        );
        const row = await repo.insertDocument(tx, {
          tenantId,
          id: uuidv7(),
          knowledgeBaseId,
          title,
          filename,
          mediaType,
          content: upload.bytes,
          sha256: createHash('sha256').update(upload.bytes).digest('hex'),
          createdBy: principal.kind === 'user' ? { type: 'user', id: principal.userId } : { type: 'api_key', id: principal.apiKeyId },
        });
        await enqueueIngest(tx, tenantId, [row.id]);
        await deps.onUsed?.(tx, tenantId, 'documents', totals.documents + 1, limits.documents);
        await deps.onUsed?.(tx, tenantId, 'storage_bytes', bytes, limits.storageBytes);
        return row;
      });
    },

    async listDocuments(
      tenantId: string,
      knowledgeBaseId: string,
      page: { after: string | null; limit: number; status?: repo.DocumentStatus },
    ) {
      return db.withTenant(tenantId, async (tx) => {
        await baseOrMissing(tx, knowledgeBaseId);
        return repo.listDocuments(tx, knowledgeBaseId, page);
      });
    },

    async getDocument(tenantId: string, knowledgeBaseId: string, id: string) {
      return db.withTenant(tenantId, async (tx) => {
        await baseOrMissing(tx, knowledgeBaseId);
        assertId(id, 'document');
        const row = await repo.findDocument(tx, knowledgeBaseId, id);
        assertThat(row, notFound('document'));
        return row;
      });
    },

    /** Deletes the document with its chunks and vectors (foreign keys cascade), in one transaction. */
    async deleteDocument(tenantId: string, knowledgeBaseId: string, id: string) {
      await db.withTenant(tenantId, async (tx) => {
        await baseOrMissing(tx, knowledgeBaseId);
        assertId(id, 'document');
        assertThat(await repo.deleteDocument(tx, knowledgeBaseId, id), notFound('document'));
      });
    },

    async reindexDocument(tenantId: string, knowledgeBaseId: string, id: string) {
      return db.withTenant(tenantId, async (tx) => {
        await baseOrMissing(tx, knowledgeBaseId);
        assertId(id, 'document');
        const ids = await repo.queueDocuments(tx, { knowledgeBaseId, id });
        assertThat(ids.length === 1, notFound('document'));
        await enqueueIngest(tx, tenantId, ids);
        return (await repo.findDocument(tx, knowledgeBaseId, id)) as repo.DocumentRow;
      });
    },

    reindexStale,

    /**
     * A tenant's configuration changed (the invalidation bus tells every node): after a short pause,
     * so a burst of changes makes one check, re-index what the new chunking makes stale.
     */
    configChanged(tenantId: string) {
      const chunkDefaults = deps.chunkDefaults;
      if (!chunkDefaults) return;
      clearTimeout(pendingChecks.get(tenantId));
      const timer = setTimeout(() => {
        pendingChecks.delete(tenantId);
        chunkDefaults(tenantId)
          .then((chunking) => reindexStale(tenantId, chunking))
          .catch((error: unknown) => deps.onBackgroundError?.(error, tenantId));
      }, deps.configDebounceMs ?? 250);
      timer.unref();
      pendingChecks.set(tenantId, timer);
    },

    /** Drops the pending re-index checks (the app is closing). */
    close() {
      for (const timer of pendingChecks.values()) clearTimeout(timer);
      pendingChecks.clear();
    },

    /** Usage gauges (GET /v1/usage): counted from the data itself. */
    gauges: {
      knowledgeBases: (tx: Tx) => repo.countBases(tx),
      documents: async (tx: Tx) => (await repo.documentTotals(tx)).documents,
      storageBytes: async (tx: Tx) => (await repo.documentTotals(tx)).bytes,
    },
  };
}

export type KnowledgeService = ReturnType<typeof createKnowledgeService>;
