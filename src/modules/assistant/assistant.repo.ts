import type { Tx } from '../../platform/db/database.ts';

export type Subject = { type: 'user' | 'api_key'; id: string };

export type ConversationRow = {
  id: string;
  title: string;
  last_intent: string | null;
  handoff_requested_at: Date | null;
  handoff_reason: string | null;
  created_at: Date;
  updated_at: Date;
};

const CONVERSATION = 'id, title, last_intent, handoff_requested_at, handoff_reason, created_at, updated_at';

export async function insertConversation(tx: Tx, row: { tenantId: string; id: string; subject: Subject; title: string }) {
  const { rows } = await tx.query<ConversationRow>(
    `INSERT INTO assistant_conversations (tenant_id, id, subject_type, subject_id, title) VALUES ($1, $2, $3, $4, $5)
     RETURNING ${CONVERSATION}`,
    [row.tenantId, row.id, row.subject.type, row.subject.id, row.title],
  );
  return rows[0] as ConversationRow;
}

/** A conversation of this subject only: another user's conversation is as missing as a random id. */
export async function findConversation(tx: Tx, subject: Subject, id: string, lock = false) {
  const { rows } = await tx.query<ConversationRow>(
    `SELECT ${CONVERSATION} FROM assistant_conversations WHERE id = $1 AND subject_type = $2 AND subject_id = $3${lock ? ' FOR UPDATE' : ''}`,
    [id, subject.type, subject.id],
  );
  return rows[0];
}

export async function listConversations(tx: Tx, subject: Subject, page: { after: string | null; limit: number }) {
  const { rows } = await tx.query<ConversationRow>(
    `SELECT ${CONVERSATION} FROM assistant_conversations
     WHERE subject_type = $1 AND subject_id = $2 AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4`,
    [subject.type, subject.id, page.after, page.limit + 1],
  );
  return rows;
}

export async function touchConversation(tx: Tx, id: string, patch: { intent: string; handoffReason?: string }) {
  await tx.query(
    `UPDATE assistant_conversations SET last_intent = $2, updated_at = now(),
       handoff_requested_at = CASE WHEN $3::text IS NOT NULL THEN COALESCE(handoff_requested_at, now()) ELSE handoff_requested_at END,
       handoff_reason = COALESCE($3, handoff_reason)
     WHERE id = $1`,
    [id, patch.intent, patch.handoffReason ?? null],
  );
}

export async function deleteConversation(tx: Tx, subject: Subject, id: string): Promise<boolean> {
  const result = await tx.query('DELETE FROM assistant_conversations WHERE id = $1 AND subject_type = $2 AND subject_id = $3', [
    id,
    subject.type,
    subject.id,
  ]);
  return result.rowCount > 0;
}

export type MessageRow = {
  id: string;
  conversation_id: string;
  role: 'user' | 'assistant';
  content: string;
  mode: string | null;
  intent: string | null;
  citations: unknown[];
  degraded_reason: string | null;
  usage: { inputTokens: number; outputTokens: number; totalTokens: number } | null;
  created_at: Date;
};

const MESSAGE = 'id, conversation_id, role, content, mode, intent, citations, degraded_reason, usage, created_at';

