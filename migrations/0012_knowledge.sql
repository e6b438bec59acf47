-- Knowledge bases, their documents and the chunks search reads (issue 6, F-E1 and F-E2).
--
-- Visibility rule: a document's chunks (and vectors) are written, and the document marked `ready`,
-- in one transaction; re-indexing replaces them in one transaction too. Search therefore never
-- sees a half-indexed document and needs no join on the document's status.

CREATE TABLE knowledge_bases (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
  -- Text-search configuration of its chunks: the tenant's language at creation unless given.
  language text NOT NULL DEFAULT 'simple' CHECK (language IN ('english', 'italian', 'simple')),
  -- Chunking overrides of this base (null: the tenant's retrieval.chunkSize / chunkOverlap).
  chunk_size integer CHECK (chunk_size IS NULL OR chunk_size BETWEEN 100 AND 8000),
  chunk_overlap integer CHECK (chunk_overlap IS NULL OR chunk_overlap BETWEEN 0 AND 4000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT knowledge_bases_name_key UNIQUE (tenant_id, name),
  CHECK (chunk_size IS NULL OR chunk_overlap IS NULL OR chunk_overlap < chunk_size)
);
SELECT palazzo_enable_tenant_isolation('knowledge_bases');

CREATE TABLE knowledge_documents (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  knowledge_base_id uuid NOT NULL,
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
  filename text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
  -- Detected from the content (magic bytes, then a text sniff), not from the name.
  media_type text NOT NULL,
  size_bytes bigint NOT NULL CHECK (size_bytes > 0),
  sha256 text NOT NULL,
  -- The upload as received; kept so the document can be re-indexed when chunking changes.
  content bytea NOT NULL,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'parsing', 'chunking', 'indexing', 'ready', 'failed')),
  -- Stable code (e.g. corrupt_file, too_many_pages, empty_document) and a human sentence.
  failure_code text,
  failure_reason text,
  -- The text extracted by the parser; citations' offsets point into it.
  extracted_text text,
  chunk_count integer NOT NULL DEFAULT 0,
  -- Chunking used for the chunks in place ({ size, overlap }); differs from the base's => re-index.
  chunking jsonb,
  embedding_model text,
  -- Why the chunks have no vectors although a provider is configured (e.g. provider_error); the
  -- document is still ready and searched by full text.
  embedding_error text,
  attempts integer NOT NULL DEFAULT 0,
  created_by_type text CHECK (created_by_type IN ('user', 'api_key')),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  ready_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, knowledge_base_id) REFERENCES knowledge_bases (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX knowledge_documents_base_idx ON knowledge_documents (tenant_id, knowledge_base_id, id);
CREATE INDEX knowledge_documents_status_idx ON knowledge_documents (tenant_id, status) WHERE status <> 'ready';
SELECT palazzo_enable_tenant_isolation('knowledge_documents');

CREATE TABLE knowledge_chunks (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  knowledge_base_id uuid NOT NULL,
  document_id uuid NOT NULL,
  ordinal integer NOT NULL CHECK (ordinal >= 0),
  -- The heading path the chunk sits under ("Billing > Refunds"), '' when none.
  heading text NOT NULL DEFAULT '',
  content text NOT NULL CHECK (length(content) > 0),
  -- Offsets of the passage in the document's extracted_text: [start_offset, end_offset).
  start_offset integer NOT NULL CHECK (start_offset >= 0),
  end_offset integer NOT NULL,
  -- Same value as the base's language; the query side builds one tsquery per language present.
  language text NOT NULL CHECK (language IN ('english', 'italian', 'simple')),
  tsv tsvector NOT NULL,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT knowledge_chunks_ordinal_key UNIQUE (tenant_id, document_id, ordinal),
  FOREIGN KEY (tenant_id, document_id) REFERENCES knowledge_documents (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, knowledge_base_id) REFERENCES knowledge_bases (tenant_id, id) ON DELETE CASCADE,
  CHECK (end_offset > start_offset)
);
CREATE INDEX knowledge_chunks_tsv_idx ON knowledge_chunks USING gin (tsv);
CREATE INDEX knowledge_chunks_base_idx ON knowledge_chunks (tenant_id, knowledge_base_id);
SELECT palazzo_enable_tenant_isolation('knowledge_chunks');

-- Vectors live in their own table, created only where pgvector can be installed (PGlite bundles it;
-- Debian's PostgreSQL 15 does not). Without it, retrieval is full-text only and says so.
-- `embedding` has no fixed dimension (models differ); HNSW indexes exist per common dimension as
-- partial expression indexes, and queries cast to the dimension to use them.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE knowledge_chunk_vectors (
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      chunk_id uuid NOT NULL,
      knowledge_base_id uuid NOT NULL,
      model text NOT NULL,
      dimensions integer NOT NULL CHECK (dimensions BETWEEN 1 AND 16000),
      embedding vector NOT NULL,
      PRIMARY KEY (tenant_id, chunk_id),
      FOREIGN KEY (tenant_id, chunk_id) REFERENCES knowledge_chunks (tenant_id, id) ON DELETE CASCADE,
      CHECK (vector_dims(embedding) = dimensions)
    );
    CREATE INDEX knowledge_chunk_vectors_tenant_idx ON knowledge_chunk_vectors (tenant_id, dimensions);
    CREATE INDEX knowledge_chunk_vectors_hnsw_384 ON knowledge_chunk_vectors
      USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dimensions = 384;
    CREATE INDEX knowledge_chunk_vectors_hnsw_768 ON knowledge_chunk_vectors
      USING hnsw ((embedding::vector(768)) vector_cosine_ops) WHERE dimensions = 768;
    CREATE INDEX knowledge_chunk_vectors_hnsw_1024 ON knowledge_chunk_vectors
      USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE dimensions = 1024;
    CREATE INDEX knowledge_chunk_vectors_hnsw_1536 ON knowledge_chunk_vectors
      USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE dimensions = 1536;
    PERFORM palazzo_enable_tenant_isolation('knowledge_chunk_vectors');
  END IF;
END
$$;
