/**
 * Fixtures of the retrieval tests: knowledge written straight into the tables (the ingestion
 * pipeline is another module's), and a deterministic fake embedder (hashed bag of words).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Database } from '../../src/platform/db/database.ts';
import type { Embedder } from '../../src/modules/knowledge/ports.ts';
import type { Document } from './fixtures/help-centre.ts';

export const DIMENSIONS = 384;
export const FAKE_MODEL = 'fake-bow-384';

const STOP = new Set(
  'the a an and or of to in on for is are be can do does i my me we our you your it its how what when where who why with at by from as this that there if not no was will have has get'.split(
    ' ',
  ),
);

function stem(word: string): string {
  return word.replace(/(?:ing|ed|es|s)$/, '');
}

function bucket(token: string): number {
  return createHash('sha1').update(token).digest().readUInt32BE(0) % DIMENSIONS;
}

/** Hashed bag of words (stems, plus 4-character prefixes for fuzziness), L2-normalised. */
export function fakeEmbedding(text: string): number[] {
  const v = new Array<number>(DIMENSIONS).fill(0);
  for (const raw of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    if (STOP.has(raw) || raw.length < 2) continue;
    const word = stem(raw);
    const w = bucket(`w:${word}`);
    v[w] = (v[w] ?? 0) + 1;
    if (word.length > 4) {
      const p = bucket(`p:${word.slice(0, 4)}`);
      v[p] = (v[p] ?? 0) + 0.5;
    }
  }
  const norm = Math.hypot(...v);
  return norm ? v.map((x) => x / norm) : v.map((_, i) => (i === 0 ? 1 : 0));
}

/** An Embedder for tenants in `enabled` (all when absent); counts its calls. */
export function fakeEmbedder(enabled?: Set<string>): Embedder & { calls: number; failing: boolean } {
  const embedder = {
    calls: 0,
    failing: false,
    async embed(tenantId: string, texts: string[]) {
      embedder.calls += 1;
      if (embedder.failing) throw new Error('provider down');
      if (enabled && !enabled.has(tenantId)) return null;
      return { vectors: texts.map(fakeEmbedding), model: FAKE_MODEL, dimensions: DIMENSIONS, tokens: texts.length };
    },
  };
  return embedder;
}

export const vectorText = (v: number[]) => `[${v.join(',')}]`;

export async function hasVectorTable(db: Database): Promise<boolean> {
  return db.withOwner(async (tx) => {
    const { rows } = await tx.query<{ ok: boolean }>("SELECT to_regclass('knowledge_chunk_vectors') IS NOT NULL AS ok");
    return rows[0]?.ok === true;
  });
}

export type SeededBase = { id: string; chunks: Map<string, string> };

/**
 * A knowledge base with ready documents, their chunks (tsv as ingestion computes it) and, when the
 * table exists and `vectors` is true, the fake embedder's vectors. Returns passage key → chunk id.
 */
export async function seedBase(
  db: Database,
  tenantId: string,
  input: { name: string; description?: string; language?: 'english' | 'italian' | 'simple'; documents: Document[]; vectors: boolean },
): Promise<SeededBase> {
  const baseId = randomUUID();
  const language = input.language ?? 'english';
  const chunks = new Map<string, string>();
  await db.withTenant(tenantId, async (tx) => {
    await tx.query('INSERT INTO knowledge_bases (tenant_id, id, name, description, language) VALUES ($1, $2, $3, $4, $5)', [
      tenantId,
      baseId,
      input.name,
      input.description ?? '',
      language,
    ]);
    for (const doc of input.documents) {
      const documentId = randomUUID();
      const text = doc.passages.map((p) => `${p.heading}\n${p.content}`).join('\n\n');
      await tx.query(
        `INSERT INTO knowledge_documents (tenant_id, id, knowledge_base_id, title, filename, media_type, size_bytes, sha256, content,
                                          status, extracted_text, chunk_count, ready_at)
         VALUES ($1, $2, $3, $4, $5, 'text/markdown', $6, $7, $8, 'ready', $9, $10, now())`,
        [
          tenantId,
          documentId,
          baseId,
          doc.title,
          `${doc.title.toLowerCase().replace(/\W+/g, '-')}.md`,
          Buffer.byteLength(text),
          createHash('sha256').update(text).digest('hex'),
          Buffer.from(text),
          text,
          doc.passages.length,
        ],
      );
      let offset = 0;
      for (const [ordinal, p] of doc.passages.entries()) {
        const id = randomUUID();
        const length = p.heading.length + 1 + p.content.length;
        await tx.query(
          `INSERT INTO knowledge_chunks (tenant_id, id, knowledge_base_id, document_id, ordinal, heading, content, start_offset, end_offset, language, tsv)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text, to_tsvector($10::text::regconfig, $6 || ' ' || $7))`,
          [tenantId, id, baseId, documentId, ordinal, p.heading, p.content, offset, offset + length, language],
        );
        if (input.vectors) {
          await tx.query(
            `INSERT INTO knowledge_chunk_vectors (tenant_id, chunk_id, knowledge_base_id, model, dimensions, embedding)
             VALUES ($1, $2, $3, $4, $5, $6::vector)`,
            [tenantId, id, baseId, FAKE_MODEL, DIMENSIONS, vectorText(fakeEmbedding(`${p.heading} ${p.content}`))],
          );
        }
        chunks.set(p.key, id);
        offset += length + 2;
      }
    }
  });
  return { id: baseId, chunks };
}

