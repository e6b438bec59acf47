/**
 * The interface between the AI layer (this module, the assistant) and the knowledge module. The
 * knowledge module implements `Retriever` and consumes `Embedder`; the assistant consumes both.
 * `src/modules/knowledge/ports.ts` holds a copy-compatible definition.
 */

/** Embeddings for a tenant; null when the tenant has no embedding provider configured. Tokens are metered by the implementation. */
export type Embedder = {
  embed(
    tenantId: string,
    texts: string[],
    purpose: 'document' | 'query',
  ): Promise<{ vectors: number[][]; model: string; dimensions: number; tokens: number } | null>;
};

export type RetrievedPassage = {
  chunkId: string;
  documentId: string;
  knowledgeBaseId: string;
  /** Document title (file name if none). */
  title: string;
  /** The passage. */
  text: string;
  /** Character offsets of the passage in the document's extracted text. */
  start: number;
  end: number;
  /** Fused score in [0,1]. */
  score: number;
};

export type RetrievalResult = { mode: 'hybrid' | 'fulltext'; reason?: string; passages: RetrievedPassage[] };

/** Search within one tenant (the implementation runs inside db.withTenant). */
export type Retriever = {
  search(
    tenantId: string,
    input: { query: string; knowledgeBaseIds?: string[]; topK?: number; language?: string },
  ): Promise<RetrievalResult>;
};

/** The retriever used until the knowledge module is wired: no knowledge, no passages. */
export const emptyRetriever: Retriever = {
  async search() {
    return { mode: 'fulltext', reason: 'no knowledge base module is wired', passages: [] };
  },
};
