import type { Tx } from '../../platform/db/database.ts';
import type { SearchLanguage } from './ports.ts';

/**
 * SQL of retrieval (issue 6, F-E2). Every function takes the tenant's transaction: row-level security
 * bounds every statement to the tenant; the explicit `tenant_id = $1` predicates are for the planner
 * (they let it use the `(tenant_id, …)` indexes), not for isolation.
 */

/** Dimensions with a partial HNSW index in migration 0012; other dimensions are always searched exactly. */
export const HNSW_DIMENSIONS = new Set([384, 768, 1024, 1536]);

/** Reciprocal rank fusion constant (Cormack et al.): rank r contributes weight / (RRF_K + r). */
export const RRF_K = 60;

export type BaseRow = { id: string; name: string; language: SearchLanguage; described: boolean };

export type CandidateRow = {
  id: string;
  document_id: string;
  knowledge_base_id: string;
  title: string;
  heading: string;
  content: string;
  start_offset: number;
  end_offset: number;
  rrf: number;
  keyword_rank: number | null;
  vector_rank: number | null;
  embedding: string | null;
};

/** Whether this database has the vectors table (pgvector was available when migration 0012 ran). */
export async function hasVectorTable(tx: Tx): Promise<boolean> {
  const { rows } = await tx.query<{ present: boolean }>("SELECT to_regclass('knowledge_chunk_vectors') IS NOT NULL AS present");
  return rows[0]?.present === true;
}

/**
 * The tenant's knowledge bases (or the given ones), each with whether its name and description match
 * the query: the cheap half of routing. An OR query (any term) is enough for a description.
 */
export async function listBases(tx: Tx, tenantId: string, query: string, ids: string[] | null): Promise<BaseRow[]> {
  const { rows } = await tx.query<BaseRow>(
    `SELECT b.id, b.name, b.language,
            to_tsvector(b.language::regconfig, b.name || ' ' || b.description)
              @@ ${orQuery('websearch_to_tsquery(b.language::regconfig, $2)')} AS described
       FROM knowledge_bases b
      WHERE b.tenant_id = $1 ${ids ? 'AND b.id = ANY($3::uuid[])' : ''}
      ORDER BY b.name`,
    ids ? [tenantId, query, ids] : [tenantId, query],
  );
  return rows;
}

/** Number of the tenant's vectors of one dimension and model (chooses exact versus HNSW search). */
export async function countVectors(tx: Tx, tenantId: string, dimensions: number, model: string): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM knowledge_chunk_vectors WHERE tenant_id = $1 AND dimensions = $2 AND model = $3',
    [tenantId, dimensions, model],
  );
  return rows[0]?.n ?? 0;
}

/**
 * pgvector 0.8 settings of an HNSW search with a filter, for this transaction only. With
 * `relaxed_order`, the scan goes on past ef_search until LIMIT rows passed the tenant filter (or
 * max_scan_tuples were visited), so a filtered query still returns k rows; the caller re-orders exactly.
 */
export async function prepareHnsw(tx: Tx, efSearch: number, maxScanTuples: number): Promise<void> {
  await tx.query(
    `SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),
            set_config('hnsw.ef_search', $1, true),
            set_config('hnsw.max_scan_tuples', $2, true)`,
    [String(efSearch), String(maxScanTuples)],
  );
}

/**
 * An OR form of a websearch tsquery: `'a' & 'b'` becomes `'a' | 'b'`, so a question in natural language
 * matches passages that share some of its terms (ts_rank_cd still prefers those sharing more, and an
 * AND match gets a bonus below). A query with a negation (`-term`) keeps its AND form, since `a | !b`
 * would match nearly everything.
 */
function orQuery(andQuery: string): string {
  return `(CASE WHEN strpos((${andQuery})::text, '!') > 0 THEN ${andQuery} ELSE replace((${andQuery})::text, ' & ', ' | ')::tsquery END)`;
}

export type VectorLeg = {
  /** The query vector as pgvector text: '[0.1,0.2,…]'. */
  vector: string;
  dimensions: number;
  model: string;
  /** 'hnsw' only for dimensions in HNSW_DIMENSIONS; prepareHnsw must have run in the transaction. */
  method: 'exact' | 'hnsw';
};

export type HybridInput = {
  tenantId: string;
  query: string;
  /** Languages of the targeted bases: one tsquery (and one index probe) per language. */
  languages: SearchLanguage[];
  /** null: every base of the tenant. */
  baseIds: string[] | null;
  candidatesPerLeg: number;
  /** Rows returned after fusion. */
  limit: number;
  keywordWeight: number;
  vectorWeight: number;
  vector: VectorLeg | null;
  /** Return each candidate's embedding (MMR needs it). */
  withEmbeddings: boolean;
};

/**
 * One statement: keyword candidates (websearch_to_tsquery per language, ranked by ts_rank_cd), vector
 * candidates (cosine distance, exact after the (tenant_id, dimensions) btree or HNSW with an iterative
 * scan), fused by weighted reciprocal rank, joined to the chunks and their documents.
 */
