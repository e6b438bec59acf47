import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../../platform/db/database.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { Job, JobRunner } from '../../platform/jobs.ts';
import type { Embedder } from '../ai/index.ts';
import { type ChunkSettings, chunkDocument, effectiveChunking } from './chunker.ts';
import * as repo from './knowledge.repo.ts';
import type { Parser } from './parser-pool.ts';
import { type MediaType, MEDIA_TYPES, ParseFailure } from './parsers/types.ts';

export const INGEST_JOB = 'knowledge.ingest';

/** Why embeddings are missing, as a stable code (never the provider's message: it may carry internals). */
function embeddingFailure(error: unknown): string {
  const name = (error as { name?: string } | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'provider_timeout';
  if (name === 'DestinationRefusedError') return 'provider_blocked';
  return 'provider_error';
}

/**
 * The ingestion job: queued → parsing → chunking → indexing → ready | failed. Each state is
 * committed as it is reached, so clients see progress; the chunks, vectors, extracted text and
 * `ready` are committed in one transaction at the end (re-indexing replaces them in that same
 * transaction), so search never sees a half-indexed document. A crash at any point leaves the
 * job `running`: it is claimed again (start-up requeue or stale lock) and starts over from the
 * stored upload; after its last attempt the document fails with `ingestion_failed`, never stuck.
 *
 * Embeddings: an embedding failure does not fail the document. It is indexed for full-text search,
 * `embedding_error` says why it has no vectors, and a re-index retries them.
 */
export function createIngestion(deps: {
  db: Database;
  jobs: JobRunner;
  parser: Parser;
  embedder: Embedder;
  log: FastifyBaseLogger;
  /** The tenant's `retrieval.chunkSize` / `retrieval.chunkOverlap` (configuration engine). */
  chunkDefaults: (tenantId: string) => Promise<ChunkSettings>;
}) {
  const { db, parser, embedder, log } = deps;
  let vectorsTable: Promise<boolean> | undefined;

  /** Whether pgvector's table exists here (PGlite: yes; PostgreSQL without the extension: no). Read once. */
  function hasVectors(): Promise<boolean> {
    vectorsTable ??= db
      .withControlPlane(async (tx) => {
        const { rows } = await tx.query<{ present: boolean }>(`SELECT to_regclass('knowledge_chunk_vectors') IS NOT NULL AS present`);
        return rows[0]?.present === true;
      })
      .catch((error) => {
        vectorsTable = undefined;
        throw error;
      });
    return vectorsTable;
  }

  async function settingsOf(tenantId: string, source: repo.IngestSource): Promise<ChunkSettings> {
    return effectiveChunking({ size: source.chunk_size, overlap: source.chunk_overlap }, await deps.chunkDefaults(tenantId));
  }

  async function fail(tenantId: string, documentId: string, code: string, reason: string) {
    await db.withTenant(tenantId, async (tx) => {
      if (!(await repo.lockDocument(tx, documentId))) return;
      // A failed document is not searchable: chunks of an earlier version go with the failure.
      await repo.deleteChunks(tx, documentId);
      await tx.query('UPDATE knowledge_documents SET chunk_count = 0 WHERE id = $1', [documentId]);
      await repo.markFailed(tx, documentId, code, reason);
    });
  }

  async function ingest(job: Job): Promise<Record<string, unknown>> {
    const tenantId = job.tenant_id as string;
    const documentId = String(job.payload.documentId);
    if (job.attempts > job.max_attempts) {
      // Claimed again after its last attempt died with the process (kill -9 mid-parse, out of memory).
      await fail(
        tenantId,
        documentId,
        'ingestion_failed',
        `ingestion was interrupted ${job.attempts - 1} times; upload the file again or re-index it`,
      );
      return { documentId, status: 'failed', code: 'ingestion_failed' };
    }
    const source = await db.withTenant(tenantId, async (tx) => {
      const row = await repo.findIngestSource(tx, documentId);
      if (row) await repo.setStatus(tx, documentId, 'parsing', { countAttempt: true });
      return row;
    });
    if (!source) return { documentId, status: 'deleted' };
    try {
      if (!(MEDIA_TYPES as readonly string[]).includes(source.media_type)) {
        throw new ParseFailure('corrupt_file', `the stored type ${source.media_type} has no parser`);
      }
      const parsed = await parser.parse(source.content, source.media_type as MediaType);
      await db.withTenant(tenantId, (tx) => repo.setStatus(tx, documentId, 'chunking'));
      const settings = await settingsOf(tenantId, source);
      const chunks = chunkDocument(parsed, settings).map((chunk) => ({ ...chunk, id: uuidv7() }));
      await db.withTenant(tenantId, (tx) => repo.setStatus(tx, documentId, 'indexing'));

      let embedding: { vectors: number[][]; model: string; dimensions: number } | null = null;
      let embeddingError: string | null = null;
      if (chunks.length > 0 && (await hasVectors())) {
        try {
          embedding = await embedder.embed(
            tenantId,
            chunks.map((c) => (c.heading ? `${c.heading}\n${c.content}` : c.content)),
            'document',
          );
          if (embedding && (embedding.vectors.length !== chunks.length || embedding.dimensions < 1 || embedding.dimensions > 16000)) {
            embedding = null;
            embeddingError = 'provider_error';
          }
        } catch (error) {
          log.warn({ err: error, tenantId, documentId }, 'embedding failed; the document is indexed for full-text search only');
          embeddingError = embeddingFailure(error);
        }
      }

      const indexed = await db.withTenant(tenantId, async (tx) => {
        const doc = await repo.lockDocument(tx, documentId);
        if (!doc) return false;
        await repo.deleteChunks(tx, documentId);
        await repo.insertChunks(tx, { tenantId, documentId, knowledgeBaseId: doc.knowledge_base_id, language: doc.language }, chunks);
        if (embedding && embedding.vectors.length > 0) {
          const { model, dimensions, vectors } = embedding;
          await repo.insertVectors(
            tx,
            { tenantId, knowledgeBaseId: doc.knowledge_base_id, model, dimensions },
            chunks.map((c, i) => ({ chunkId: c.id, embedding: vectors[i] as number[] })),
          );
        }
        await repo.markReady(tx, documentId, {
          extractedText: parsed.text,
          chunkCount: chunks.length,
          chunking: settings,
          embeddingModel: embedding && embedding.vectors.length > 0 ? embedding.model : null,
          embeddingError,
        });
        return true;
      });
      return { documentId, status: indexed ? 'ready' : 'deleted', chunks: chunks.length };
    } catch (error) {
      if (error instanceof ParseFailure) {
        // The file itself is the problem: retrying gives the same verdict.
        await fail(tenantId, documentId, error.code, error.reason);
        return { documentId, status: 'failed', code: error.code };
      }
      if (job.attempts >= job.max_attempts) {
        log.error({ err: error, tenantId, documentId }, 'ingestion failed on its last attempt');
        await fail(tenantId, documentId, 'ingestion_failed', `ingestion failed ${job.attempts} times; re-index the document to try again`);
        return { documentId, status: 'failed', code: 'ingestion_failed' };
      }
      // Transient (database, provider): the job is retried with backoff; the document shows it is waiting.
      await db.withTenant(tenantId, (tx) => repo.setStatus(tx, documentId, 'queued')).catch(() => {});
      throw error;
    }
  }

  deps.jobs.register(INGEST_JOB, ingest);
  return { ingest, hasVectors };
}
