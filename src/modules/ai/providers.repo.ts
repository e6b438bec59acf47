import type { Tx } from '../../platform/db/database.ts';
import type { ProviderKind } from './models.ts';

export type ProviderRow = {
  kind: ProviderKind;
  base_url: string | null;
  chat_model: string;
  embedding_model: string | null;
  tool_calls: boolean;
  api_key_sealed: string | null;
  key_hint: string | null;
  created_at: Date;
  updated_at: Date;
};

const COLUMNS = 'kind, base_url, chat_model, embedding_model, tool_calls, api_key_sealed, key_hint, created_at, updated_at';

export async function findProvider(tx: Tx): Promise<ProviderRow | undefined> {
  const { rows } = await tx.query<ProviderRow>(`SELECT ${COLUMNS} FROM ai_providers`);
  return rows[0];
}

export async function upsertProvider(
  tx: Tx,
  row: {
    tenantId: string;
    kind: ProviderKind;
    baseUrl: string | null;
    chatModel: string;
    embeddingModel: string | null;
    toolCalls: boolean;
    /** undefined keeps the stored key (a change of model without re-entering the key). */
    apiKeySealed: string | null | undefined;
    keyHint: string | null | undefined;
  },
): Promise<ProviderRow> {
  const keep = row.apiKeySealed === undefined;
  const { rows } = await tx.query<ProviderRow>(
    `INSERT INTO ai_providers (tenant_id, kind, base_url, chat_model, embedding_model, api_key_sealed, key_hint, tool_calls)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $9)
     ON CONFLICT (tenant_id) DO UPDATE SET
       kind = EXCLUDED.kind, base_url = EXCLUDED.base_url, chat_model = EXCLUDED.chat_model,
       embedding_model = EXCLUDED.embedding_model, tool_calls = EXCLUDED.tool_calls,
       api_key_sealed = CASE WHEN $8 THEN ai_providers.api_key_sealed ELSE EXCLUDED.api_key_sealed END,
       key_hint = CASE WHEN $8 THEN ai_providers.key_hint ELSE EXCLUDED.key_hint END,
       updated_at = now()
     RETURNING ${COLUMNS}`,
    [
      row.tenantId,
      row.kind,
      row.baseUrl,
      row.chatModel,
      row.embeddingModel,
      row.apiKeySealed ?? null,
      row.keyHint ?? null,
      keep,
      row.toolCalls,
    ],
  );
  return rows[0] as ProviderRow;
}

export async function deleteProvider(tx: Tx): Promise<boolean> {
  const result = await tx.query('DELETE FROM ai_providers');
  return result.rowCount > 0;
}
