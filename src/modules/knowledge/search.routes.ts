import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { tenantOf } from '../../platform/http/request-context.ts';
import type { KnowledgeRetriever } from './retriever.ts';
import { SearchBody, SearchResult } from './search.schemas.ts';

/** Query expansion with the tenant's domain vocabulary (the assistant module's). */
export type QueryExpander = (tenantId: string, query: string) => Promise<{ query: string; added: string[] }>;

export const searchRoutes =
  (deps: { retriever: KnowledgeRetriever; expand?: QueryExpander }): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/v1/search',
      {
        config: { auth: { kind: 'tenant', permission: 'knowledge.read' } },
        schema: {
          tags: ['knowledge'],
          summary: "Search the tenant's knowledge bases (hybrid full-text and vector, with citations)",
          description:
            'Full-text and vector candidates fused by reciprocal rank, weighted and limited by the `retrieval.*` configuration, ' +
            'then reranked (`retrieval.reranker`). Without pgvector or an embedding provider the search is full-text only and `reason` says so.',
          body: SearchBody,
          response: { 200: SearchResult },
        },
      },
      async (request) => {
        const tenantId = tenantOf(request);
        const { query, knowledgeBaseIds, topK } = request.body;
        const expanded = deps.expand ? await deps.expand(tenantId, query) : { query, added: [] };
        const result = await deps.retriever.search(tenantId, { query: expanded.query, knowledgeBaseIds, topK });
        return {
          mode: result.mode,
          ...(result.reason ? { reason: result.reason } : {}),
          knowledgeBases: result.knowledgeBases,
          routed: result.routed,
          reranker: result.reranker,
          ...(expanded.added.length ? { expandedQuery: expanded.query } : {}),
          results: result.passages.map((p) => ({
            chunkId: p.chunkId,
            documentId: p.documentId,
            title: p.title,
            knowledgeBaseId: p.knowledgeBaseId,
            heading: p.heading,
            text: p.text,
            startOffset: p.start,
            endOffset: p.end,
            score: p.score,
          })),
        };
      },
    );
  };
