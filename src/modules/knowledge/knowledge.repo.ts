import type { Tx } from '../../platform/db/database.ts';
import type { Chunk } from './chunker.ts';
import type { SearchLanguage } from './ports.ts';

export type KnowledgeBaseRow = {
  id: string;
  name: string;
  description: string;
  language: SearchLanguage;
  chunk_size: number | null;
  chunk_overlap: number | null;
  created_at: Date;
  updated_at: Date;
  document_count: number;
};

const BASE = `b.id, b.name, b.description, b.language, b.chunk_size, b.chunk_overlap, b.created_at, b.updated_at,
  (SELECT count(*)::int FROM knowledge_documents d WHERE d.knowledge_base_id = b.id) AS document_count`;

export async function insertBase(
  tx: Tx,
  row: {
    tenantId: string;
    id: string;
    name: string;
    description: string;
    language: SearchLanguage;
    chunkSize: number | null;
    chunkOverlap: number | null;
  },
) {
  await tx.query(
    `INSERT INTO knowledge_bases (tenant_id, id, name, description, language, chunk_size, chunk_overlap) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [row.tenantId, row.id, row.name, row.description, row.language, row.chunkSize, row.chunkOverlap],
  );
  return (await findBase(tx, row.id)) as KnowledgeBaseRow;
}

export async function findBase(tx: Tx, id: string, lock = false) {
  const { rows } = await tx.query<KnowledgeBaseRow>(
    `SELECT ${BASE} FROM knowledge_bases b WHERE b.id = $1${lock ? ' FOR UPDATE OF b' : ''}`,
    [id],
  );
  return rows[0];
}

export async function listBases(tx: Tx, page: { after: string | null; limit: number }) {
  const { rows } = await tx.query<KnowledgeBaseRow>(
    `SELECT ${BASE} FROM knowledge_bases b WHERE ($1::uuid IS NULL OR b.id > $1) ORDER BY b.id LIMIT $2`,
    [page.after, page.limit + 1],
  );
  return rows;
}

export async function updateBase(
  tx: Tx,
  id: string,
  patch: { name?: string; description?: string; language?: SearchLanguage; chunkSize?: number | null; chunkOverlap?: number | null },
) {
  await tx.query(
    `UPDATE knowledge_bases SET
       name = CASE WHEN $2 THEN $3 ELSE name END,
       description = CASE WHEN $4 THEN $5 ELSE description END,
       language = CASE WHEN $6 THEN $7 ELSE language END,
       chunk_size = CASE WHEN $8 THEN $9::int ELSE chunk_size END,
       chunk_overlap = CASE WHEN $10 THEN $11::int ELSE chunk_overlap END,
       updated_at = now()
     WHERE id = $1`,
    [
      id,
      patch.name !== undefined,
      patch.name ?? null,
      patch.description !== undefined,
      patch.description ?? null,
      patch.language !== undefined,
      patch.language ?? null,
      patch.chunkSize !== undefined,
      patch.chunkSize ?? null,
      patch.chunkOverlap !== undefined,
      patch.chunkOverlap ?? null,
    ],
  );
  return findBase(tx, id);
}

export async function deleteBase(tx: Tx, id: string): Promise<boolean> {
  return (await tx.query('DELETE FROM knowledge_bases WHERE id = $1', [id])).rowCount > 0;
}

export async function countBases(tx: Tx): Promise<number> {
  const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM knowledge_bases');
  return rows[0]?.n ?? 0;
}

export type DocumentStatus = 'queued' | 'parsing' | 'chunking' | 'indexing' | 'ready' | 'failed';

export type DocumentRow = {
  id: string;
  knowledge_base_id: string;
  title: string;
  filename: string;
  media_type: string;
  size_bytes: string;
  sha256: string;
  status: DocumentStatus;
  failure_code: string | null;
  failure_reason: string | null;
  chunk_count: number;
  chunking: { size: number; overlap: number } | null;
  embedding_model: string | null;
  embedding_error: string | null;
  attempts: number;
  created_by_type: 'user' | 'api_key' | null;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
  ready_at: Date | null;
};

const DOCUMENT = `id, knowledge_base_id, title, filename, media_type, size_bytes, sha256, status, failure_code, failure_reason,
  chunk_count, chunking, embedding_model, embedding_error, attempts, created_by_type, created_by, created_at, updated_at, ready_at`;

export async function insertDocument(
  tx: Tx,
  row: {
    tenantId: string;
    id: string;
    knowledgeBaseId: string;
    title: string;
    filename: string;
    mediaType: string;
    content: Uint8Array;
    sha256: string;
    createdBy: { type: 'user' | 'api_key'; id: string };
  },
) {
  const { rows } = await tx.query<DocumentRow>(
    `INSERT INTO knowledge_documents (tenant_id, id, knowledge_base_id, title, filename, media_type, size_bytes, sha256, content, created_by_type, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${DOCUMENT}`,
    [
      row.tenantId,
      row.id,
      row.knowledgeBaseId,
      row.title,
      row.filename,
      row.mediaType,
      row.content.byteLength,
      row.sha256,
      row.content,
      row.createdBy.type,
      row.createdBy.id,
    ],
  );
  return rows[0] as DocumentRow;
}

export async function findDocument(tx: Tx, knowledgeBaseId: string, id: string) {
  const { rows } = await tx.query<DocumentRow>(`SELECT ${DOCUMENT} FROM knowledge_documents WHERE knowledge_base_id = $1 AND id = $2`, [
    knowledgeBaseId,
    id,
  ]);
  return rows[0];
}

export async function listDocuments(
  tx: Tx,
  knowledgeBaseId: string,
  page: { after: string | null; limit: number; status?: DocumentStatus },
) {
  const { rows } = await tx.query<DocumentRow>(
    `SELECT ${DOCUMENT} FROM knowledge_documents
     WHERE knowledge_base_id = $1 AND ($2::uuid IS NULL OR id > $2) AND ($3::text IS NULL OR status = $3) ORDER BY id LIMIT $4`,
    [knowledgeBaseId, page.after, page.status ?? null, page.limit + 1],
  );
  return rows;
}

export async function deleteDocument(tx: Tx, knowledgeBaseId: string, id: string): Promise<boolean> {
  return (await tx.query('DELETE FROM knowledge_documents WHERE knowledge_base_id = $1 AND id = $2', [knowledgeBaseId, id])).rowCount > 0;
}

export async function documentTotals(tx: Tx): Promise<{ documents: number; bytes: number }> {
  const { rows } = await tx.query<{ documents: number; bytes: string }>(
    'SELECT count(*)::int AS documents, COALESCE(sum(size_bytes), 0)::text AS bytes FROM knowledge_documents',
  );
  return { documents: rows[0]?.documents ?? 0, bytes: Number(rows[0]?.bytes ?? 0) };
}

/** Marks documents queued for (re-)ingestion; their chunks stay searchable until replaced. Returns their ids. */
export async function queueDocuments(tx: Tx, where: { knowledgeBaseId: string; id?: string }): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE knowledge_documents SET status = 'queued', failure_code = NULL, failure_reason = NULL, attempts = 0, updated_at = now()
     WHERE knowledge_base_id = $1 AND ($2::uuid IS NULL OR id = $2) RETURNING id`,
    [where.knowledgeBaseId, where.id ?? null],
  );
  return rows.map((r) => r.id);
}

/** Bases that take some of their chunking from the tenant's configuration. */
export async function listBasesUsingTenantChunking(tx: Tx) {
  const { rows } = await tx.query<{ id: string; chunk_size: number | null; chunk_overlap: number | null }>(
    'SELECT id, chunk_size, chunk_overlap FROM knowledge_bases WHERE chunk_size IS NULL OR chunk_overlap IS NULL',
  );
  return rows;
}

/**
 * Queues the ready documents of a base whose chunks were made with other settings. Idempotent: a
 * document already queued (by this node or another told of the same change) is not queued twice.
 */
export async function queueStaleDocuments(tx: Tx, knowledgeBaseId: string, chunking: { size: number; overlap: number }): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE knowledge_documents SET status = 'queued', attempts = 0, updated_at = now()
     WHERE knowledge_base_id = $1 AND status = 'ready' AND chunking IS DISTINCT FROM $2::jsonb RETURNING id`,
    [knowledgeBaseId, JSON.stringify(chunking)],
  );
  return rows.map((r) => r.id);
}

// ---- ingestion (the job, inside withTenant) ----

export type IngestSource = {
  id: string;
  knowledge_base_id: string;
  media_type: string;
  content: Uint8Array;
  status: DocumentStatus;
  language: SearchLanguage;
  chunk_size: number | null;
  chunk_overlap: number | null;
};

export async function findIngestSource(tx: Tx, id: string) {
  const { rows } = await tx.query<IngestSource>(
    `SELECT d.id, d.knowledge_base_id, d.media_type, d.content, d.status, b.language, b.chunk_size, b.chunk_overlap
     FROM knowledge_documents d JOIN knowledge_bases b ON b.id = d.knowledge_base_id WHERE d.id = $1`,
    [id],
  );
  return rows[0];
}

export async function setStatus(tx: Tx, id: string, status: DocumentStatus, options: { countAttempt?: boolean } = {}) {
  await tx.query(`UPDATE knowledge_documents SET status = $2, attempts = attempts + $3, updated_at = now() WHERE id = $1`, [
    id,
    status,
    options.countAttempt ? 1 : 0,
  ]);
}

export async function markFailed(tx: Tx, id: string, code: string, reason: string) {
  await tx.query(
    `UPDATE knowledge_documents SET status = 'failed', failure_code = $2, failure_reason = $3, updated_at = now() WHERE id = $1`,
    [id, code, reason.slice(0, 1000)],
  );
}

/** Locks the document for the indexing transaction; undefined when it was deleted meanwhile. */
export async function lockDocument(tx: Tx, id: string) {
  const { rows } = await tx.query<{ id: string; knowledge_base_id: string; language: SearchLanguage }>(
    `SELECT d.id, d.knowledge_base_id, b.language FROM knowledge_documents d JOIN knowledge_bases b ON b.id = d.knowledge_base_id
     WHERE d.id = $1 FOR UPDATE OF d`,
    [id],
  );
  return rows[0];
}

export async function deleteChunks(tx: Tx, documentId: string) {
  await tx.query('DELETE FROM knowledge_chunks WHERE document_id = $1', [documentId]);
}

const CHUNK_BATCH = 500;

/** Inserts chunks in batches; the text-search vector is computed by PostgreSQL from heading and content. */
export async function insertChunks(
  tx: Tx,
  doc: { tenantId: string; documentId: string; knowledgeBaseId: string; language: SearchLanguage },
  chunks: Array<Chunk & { id: string }>,
) {
  for (let i = 0; i < chunks.length; i += CHUNK_BATCH) {
    const batch = chunks.slice(i, i + CHUNK_BATCH);
    await tx.query(
      `INSERT INTO knowledge_chunks (tenant_id, id, knowledge_base_id, document_id, ordinal, heading, content, start_offset, end_offset, language, tsv)
       SELECT $1, t.id, $2, $3, t.ordinal, t.heading, t.content, t.s, t.e, $4::text, to_tsvector($4::text::regconfig, t.heading || ' ' || t.content)
       FROM unnest($5::uuid[], $6::int[], $7::text[], $8::text[], $9::int[], $10::int[]) AS t(id, ordinal, heading, content, s, e)`,
      [
        doc.tenantId,
        doc.knowledgeBaseId,
        doc.documentId,
        doc.language,
        batch.map((c) => c.id),
        batch.map((c) => c.ordinal),
        batch.map((c) => c.heading),
        batch.map((c) => c.content),
        batch.map((c) => c.start),
        batch.map((c) => c.end),
      ],
    );
  }
}

export async function insertVectors(
  tx: Tx,
  doc: { tenantId: string; knowledgeBaseId: string; model: string; dimensions: number },
  vectors: Array<{ chunkId: string; embedding: number[] }>,
) {
  for (let i = 0; i < vectors.length; i += CHUNK_BATCH) {
    const batch = vectors.slice(i, i + CHUNK_BATCH);
    await tx.query(
      `INSERT INTO knowledge_chunk_vectors (tenant_id, chunk_id, knowledge_base_id, model, dimensions, embedding)
       SELECT $1, t.id, $2, $3, $4, t.v::vector FROM unnest($5::uuid[], $6::text[]) AS t(id, v)`,
      [
        doc.tenantId,
        doc.knowledgeBaseId,
        doc.model,
        doc.dimensions,
        batch.map((v) => v.chunkId),
        batch.map((v) => `[${v.embedding.join(',')}]`),
      ],
    );
  }
}

export async function markReady(
  tx: Tx,
  id: string,
  result: {
    extractedText: string;
    chunkCount: number;
    chunking: { size: number; overlap: number };
    embeddingModel: string | null;
    embeddingError: string | null;
  },
) {
  await tx.query(
    `UPDATE knowledge_documents SET status = 'ready', failure_code = NULL, failure_reason = NULL, extracted_text = $2, chunk_count = $3,
       chunking = $4, embedding_model = $5, embedding_error = $6, ready_at = now(), updated_at = now()
     WHERE id = $1`,
    [id, result.extractedText, result.chunkCount, JSON.stringify(result.chunking), result.embeddingModel, result.embeddingError],
  );
}