/** Random unit vectors around a few centres (clustered like real embeddings), seeded. */
export function clusteredVectors(count: number, seed: number, centres = 20): number[][] {
  let state = seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) % 1_000_000) / 1_000_000;
  };
  const gaussian = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const unit = (v: number[]) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const cs = Array.from({ length: centres }, () => unit(Array.from({ length: DIMENSIONS }, gaussian)));
  return Array.from({ length: count }, (_, i) => unit((cs[i % centres] as number[]).map((x) => x + 0.08 * gaussian())));
}

/**
 * Bulk rows for the vector tests and the bench: `count` chunks of one tenant with synthetic text and
 * the given vectors, in one base and one document, inserted with generate_series-sized batches.
 */
export async function seedSyntheticChunks(
  db: Database,
  tenantId: string,
  vectors: number[][],
  withVectors: boolean,
  texts?: string[],
): Promise<string[]> {
  const baseId = randomUUID();
  const documentId = randomUUID();
  const ids: string[] = [];
  await db.withTenant(tenantId, async (tx) => {
    await tx.query("INSERT INTO knowledge_bases (tenant_id, id, name, language) VALUES ($1, $2, 'synthetic', 'english')", [
      tenantId,
      baseId,
    ]);
    await tx.query(
      `INSERT INTO knowledge_documents (tenant_id, id, knowledge_base_id, title, filename, media_type, size_bytes, sha256, content, status, extracted_text)
       VALUES ($1, $2, $3, 'Synthetic', 'synthetic.txt', 'text/plain', 1, 'x', '\\x00', 'ready', 'synthetic')`,
      [tenantId, documentId, baseId],
    );
    const BATCH = 500;
    for (let start = 0; start < vectors.length; start += BATCH) {
      const batch = vectors.slice(start, start + BATCH);
      const batchIds = batch.map(() => randomUUID());
      ids.push(...batchIds);
      await tx.query(
        `INSERT INTO knowledge_chunks (tenant_id, id, knowledge_base_id, document_id, ordinal, heading, content, start_offset, end_offset, language, tsv)
         SELECT $1, id, $2, $3, $4 + ord - 1, '', body, 0, 10, 'english', to_tsvector('english', body)
           FROM unnest($5::uuid[], $6::text[]) WITH ORDINALITY AS t(id, body, ord)`,
        [
          tenantId,
          baseId,
          documentId,
          start,
          batchIds,
          batchIds.map((_, i) => texts?.[start + i] ?? `topic ${(start + i) % 97} passage ${start + i}`),
        ],
      );
      if (withVectors) {
        await tx.query(
          `INSERT INTO knowledge_chunk_vectors (tenant_id, chunk_id, knowledge_base_id, model, dimensions, embedding)
           SELECT $1, id, $2, $3, $4, e::vector FROM unnest($5::uuid[], $6::text[]) AS t(id, e)`,
          [tenantId, baseId, FAKE_MODEL, DIMENSIONS, batchIds, batch.map(vectorText)],
        );
      }
    }
  });
  return ids;
}
