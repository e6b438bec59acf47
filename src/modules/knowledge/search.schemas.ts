import { Type } from 'typebox';
import { RERANKERS } from '../config/config.schema.ts';

export const SearchBody = Type.Object(
  {
    query: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'Natural-language question or keywords' }),
    knowledgeBaseIds: Type.Optional(
      Type.Array(Type.String({ format: 'uuid' }), {
        minItems: 1,
        maxItems: 20,
        uniqueItems: true,
        description: "Bases to search. Absent: the tenant's bases that fit the query (routing). An id that is not one of yours answers 404",
      }),
    ),
    topK: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, description: 'Passages to return (default: retrieval.topK)' })),
  },
  { additionalProperties: false },
);

const Passage = Type.Object({
  chunkId: Type.String({ format: 'uuid' }),
  documentId: Type.String({ format: 'uuid' }),
  title: Type.String({ description: 'Title of the document' }),
  knowledgeBaseId: Type.String({ format: 'uuid' }),
  heading: Type.String({ description: 'Heading path of the passage ("Billing > Refunds"); empty when none' }),
  text: Type.String(),
  startOffset: Type.Integer({ minimum: 0, description: "Start of the passage in the document's extracted text" }),
  endOffset: Type.Integer({ minimum: 0, description: 'End (exclusive) of the passage' }),
  score: Type.Number({
    minimum: 0,
    maximum: 1,
    description: 'Fused relevance: 1 is first in every search leg that ran; passages below retrieval.minScore are left out',
  }),
});

export const SearchResult = Type.Object({
  mode: Type.Union([Type.Literal('hybrid'), Type.Literal('fulltext')], {
    description: 'hybrid: full-text and vector search fused; fulltext: full-text only, `reason` says why',
  }),
  reason: Type.Optional(
    Type.String({ description: 'Why the search is full-text only (e.g. "pgvector is not installed on this database")' }),
  ),
  knowledgeBases: Type.Array(Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String() }), {
    description: 'The knowledge bases searched',
  }),
  routed: Type.Boolean({ description: "No base was requested: the tenant's bases that fit the query were chosen" }),
  reranker: Type.Object({
    strategy: Type.Unsafe<(typeof RERANKERS)[number]>({ type: 'string', enum: [...RERANKERS] }),
    applied: Type.Boolean(),
    reason: Type.Optional(Type.String({ description: 'Why the reranker was not applied (the fused order is kept)' })),
  }),
  expandedQuery: Type.Optional(Type.String({ description: "The query searched, after expansion with the tenant's domain vocabulary" })),
  results: Type.Array(Passage),
});
