import type { LanguageModel } from 'ai';
import { LRUCache } from 'lru-cache';
import type { Database } from '../../platform/db/database.ts';
import { assertThat, notFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { EffectiveConfig } from '../config/index.ts';
import type { Embedder, RetrievalResult, RetrievedPassage, SearchLanguage } from './ports.ts';
import { LLM_RERANK_CANDIDATES, llmRerank, mmrOrder } from './retriever-rerank.ts';
import * as repo from './retriever.repo.ts';

/**
 * Hybrid retrieval per tenant (issue 6, F-E2): full-text and vector candidates fused by weighted
 * reciprocal rank in one statement, routed across the tenant's knowledge bases, reranked by the
 * tenant's strategy. Implements the AI layer's `Retriever` (the assistant) and serves POST /v1/search.
 */

export type SearchPassage = RetrievedPassage & { heading: string };

export type RerankReport = { strategy: EffectiveConfig['retrieval']['reranker']; applied: boolean; reason?: string };

export type KnowledgeSearchResult = Omit<RetrievalResult, 'passages'> & {
  passages: SearchPassage[];
  /** The bases searched: the requested ones, or those routing chose among all of the tenant's. */
  knowledgeBases: Array<{ id: string; name: string }>;
  /** True when no base was requested and routing narrowed the tenant's bases to those that fit the query. */
  routed: boolean;
  reranker: RerankReport;
  /** How the vector leg ran (diagnostics and tests; not in the API response). */
  vectorSearch?: 'exact' | 'hnsw';
};

export type SearchInput = { query: string; knowledgeBaseIds?: string[]; topK?: number; language?: string };

export type KnowledgeRetriever = { search(tenantId: string, input: SearchInput): Promise<KnowledgeSearchResult> };

export const REASONS = {
  noPgvector: 'pgvector is not installed on this database',
  noEmbedder: 'no embedding provider configured',
  embedderFailed: 'the embedding provider failed; full-text results only',
  noVectors: 'no passage has a vector of the embedding model in use',
  vectorWeightZero: 'retrieval.weights.vector is 0',
} as const;

/**
 * Tenants with at most this many vectors of a dimension are searched exactly (B6; see docs/retrieval.md).
 * Measured on PGlite: exact search over 5,000 vectors of 384 dimensions answered in 11.7 ms p95 where
 * the filtered HNSW scan took 20 ms at recall 0.65, so the default leaves HNSW to larger tenants.
 * PALAZZO_EXACT_SEARCH_MAX_VECTORS overrides it (native PostgreSQL computes distances faster).
 */
export const EXACT_SEARCH_MAX_VECTORS = 10_000;

/** Routing keeps a base with a candidate ranked this high in both legs (docs/retrieval.md). */
const ROUTING_RANK = 3;

export function createRetriever(deps: {
  db: Database;
  config: { get(tenantId: string): Promise<EffectiveConfig> };
  /** Query embeddings; absent (or null for a tenant): full-text only. */
  embedder?: Embedder;
  /** The tenant's chat model for the provider reranker (null: none configured). */
  chatModel?: (tenantId: string) => Promise<LanguageModel | null>;
  /** LLM tokens the reranker used (metered by the AI module). */
  recordLlmTokens?: (tenantId: string, tokens: number) => Promise<void>;
  rerankTimeoutMs?: number;
  exactSearchMaxVectors?: number;
  /** HNSW settings of the filtered scan (pgvector 0.8). */
  hnsw?: { efSearch?: number; maxScanTuples?: number };
}): KnowledgeRetriever {
  const { db, config, embedder } = deps;
  const exactMax = deps.exactSearchMaxVectors ?? EXACT_SEARCH_MAX_VECTORS;
  const maxScanTuples = deps.hnsw?.maxScanTuples ?? 20_000;
  let vectorTable: Promise<boolean> | undefined;
  // Vector counts per tenant, dimension and model: a count per query would cost more than the search
  // of a small tenant. A stale count only moves a tenant across the threshold a minute late.
  const sizes = new LRUCache<string, number>({ max: 10_000, ttl: 60_000 });

  const hasVectors = () => {
    vectorTable ??= db
      .withControlPlane((tx) => repo.hasVectorTable(tx))
      .catch((error: unknown) => {
        vectorTable = undefined;
        throw error;
      });
    return vectorTable;
  };

  async function queryVector(tenantId: string, query: string): Promise<{ vector: number[]; model: string } | { reason: string }> {
    if (!(await hasVectors())) return { reason: REASONS.noPgvector };
    if (!embedder) return { reason: REASONS.noEmbedder };
    try {
      const result = await embedder.embed(tenantId, [query], 'query');
      const vector = result?.vectors[0];
      if (!result || !vector || vector.length === 0) return { reason: REASONS.noEmbedder };
      if (!vector.every(Number.isFinite)) return { reason: REASONS.embedderFailed };
      return { vector, model: result.model };
    } catch {
      return { reason: REASONS.embedderFailed };
    }
  }

  return {
    async search(tenantId, input) {
      const retrieval = (await config.get(tenantId)).retrieval;
      const query = input.query.trim().slice(0, 1000);
      const topK = Math.min(Math.max(Math.trunc(input.topK ?? retrieval.topK), 1), 100);
      const ids = input.knowledgeBaseIds ? [...new Set(input.knowledgeBaseIds.map((id) => id.toLowerCase()))] : null;
      // An id that is not a UUID cannot be one of the tenant's bases: the same 404 as another tenant's.
      if (ids) for (const id of ids) assertThat(isUuid(id), notFound('knowledge base'));
      const reranker: RerankReport = { strategy: retrieval.reranker, applied: false };

      const weightSum = retrieval.weights.keyword + retrieval.weights.vector;
      let keywordWeight = retrieval.weights.keyword / weightSum;
      let vectorWeight = retrieval.weights.vector / weightSum;
      const embedded =
        vectorWeight === 0
          ? { reason: REASONS.vectorWeightZero }
          : query
            ? await queryVector(tenantId, query)
            : { reason: REASONS.noEmbedder };

      const candidatesPerLeg = Math.max(retrieval.candidatesPerLeg, topK);
      const withEmbeddings = retrieval.reranker === 'mmr';

      const found = await db.withTenant(tenantId, async (tx) => {
        const bases = await repo.listBases(tx, tenantId, query, ids);
        assertThat(!ids || bases.length === ids.length, notFound('knowledge base'));
        let vector: repo.VectorLeg | null = null;
        let reason: string | undefined = 'reason' in embedded ? embedded.reason : undefined;
        if (bases.length === 0 || !query) return { bases, rows: [] as repo.CandidateRow[], vector, reason };
        if ('vector' in embedded) {
          const dimensions = embedded.vector.length;
          const key = `${tenantId}:${dimensions}:${embedded.model}`;
          let size = sizes.get(key);
          if (size === undefined) {
            size = await repo.countVectors(tx, tenantId, dimensions, embedded.model);
            sizes.set(key, size);
          }
          if (size === 0) reason = REASONS.noVectors;
          else {
            const method = size > exactMax && repo.HNSW_DIMENSIONS.has(dimensions) ? 'hnsw' : 'exact';
            if (method === 'hnsw') {
              await repo.prepareHnsw(tx, Math.min(1000, Math.max(deps.hnsw?.efSearch ?? 100, candidatesPerLeg * 2)), maxScanTuples);
            }
            vector = { vector: `[${embedded.vector.join(',')}]`, dimensions, model: embedded.model, method };
          }
        }
        if (!vector) {
          keywordWeight = 1;
          vectorWeight = 0;
        }
        const languages = keywordWeight > 0 ? ([...new Set(bases.map((b) => b.language))] as SearchLanguage[]) : [];
        const rows = await repo.searchHybrid(tx, {
          tenantId,
          query,
          languages,
          baseIds: ids,
          candidatesPerLeg,
          limit: candidatesPerLeg,
          keywordWeight,
          vectorWeight,
          vector,
          withEmbeddings,
        });
        return { bases, rows, vector, reason };
      });

      // Scores in [0,1]: the fused score over the best one possible (first in every leg that ran).
      const best = (keywordWeight + vectorWeight) / (repo.RRF_K + 1);
      let candidates = found.rows.map((row) => ({
        row,
        score: Math.min(1, row.rrf / best),
      }));

      // Routing: with several bases and none requested, keep the bases that fit the query: the base of
      // the best candidate; bases whose name or description match the query and that have a candidate
      // in the top topK; bases with a candidate near the top of both legs (of the keyword leg alone in
      // full-text mode). A sum over candidates would favour the biggest base, whose many passages fill
      // the vector leg's nearest neighbours whatever the query.
      let searched = found.bases;
      const routed = !ids && found.bases.length > 1 && candidates.length > 0;
      if (routed) {
        const keep = new Set<string>([candidates[0]?.row.knowledge_base_id as string]);
        const described = new Set(found.bases.filter((b) => b.described).map((b) => b.id));
        for (const [position, { row }] of candidates.entries()) {
          const base = row.knowledge_base_id;
          if (described.has(base) && position < topK) keep.add(base);
          // Both legs agreeing is evidence; one keyword match alone is not (a common word will do).
          const bothLegs = row.keyword_rank !== null && row.keyword_rank <= ROUTING_RANK && row.vector_rank !== null;
          if (bothLegs && (row.vector_rank as number) <= ROUTING_RANK) keep.add(base);
        }
        searched = found.bases.filter((b) => keep.has(b.id));
        candidates = candidates.filter((c) => keep.has(c.row.knowledge_base_id));
      }

      candidates = candidates.filter((c) => c.score >= retrieval.minScore);

      if (retrieval.reranker === 'mmr' && candidates.length > 1) {
        const order = mmrOrder(
          candidates.map((c) => ({ text: `${c.row.heading} ${c.row.content}`, score: c.score, embedding: parseVector(c.row.embedding) })),
          Math.min(topK, candidates.length),
        );
        candidates = order.map((i) => candidates[i] as (typeof candidates)[number]);
        reranker.applied = true;
      } else if ((retrieval.reranker === 'llm' || retrieval.reranker === 'cross_encoder') && candidates.length > 1) {
        const model = deps.chatModel ? await deps.chatModel(tenantId).catch(() => null) : null;
        if (!model) reranker.reason = 'no chat model configured; fused order kept';
        else {
          const head = candidates.slice(0, LLM_RERANK_CANDIDATES);
          const result = await llmRerank(
            model,
            query,
            head.map((c) => `${c.row.heading ? `${c.row.heading}: ` : ''}${c.row.content}`),
            deps.rerankTimeoutMs ?? 10_000,
          );
          if (result.tokens > 0) await deps.recordLlmTokens?.(tenantId, result.tokens).catch(() => undefined);
          if (result.ok) {
            candidates = [...result.order.map((i) => head[i] as (typeof head)[number]), ...candidates.slice(head.length)];
            reranker.applied = true;
          } else reranker.reason = `${result.reason}; fused order kept`;
        }
      }

      const passages: SearchPassage[] = candidates.slice(0, topK).map(({ row, score }) => ({
        chunkId: row.id,
        documentId: row.document_id,
        knowledgeBaseId: row.knowledge_base_id,
        title: row.title,
        heading: row.heading,
        text: row.content,
        start: row.start_offset,
        end: row.end_offset,
        score: Math.round(score * 10_000) / 10_000,
      }));
      const mode = found.vector ? 'hybrid' : 'fulltext';
      return {
        mode,
        ...(mode === 'fulltext' && found.reason ? { reason: found.reason } : {}),
        passages,
        knowledgeBases: searched.map((b) => ({ id: b.id, name: b.name })),
        routed,
        reranker,
        ...(found.vector ? { vectorSearch: found.vector.method } : {}),
      };
    },
  };
}

function parseVector(text: string | null): number[] | null {
  if (!text) return null;
  const values = text.slice(1, -1).split(',').map(Number);
  return values.every(Number.isFinite) ? values : null;
}