export async function searchHybrid(tx: Tx, input: HybridInput): Promise<CandidateRow[]> {
  const params: unknown[] = [input.tenantId, input.query, input.candidatesPerLeg, input.keywordWeight, input.vectorWeight, input.limit];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const bases = input.baseIds ? param(input.baseIds) : null;
  const baseFilter = (alias: string) => (bases ? `AND ${alias}.knowledge_base_id = ANY(${bases}::uuid[])` : '');

  const keywordParts = input.languages.map((language) => {
    // The language is one of SEARCH_LANGUAGES (checked by the table's CHECK and the type): safe to inline.
    const andQuery = `websearch_to_tsquery('${language}', $2)`;
    return `SELECT c.id, ts_rank_cd(c.tsv, q.orq) + CASE WHEN c.tsv @@ q.andq THEN 1 ELSE 0 END AS score
              FROM (SELECT ${andQuery} AS andq, ${orQuery(andQuery)} AS orq) q, knowledge_chunks c
             WHERE c.tenant_id = $1 AND c.language = '${language}' AND numnode(q.orq) > 0 AND c.tsv @@ q.orq ${baseFilter('c')}`;
  });
  const keyword = keywordParts.length
    ? `SELECT id, row_number() OVER (ORDER BY score DESC, id) AS r
         FROM (${keywordParts.join(' UNION ALL ')} ORDER BY score DESC LIMIT $3) k`
    : // $2 stays typed when no language is searched (keyword weight 0).
      'SELECT NULL::uuid AS id, NULL::bigint AS r WHERE $2::text IS NULL AND false';

  let vector = 'SELECT NULL::uuid AS id, NULL::bigint AS r WHERE false';
  if (input.vector) {
    const { dimensions, method } = input.vector;
    if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 16000) throw new Error('invalid vector dimensions');
    const v = param(input.vector.vector);
    const model = param(input.vector.model);
    const where = `v.tenant_id = $1 AND v.dimensions = ${dimensions} AND v.model = ${model} ${baseFilter('v')}`;
    // Exact: the distance on the untyped column matches no HNSW expression index, so the planner
    // reads the tenant's rows through the btree and sorts them. HNSW: the cast matches the partial
    // index of this dimension; relaxed_order returns rows nearly in order, re-ordered exactly here.
    const inner =
      method === 'hnsw' && HNSW_DIMENSIONS.has(dimensions)
        ? `SELECT v.chunk_id, v.embedding::vector(${dimensions}) <=> ${v}::vector(${dimensions}) AS distance
             FROM knowledge_chunk_vectors v WHERE ${where}
            ORDER BY v.embedding::vector(${dimensions}) <=> ${v}::vector(${dimensions}) LIMIT $3`
        : `SELECT v.chunk_id, v.embedding <=> ${v}::vector AS distance
             FROM knowledge_chunk_vectors v WHERE ${where}
            ORDER BY distance LIMIT $3`;
    vector = `SELECT chunk_id AS id, row_number() OVER (ORDER BY distance, chunk_id) AS r FROM (${inner}) n`;
  }

  const embedding =
    input.vector && input.withEmbeddings
      ? `(SELECT e.embedding::text FROM knowledge_chunk_vectors e WHERE e.tenant_id = $1 AND e.chunk_id = c.id)`
      : 'NULL::text';

  const { rows } = await tx.query<CandidateRow>(
    `WITH keyword AS (${keyword}),
          vector AS (${vector}),
          fused AS (
            SELECT id, sum(w) AS rrf FROM (
              SELECT id, $4::float8 / (${RRF_K} + r) AS w FROM keyword
              UNION ALL
              SELECT id, $5::float8 / (${RRF_K} + r) AS w FROM vector
            ) u GROUP BY id ORDER BY rrf DESC, id LIMIT $6
          )
     SELECT c.id, c.document_id, c.knowledge_base_id, d.title, c.heading, c.content, c.start_offset, c.end_offset,
            f.rrf, k.r::int AS keyword_rank, vr.r::int AS vector_rank, ${embedding} AS embedding
       FROM fused f
       JOIN knowledge_chunks c ON c.tenant_id = $1 AND c.id = f.id
       JOIN knowledge_documents d ON d.tenant_id = $1 AND d.id = c.document_id
       LEFT JOIN keyword k ON k.id = f.id
       LEFT JOIN vector vr ON vr.id = f.id
      ORDER BY f.rrf DESC, c.id`,
    params,
  );
  return rows;
}

/** Exact cosine top-k of a tenant (the baseline of B5/B6 and of the recall tests). */
export async function exactVectorTopK(tx: Tx, tenantId: string, vector: string, dimensions: number, k: number): Promise<string[]> {
  const { rows } = await tx.query<{ chunk_id: string }>(
    `SELECT chunk_id FROM knowledge_chunk_vectors
      WHERE tenant_id = $1 AND dimensions = $2
      ORDER BY embedding <=> $3::vector, chunk_id LIMIT $4`,
    [tenantId, dimensions, vector, k],
  );
  return rows.map((r) => r.chunk_id);
}
