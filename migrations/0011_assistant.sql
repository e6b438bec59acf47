-- The AI provider of each tenant, the assistant's conversations, messages and long-term memory,
-- tenant-defined intents and the domain vocabulary (issue 6, F-E3 and F-E4).

-- One provider per tenant. The API key is sealed with AES-256-GCM under the master key (additional
-- data: tenant id), never returned; `key_hint` is its last four characters.
CREATE TABLE ai_providers (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  kind text NOT NULL CHECK (kind IN ('openai', 'anthropic', 'google', 'openai-compatible')),
  base_url text CHECK (base_url IS NULL OR length(base_url) <= 500),
  chat_model text NOT NULL CHECK (length(chat_model) BETWEEN 1 AND 200),
  embedding_model text CHECK (embedding_model IS NULL OR length(embedding_model) BETWEEN 1 AND 200),
  -- Offer the model tools (the assistant's `remember`); off for servers that refuse tool definitions.
  tool_calls boolean NOT NULL DEFAULT true,
  api_key_sealed text,
  key_hint text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id),
  CHECK (kind <> 'anthropic' OR embedding_model IS NULL),
  CHECK (kind <> 'openai-compatible' OR base_url IS NOT NULL)
);
SELECT palazzo_enable_tenant_isolation('ai_providers');

-- A conversation belongs to one subject: a user, or an API key (integrations).
CREATE TABLE assistant_conversations (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  subject_type text NOT NULL CHECK (subject_type IN ('user', 'api_key')),
  subject_id uuid NOT NULL,
  title text NOT NULL DEFAULT '',
  last_intent text,
  handoff_requested_at timestamptz,
  handoff_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX assistant_conversations_subject_idx ON assistant_conversations (tenant_id, subject_type, subject_id, id);
SELECT palazzo_enable_tenant_isolation('assistant_conversations');

CREATE TABLE assistant_messages (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  role text NOT NULL CHECK (role IN ('user', 'assistant')),
  content text NOT NULL,
  -- assistant messages: generative | extractive | scripted
  mode text,
  intent text,
  citations jsonb NOT NULL DEFAULT '[]',
  degraded_reason text,
  usage jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES assistant_conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX assistant_messages_conversation_idx ON assistant_messages (tenant_id, conversation_id, id);
SELECT palazzo_enable_tenant_isolation('assistant_messages');

-- Long-term memory: facts a subject asked the assistant to remember.
CREATE TABLE assistant_memories (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  subject_type text NOT NULL CHECK (subject_type IN ('user', 'api_key')),
  subject_id uuid NOT NULL,
  content text NOT NULL CHECK (length(content) BETWEEN 1 AND 2000),
  source text NOT NULL DEFAULT 'explicit' CHECK (source IN ('explicit', 'tool')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX assistant_memories_subject_idx ON assistant_memories (tenant_id, subject_type, subject_id, id);
SELECT palazzo_enable_tenant_isolation('assistant_memories');

-- Tenant-defined intents: examples classified by similarity, with a threshold.
CREATE TABLE assistant_intents (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,63}$'),
  description text NOT NULL DEFAULT '',
  examples jsonb NOT NULL,
  threshold double precision NOT NULL CHECK (threshold >= 0 AND threshold <= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT assistant_intents_name_key UNIQUE (tenant_id, name)
);
SELECT palazzo_enable_tenant_isolation('assistant_intents');

-- Domain vocabulary: a term and its synonyms, used to expand queries before retrieval.
CREATE TABLE assistant_vocabulary (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  term text NOT NULL CHECK (length(term) BETWEEN 1 AND 100),
  synonyms text[] NOT NULL,
  PRIMARY KEY (tenant_id, term)
);
SELECT palazzo_enable_tenant_isolation('assistant_vocabulary');
