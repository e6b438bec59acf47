import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../platform/errors.ts';
import { IdParams, NoContent } from '../../platform/http/schemas.ts';
import { tenantOf, tenantPrincipal } from '../../platform/http/request-context.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import type { DocumentRow, KnowledgeBaseRow } from './knowledge.repo.ts';
import {
  CreateBaseBody,
  DocumentListQuery,
  DocumentParams,
  KnowledgeBase,
  KnowledgeDocument,
  ReindexResult,
  UpdateBaseBody,
  UpdatedBase,
} from './knowledge.schemas.ts';
import type { KnowledgeService, Upload } from './knowledge.service.ts';

export const toBase = (row: KnowledgeBaseRow) => ({
  id: row.id,
  name: row.name,
  description: row.description,
  language: row.language,
  chunkSize: row.chunk_size,
  chunkOverlap: row.chunk_overlap,
  documentCount: row.document_count,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

export const toDocument = (row: DocumentRow) => ({
  id: row.id,
  knowledgeBaseId: row.knowledge_base_id,
  title: row.title,
  filename: row.filename,
  mediaType: row.media_type as never,
  sizeBytes: Number(row.size_bytes),
  sha256: row.sha256,
  status: row.status,
  failure: row.failure_code ? { code: row.failure_code, reason: row.failure_reason ?? '' } : null,
  chunkCount: row.chunk_count,
  chunking: row.chunking,
  embeddingModel: row.embedding_model,
  embeddingError: row.embedding_error,
  attempts: row.attempts,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  readyAt: row.ready_at?.toISOString() ?? null,
});

/** Reads the multipart body: one file in field `file`, an optional `title`; 413 past the size limit while streaming. */
async function readUpload(request: FastifyRequest, maxFileBytes: number): Promise<Upload> {
  if (!request.isMultipart()) {
    throw new AppError('unsupported_media_type', 'send the document as multipart/form-data with a field named "file"');
  }
  let file: Upload | undefined;
  let title: string | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file' || file) {
          await part.toBuffer().catch(() => undefined);
          continue;
        }
        file = { bytes: await part.toBuffer(), filename: part.filename, declaredType: part.mimetype, title: undefined };
      } else if (part.fieldname === 'title' && typeof part.value === 'string') {
        title = part.value;
      }
    }
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE')
      throw new AppError('payload_too_large', `the file is larger than ${maxFileBytes} bytes`, { limit: maxFileBytes });
    if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT') {
      throw new AppError('validation_failed', 'send one file in the field "file" and at most a "title" field', {
        errors: [{ path: 'body', message: 'too many parts' }],
      });
    }
    throw error;
  }
  if (!file) {
    throw new AppError('validation_failed', 'send the document in a multipart field named "file"', {
      errors: [{ path: 'body/file', message: 'is required' }],
    });
  }
  return { ...file, title };
}