export async function insertMessage(
  tx: Tx,
  row: {
    tenantId: string;
    id: string;
    conversationId: string;
    role: 'user' | 'assistant';
    content: string;
    mode?: string | null;
    intent?: string | null;
    citations?: unknown[];
    degradedReason?: string | null;
    usage?: object | null;
  },
) {
  await tx.query(
    `INSERT INTO assistant_messages (tenant_id, id, conversation_id, role, content, mode, intent, citations, degraded_reason, usage)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      row.tenantId,
      row.id,
      row.conversationId,
      row.role,
      row.content,
      row.mode ?? null,
      row.intent ?? null,
      JSON.stringify(row.citations ?? []),
      row.degradedReason ?? null,
      row.usage ? JSON.stringify(row.usage) : null,
    ],
  );
}

export async function listMessages(tx: Tx, conversationId: string, page: { after: string | null; limit: number }) {
  const { rows } = await tx.query<MessageRow>(
    `SELECT ${MESSAGE} FROM assistant_messages WHERE conversation_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3`,
    [conversationId, page.after, page.limit + 1],
  );
  return rows;
}

/** The last `limit` messages, oldest first: the history given to the model. */
export async function recentMessages(tx: Tx, conversationId: string, limit: number) {
  const { rows } = await tx.query<MessageRow>(
    `SELECT * FROM (SELECT ${MESSAGE} FROM assistant_messages WHERE conversation_id = $1 ORDER BY id DESC LIMIT $2) m ORDER BY id`,
    [conversationId, limit],
  );
  return rows;
}

export type MemoryRow = { id: string; content: string; source: 'explicit' | 'tool'; created_at: Date };

export async function insertMemory(
  tx: Tx,
  row: { tenantId: string; id: string; subject: Subject; content: string; source: 'explicit' | 'tool' },
) {
  const { rows } = await tx.query<MemoryRow>(
    `INSERT INTO assistant_memories (tenant_id, id, subject_type, subject_id, content, source) VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING id, content, source, created_at`,
    [row.tenantId, row.id, row.subject.type, row.subject.id, row.content, row.source],
  );
  return rows[0] as MemoryRow;
}

export async function listMemories(tx: Tx, subject: Subject, page: { after: string | null; limit: number }) {
  const { rows } = await tx.query<MemoryRow>(
    `SELECT id, content, source, created_at FROM assistant_memories
     WHERE subject_type = $1 AND subject_id = $2 AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4`,
    [subject.type, subject.id, page.after, page.limit + 1],
  );
  return rows;
}

export async function deleteMemory(tx: Tx, subject: Subject, id: string): Promise<boolean> {
  const result = await tx.query('DELETE FROM assistant_memories WHERE id = $1 AND subject_type = $2 AND subject_id = $3', [
    id,
    subject.type,
    subject.id,
  ]);
  return result.rowCount > 0;
}

export type IntentRow = {
  id: string;
  name: string;
  description: string;
  examples: string[];
  threshold: number;
  created_at: Date;
  updated_at: Date;
};

const INTENT = 'id, name, description, examples, threshold, created_at, updated_at';

export async function listIntents(tx: Tx) {
  const { rows } = await tx.query<IntentRow>(`SELECT ${INTENT} FROM assistant_intents ORDER BY name`);
  return rows;
}

export async function findIntent(tx: Tx, id: string) {
  const { rows } = await tx.query<IntentRow>(`SELECT ${INTENT} FROM assistant_intents WHERE id = $1`, [id]);
  return rows[0];
}

export async function insertIntent(
  tx: Tx,
  row: { tenantId: string; id: string; name: string; description: string; examples: string[]; threshold: number },
) {
  const { rows } = await tx.query<IntentRow>(
    `INSERT INTO assistant_intents (tenant_id, id, name, description, examples, threshold) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (tenant_id, name) DO NOTHING RETURNING ${INTENT}`,
    [row.tenantId, row.id, row.name, row.description, JSON.stringify(row.examples), row.threshold],
  );
  return rows[0];
}

export async function updateIntent(tx: Tx, id: string, patch: { description?: string; examples?: string[]; threshold?: number }) {
  const { rows } = await tx.query<IntentRow>(
    `UPDATE assistant_intents SET description = COALESCE($2, description), examples = COALESCE($3::jsonb, examples),
       threshold = COALESCE($4, threshold), updated_at = now() WHERE id = $1 RETURNING ${INTENT}`,
    [id, patch.description ?? null, patch.examples ? JSON.stringify(patch.examples) : null, patch.threshold ?? null],
  );
  return rows[0];
}

export async function deleteIntent(tx: Tx, id: string): Promise<boolean> {
  const result = await tx.query('DELETE FROM assistant_intents WHERE id = $1', [id]);
  return result.rowCount > 0;
}

export async function listVocabulary(tx: Tx) {
  const { rows } = await tx.query<{ term: string; synonyms: string[] }>('SELECT term, synonyms FROM assistant_vocabulary ORDER BY term');
  return rows;
}

/** Replaces the whole vocabulary (a PUT). */
export async function replaceVocabulary(tx: Tx, tenantId: string, entries: Array<{ term: string; synonyms: string[] }>) {
  await tx.query('DELETE FROM assistant_vocabulary');
  if (entries.length === 0) return;
  await tx.query(
    `INSERT INTO assistant_vocabulary (tenant_id, term, synonyms)
     SELECT $1, x.term, ARRAY(SELECT jsonb_array_elements_text(x.synonyms))
     FROM jsonb_to_recordset($2::jsonb) AS x(term text, synonyms jsonb)`,
    [tenantId, JSON.stringify(entries)],
  );
}
