import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NoContent, NullableTimestamp } from '../../platform/http/schemas.ts';
import { tenantOf } from '../../platform/http/request-context.ts';
import { PROVIDER_KINDS } from './models.ts';
import type { AiService } from './providers.service.ts';
import type { ProviderRow } from './providers.repo.ts';

const Kind = Type.Unsafe<(typeof PROVIDER_KINDS)[number]>({
  type: 'string',
  enum: [...PROVIDER_KINDS],
  description: 'openai, anthropic, google, or any OpenAI-compatible server (Ollama, vLLM) at baseUrl',
});

const ModelName = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:/@+-]+$' });

export const Provider = Type.Object({
  configured: Type.Boolean({ description: 'false: no provider; the assistant gives extractive answers and retrieval is full-text only' }),
  kind: Type.Union([Kind, Type.Null()]),
  baseUrl: Type.Union([Type.String(), Type.Null()]),
  chatModel: Type.Union([Type.String(), Type.Null()]),
  embeddingModel: Type.Union([Type.String(), Type.Null()]),
  toolCalls: Type.Boolean({ description: 'The model is offered tools (saving a memory)' }),
  hasApiKey: Type.Boolean(),
  apiKeyHint: Type.Union([Type.String(), Type.Null()], {
    description: 'The last four characters of the key; the key itself is never returned',
  }),
  updatedAt: NullableTimestamp,
});

export const PutProviderBody = Type.Object(
  {
    kind: Kind,
    baseUrl: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 500 }), Type.Null()], {
        description: 'Required for openai-compatible (e.g. http://ollama:11434/v1); optional for the others (a proxy)',
      }),
    ),
    chatModel: ModelName,
    embeddingModel: Type.Optional(
      Type.Union([ModelName, Type.Null()], { description: 'Not for anthropic. Without it, retrieval is full-text only' }),
    ),
    toolCalls: Type.Optional(
      Type.Boolean({ description: 'Offer the model tools (saving a memory). Default: true, except for openai-compatible servers' }),
    ),
    apiKey: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 500 }), Type.Null()], {
        description: 'Stored encrypted under the master key and never returned. Absent: keep the stored key',
      }),
    ),
  },
  { additionalProperties: false },
);

export function toProviderView(row: ProviderRow | undefined) {
  return {
    configured: Boolean(row),
    kind: row?.kind ?? null,
    baseUrl: row?.base_url ?? null,
    chatModel: row?.chat_model ?? null,
    embeddingModel: row?.embedding_model ?? null,
    toolCalls: row?.tool_calls ?? false,
    hasApiKey: Boolean(row?.api_key_sealed),
    apiKeyHint: row?.key_hint ?? null,
    updatedAt: row?.updated_at.toISOString() ?? null,
  };
}

export const aiRoutes =
  (ai: AiService): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['assistant'];
    const manage = { auth: { kind: 'tenant' as const, permission: 'assistant.manage' as const } };

    app.get(
      '/v1/ai/provider',
      {
        config: manage,
        schema: { tags, summary: 'The AI provider of the tenant (the key is never returned)', response: { 200: Provider } },
      },
      async (request) => toProviderView(await ai.get(tenantOf(request))),
    );

    app.put(
      '/v1/ai/provider',
      {
        config: manage,
        schema: {
          tags,
          summary: 'Set the AI provider: kind, models, base URL and API key (encrypted at rest)',
          body: PutProviderBody,
          response: { 200: Provider },
        },
      },
      async (request) => toProviderView(await ai.put(tenantOf(request), request.body)),
    );

    app.delete(
      '/v1/ai/provider',
      {
        config: manage,
        schema: { tags, summary: 'Remove the AI provider and its key; the assistant becomes extractive', response: { 204: NoContent } },
      },
      async (request, reply) => {
        await ai.remove(tenantOf(request));
        reply.code(204);
      },
    );
  };