export const knowledgeRoutes =
  (deps: { knowledge: KnowledgeService; maxFileBytes: number }): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { knowledge, maxFileBytes } = deps;
    const tags = ['knowledge'];
    const read = { auth: { kind: 'tenant' as const, permission: 'knowledge.read' as const } };
    const write = { auth: { kind: 'tenant' as const, permission: 'knowledge.write' as const } };

    app.get(
      '/v1/knowledge-bases',
      {
        config: read,
        schema: {
          tags,
          summary: 'Knowledge bases of the tenant',
          querystring: Type.Object(PaginationQuery),
          response: { 200: Page(KnowledgeBase) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await knowledge.listBases(tenantOf(request), { after: decodeCursor(request.query.cursor), limit });
        const page = toPage(rows, limit);
        return { data: page.data.map(toBase), nextCursor: page.nextCursor };
      },
    );

    app.post(
      '/v1/knowledge-bases',
      {
        config: write,
        schema: {
          tags,
          summary: 'Create a knowledge base',
          description: "Refused with 429 quota_exceeded past the tier's knowledgeBases limit; 409 when the name is taken.",
          body: CreateBaseBody,
          response: { 201: KnowledgeBase },
        },
      },
      async (request, reply) => {
        reply.code(201);
        return toBase(await knowledge.createBase(tenantPrincipal(request), request.body));
      },
    );

    app.get(
      '/v1/knowledge-bases/:id',
      { config: read, schema: { tags, summary: 'One knowledge base', params: IdParams, response: { 200: KnowledgeBase } } },
      async (request) => toBase(await knowledge.getBase(tenantOf(request), request.params.id)),
    );

    app.patch(
      '/v1/knowledge-bases/:id',
      {
        config: write,
        schema: {
          tags,
          summary: 'Change a knowledge base; a new language or chunking re-indexes its documents',
          params: IdParams,
          body: UpdateBaseBody,
          response: { 200: UpdatedBase },
        },
      },
      async (request) => {
        const { base, reindexing } = await knowledge.updateBase(tenantOf(request), request.params.id, request.body);
        return { ...toBase(base), reindexing };
      },
    );

    app.delete(
      '/v1/knowledge-bases/:id',
      {
        config: write,
        schema: {
          tags,
          summary: 'Delete a knowledge base with its documents, chunks and vectors',
          params: IdParams,
          response: { 204: NoContent },
        },
      },
      async (request, reply) => {
        await knowledge.deleteBase(tenantOf(request), request.params.id);
        reply.code(204);
      },
    );

    app.post(
      '/v1/knowledge-bases/:id/reindex',
      {
        config: write,
        schema: {
          tags,
          summary: 'Re-index every document of the base (current chunking and embedding model)',
          description: 'Chunks in place stay searchable until each document is replaced in one transaction.',
          params: IdParams,
          response: { 202: ReindexResult },
        },
      },
      async (request, reply) => {
        reply.code(202);
        return { queued: await knowledge.reindexBase(tenantOf(request), request.params.id) };
      },
    );

    app.get(
      '/v1/knowledge-bases/:id/documents',
      {
        config: read,
        schema: {
          tags,
          summary: 'Documents of a knowledge base, optionally by status',
          params: IdParams,
          querystring: DocumentListQuery,
          response: { 200: Page(KnowledgeDocument) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await knowledge.listDocuments(tenantOf(request), request.params.id, {
          after: decodeCursor(request.query.cursor),
          limit,
          status: request.query.status,
        });
        const page = toPage(rows, limit);
        return { data: page.data.map(toDocument), nextCursor: page.nextCursor };
      },
    );

    app.get(
      '/v1/knowledge-bases/:id/documents/:documentId',
      {
        config: read,
        schema: {
          tags,
          summary: 'One document: status, failure, chunk count',
          params: DocumentParams,
          response: { 200: KnowledgeDocument },
        },
      },
      async (request) => toDocument(await knowledge.getDocument(tenantOf(request), request.params.id, request.params.documentId)),
    );

    app.delete(
      '/v1/knowledge-bases/:id/documents/:documentId',
      {
        config: write,
        schema: { tags, summary: 'Delete a document with its chunks and vectors', params: DocumentParams, response: { 204: NoContent } },
      },
      async (request, reply) => {
        await knowledge.deleteDocument(tenantOf(request), request.params.id, request.params.documentId);
        reply.code(204);
      },
    );

    app.post(
      '/v1/knowledge-bases/:id/documents/:documentId/reindex',
      {
        config: write,
        schema: { tags, summary: 'Re-index one document', params: DocumentParams, response: { 202: KnowledgeDocument } },
      },
      async (request, reply) => {
        reply.code(202);
        return toDocument(await knowledge.reindexDocument(tenantOf(request), request.params.id, request.params.documentId));
      },
    );

    // Multipart is parsed in this context only: every other route keeps refusing non-JSON bodies.
    await app.register(async (upload) => {
      await upload.register(multipart, {
        limits: { fileSize: maxFileBytes, files: 1, fields: 2, parts: 3, fieldSize: 2000, headerPairs: 50 },
      });
      upload.withTypeProvider<TypeBoxTypeProvider>().post(
        '/v1/knowledge-bases/:id/documents',
        {
          config: write,
          schema: {
            tags,
            summary: 'Upload a document (multipart/form-data: field "file", optional "title"); 202, ingested in the background',
            description: [
              `Text, Markdown, HTML, CSV, PDF or DOCX, up to ${maxFileBytes} bytes (PALAZZO_KNOWLEDGE_MAX_FILE_BYTES).`,
              'The type is read from the content, not the name: a disguised file is refused with 415 unsupported_media_type;',
              'an empty file with 422 empty_file; a larger one with 413 payload_too_large. Refused with 429 quota_exceeded past the',
              "tier's documents or storageBytes limit. Poll the document for its status.",
            ].join(' '),
            consumes: ['multipart/form-data'],
            params: IdParams,
            response: { 202: KnowledgeDocument },
          },
        },
        async (request, reply) => {
          // Foreign is missing, before the body is read: no upload is buffered for a base the caller cannot see.
          await knowledge.getBase(tenantOf(request), request.params.id);
          const file = await readUpload(request, maxFileBytes);
          const row = await knowledge.upload(tenantPrincipal(request), request.params.id, file);
          reply.code(202);
          return toDocument(row);
        },
      );
    });
  };
