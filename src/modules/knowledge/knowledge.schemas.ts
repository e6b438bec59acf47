import { Type } from 'typebox';
import { NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';
import { PaginationQuery } from '../../platform/pagination.ts';
import { MEDIA_TYPES } from './parsers/types.ts';
import { SEARCH_LANGUAGES } from './ports.ts';

const Language = Type.Unsafe<(typeof SEARCH_LANGUAGES)[number]>({
  type: 'string',
  enum: [...SEARCH_LANGUAGES],
  description: "Text-search configuration of the base's chunks (default: from the tenant's locale)",
});

const ChunkSize = Type.Integer({
  minimum: 100,
  maximum: 8000,
  description: "Characters per chunk; null: the tenant's retrieval.chunkSize",
});
const ChunkOverlap = Type.Integer({
  minimum: 0,
  maximum: 4000,
  description: "Characters shared by consecutive chunks (< chunkSize); null: the tenant's retrieval.chunkOverlap",
});

export const KnowledgeBase = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  description: Type.String(),
  language: Language,
  chunkSize: Type.Union([Type.Integer(), Type.Null()]),
  chunkOverlap: Type.Union([Type.Integer(), Type.Null()]),
  documentCount: Type.Integer(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const CreateBaseBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    language: Type.Optional(Language),
    chunkSize: Type.Optional(Type.Union([ChunkSize, Type.Null()])),
    chunkOverlap: Type.Optional(Type.Union([ChunkOverlap, Type.Null()])),
  },
  { additionalProperties: false },
);

export const UpdateBaseBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    language: Type.Optional(Language),
    chunkSize: Type.Optional(Type.Union([ChunkSize, Type.Null()])),
    chunkOverlap: Type.Optional(Type.Union([ChunkOverlap, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const UpdatedBase = Type.Object({
  ...KnowledgeBase.properties,
  reindexing: Type.Integer({ description: 'Documents queued for re-indexing because the language or chunking changed' }),
});

export const DOCUMENT_STATUSES = ['queued', 'parsing', 'chunking', 'indexing', 'ready', 'failed'] as const;
const Status = Type.Unsafe<(typeof DOCUMENT_STATUSES)[number]>({
  type: 'string',
  enum: [...DOCUMENT_STATUSES],
  description: 'queued → parsing → chunking → indexing → ready | failed',
});

export const KnowledgeDocument = Type.Object({
  id: Type.String({ format: 'uuid' }),
  knowledgeBaseId: Type.String({ format: 'uuid' }),
  title: Type.String(),
  filename: Type.String({
    description: 'The name as uploaded, cleaned (last path component, no control characters); never a storage path',
  }),
  mediaType: Type.Unsafe<(typeof MEDIA_TYPES)[number]>({
    type: 'string',
    enum: [...MEDIA_TYPES],
    description: 'Detected from the content',
  }),
  sizeBytes: Type.Integer(),
  sha256: Type.String(),
  status: Status,
  failure: Type.Union([Type.Object({ code: Type.String(), reason: Type.String() }), Type.Null()], {
    description:
      'Why the document failed: corrupt_file, empty_document, too_many_pages, archive_bomb, too_complex, parse_timeout, too_much_text, ingestion_failed',
  }),
  chunkCount: Type.Integer(),
  chunking: Type.Union([Type.Object({ size: Type.Integer(), overlap: Type.Integer() }), Type.Null()], {
    description: 'The chunking of the chunks in place',
  }),
  embeddingModel: Type.Union([Type.String(), Type.Null()], { description: 'null: no vectors (no embedding provider, or no pgvector)' }),
  embeddingError: Type.Union([Type.String(), Type.Null()], {
    description:
      'Why the chunks have no vectors although a provider is configured (provider_error, provider_timeout…); full-text search still works',
  }),
  attempts: Type.Integer(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  readyAt: NullableTimestamp,
});

export const DocumentParams = Type.Object({ id: Type.String({ maxLength: 100 }), documentId: Type.String({ maxLength: 100 }) });

export const DocumentListQuery = Type.Object({ ...PaginationQuery, status: Type.Optional(Status) });

export const ReindexResult = Type.Object({ queued: Type.Integer({ description: 'Documents queued for re-indexing' }) });
