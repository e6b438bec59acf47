import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { IdParams, NoContent } from '../../platform/http/schemas.ts';
import { tenantOf, tenantPrincipal } from '../../platform/http/request-context.ts';
import { messageLocaleOf, negotiateLocale } from '../../platform/i18n.ts';
import { decodeCursor, Page, PaginationQuery, toPage } from '../../platform/pagination.ts';
import type { LocalizationService } from '../localization/index.ts';
import type { ConversationRow, IntentRow, MemoryRow, MessageRow } from './assistant.repo.ts';
import {
  ChatBody,
  ChatStream,
  Conversation,
  CreateIntentBody,
  Intent,
  IntentTestBody,
  IntentTestResult,
  Memory,
  Message,
  PutVocabularyBody,
  UpdateIntentBody,
  Vocabulary,
} from './assistant.schemas.ts';
import type { AssistantService, ChatEvent, LanguageHints } from './assistant.service.ts';
import { BUILTIN_DEFINITIONS } from './intents.ts';

const toConversation = (row: ConversationRow) => ({
  id: row.id,
  title: row.title,
  lastIntent: row.last_intent,
  handoffRequestedAt: row.handoff_requested_at?.toISOString() ?? null,
  handoffReason: row.handoff_reason,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const toMessage = (row: MessageRow) => ({
  id: row.id,
  role: row.role,
  content: row.content,
  mode: row.mode,
  intent: row.intent,
  citations: row.citations as never[],
  degradedReason: row.degraded_reason,
  usage: row.usage,
  createdAt: row.created_at.toISOString(),
});

const toMemory = (row: MemoryRow) => ({ id: row.id, content: row.content, source: row.source, createdAt: row.created_at.toISOString() });

const toIntent = (row: IntentRow) => ({
  id: row.id,
  name: row.name,
  description: row.description,
  examples: row.examples,
  threshold: row.threshold,
  builtin: false,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const BUILTIN_VIEWS = BUILTIN_DEFINITIONS.map((d) => ({ ...d, id: null, createdAt: null, updatedAt: null }));

/** One server-sent event. JSON never contains a raw newline, so one `data:` line suffices. */
const frame = (e: ChatEvent) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;

export const assistantRoutes =
  (deps: { assistant: AssistantService; localization: LocalizationService }): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { assistant } = deps;
    const tags = ['assistant'];
    const use = { auth: { kind: 'tenant' as const, permission: 'assistant.use' as const } };
    const manage = { auth: { kind: 'tenant' as const, permission: 'assistant.manage' as const } };

    /** The caller's language settings: the user's locale, Accept-Language, the tenant's locale. */
    async function languageHints(request: FastifyRequest): Promise<LanguageHints> {
      const prefs = await deps.localization.preferences(tenantPrincipal(request));
      return {
        user: messageLocaleOf(prefs.user?.locale),
        header: negotiateLocale(request.headers['accept-language']),
        tenant: messageLocaleOf(prefs.tenant.locale),
      };
    }

    app.post(
      '/v1/assistant/chat',
      {
        config: use,
        schema: {
          tags,
          summary: 'Ask the assistant; the answer streams as server-sent events with citations',
          description:
            'Without an AI provider, or when the provider fails or times out, the answer is extractive (quoted from the best passages) and says so. Refused with 429 quota_exceeded when the monthly LLM token quota is used up.',
          body: ChatBody,
          response: {
            200: { description: 'The answer as server-sent events', content: { 'text/event-stream': { schema: ChatStream } } },
          },
        },
      },
      async (request, reply) => {
        const principal = tenantPrincipal(request);
        const events = await assistant.chat(principal, request.body, await languageHints(request));
        const log = request.log;
        async function* sse() {
          try {
            for await (const event of events) yield frame(event);
          } catch (error) {
            // The stream has begun: the status is sent, so the failure is an event without internals.
            log.error({ err: error }, 'assistant answer failed');
            yield frame({ event: 'error', data: { code: 'internal_error', message: 'The assistant could not finish the answer' } });
          }
        }
        reply.header('content-type', 'text/event-stream; charset=utf-8');
        reply.header('x-accel-buffering', 'no');
        // A stream is piped as it is, never serialised against the schema (which documents it for OpenAPI).
        return reply.send(Readable.from(sse()) as unknown as string);
      },
    );

    app.get(
      '/v1/assistant/conversations',
      {
        config: use,
        schema: {
          tags,
          summary: 'Your conversations with the assistant',
          querystring: Type.Object(PaginationQuery),
          response: { 200: Page(Conversation) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await assistant.listConversations(tenantPrincipal(request), { after: decodeCursor(request.query.cursor), limit });
        const page = toPage(rows, limit);
        return { data: page.data.map(toConversation), nextCursor: page.nextCursor };
      },
    );

    app.get(
      '/v1/assistant/conversations/:id',
      { config: use, schema: { tags, summary: 'One of your conversations', params: IdParams, response: { 200: Conversation } } },
      async (request) => toConversation(await assistant.getConversation(tenantPrincipal(request), request.params.id)),
    );

    app.get(
      '/v1/assistant/conversations/:id/messages',
      {
        config: use,
        schema: {
          tags,
          summary: 'The messages of one of your conversations, oldest first',
          params: IdParams,
          querystring: Type.Object(PaginationQuery),
          response: { 200: Page(Message) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await assistant.listMessages(tenantPrincipal(request), request.params.id, {
          after: decodeCursor(request.query.cursor),
          limit,
        });
        const page = toPage(rows, limit);
        return { data: page.data.map(toMessage), nextCursor: page.nextCursor };
      },
    );

    app.delete(
      '/v1/assistant/conversations/:id',
      {
        config: use,
        schema: { tags, summary: 'Delete one of your conversations and its messages', params: IdParams, response: { 204: NoContent } },
      },
      async (request, reply) => {
        await assistant.deleteConversation(tenantPrincipal(request), request.params.id);
        reply.code(204);
      },
    );

    app.get(
      '/v1/assistant/memories',
      {
        config: use,
        schema: {
          tags,
          summary: 'What the assistant remembers about you (facts you asked it to remember)',
          querystring: Type.Object(PaginationQuery),
          response: { 200: Page(Memory) },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 50;
        const rows = await assistant.listMemories(tenantPrincipal(request), { after: decodeCursor(request.query.cursor), limit });
        const page = toPage(rows, limit);
        return { data: page.data.map(toMemory), nextCursor: page.nextCursor };
      },
    );

    app.delete(
      '/v1/assistant/memories/:id',
      { config: use, schema: { tags, summary: 'Make the assistant forget a fact', params: IdParams, response: { 204: NoContent } } },
      async (request, reply) => {
        await assistant.deleteMemory(tenantPrincipal(request), request.params.id);
        reply.code(204);
      },
    );

    app.get(
      '/v1/assistant/intents',
      {
        config: manage,
        schema: {
          tags,
          summary: 'The built-in intents and the tenant’s own',
          response: { 200: Type.Object({ data: Type.Array(Intent) }) },
        },
      },
      async (request) => ({ data: [...BUILTIN_VIEWS, ...(await assistant.listIntents(tenantOf(request))).map(toIntent)] }),
    );

    app.post(
      '/v1/assistant/intents',
      {
        config: manage,
        schema: { tags, summary: 'Define an intent by examples and a threshold', body: CreateIntentBody, response: { 201: Intent } },
      },
      async (request, reply) => {
        const row = await assistant.createIntent(tenantOf(request), request.body);
        reply.code(201);
        return toIntent(row);
      },
    );

    app.get(
      '/v1/assistant/intents/:id',
      { config: manage, schema: { tags, summary: 'One of the tenant’s intents', params: IdParams, response: { 200: Intent } } },
      async (request) => toIntent(await assistant.getIntent(tenantOf(request), request.params.id)),
    );

    app.patch(
      '/v1/assistant/intents/:id',
      {
        config: manage,
        schema: {
          tags,
          summary: 'Change an intent’s description, examples or threshold',
          params: IdParams,
          body: UpdateIntentBody,
          response: { 200: Intent },
        },
      },
      async (request) => toIntent(await assistant.updateIntent(tenantOf(request), request.params.id, request.body)),
    );

    app.delete(
      '/v1/assistant/intents/:id',
      { config: manage, schema: { tags, summary: 'Delete an intent', params: IdParams, response: { 204: NoContent } } },
      async (request, reply) => {
        await assistant.deleteIntent(tenantOf(request), request.params.id);
        reply.code(204);
      },
    );

    app.post(
      '/v1/assistant/intents/test',
      {
        config: manage,
        schema: {
          tags,
          summary: 'Classify a text: the score of every intent, the chosen one, and the expanded retrieval query',
          body: IntentTestBody,
          response: { 200: IntentTestResult },
        },
      },
      async (request) => assistant.testIntents(tenantOf(request), request.body.text),
    );

    app.get(
      '/v1/assistant/vocabulary',
      { config: manage, schema: { tags, summary: 'The domain vocabulary: terms and their synonyms', response: { 200: Vocabulary } } },
      async (request) => ({ entries: await assistant.getVocabulary(tenantOf(request)) }),
    );

    app.put(
      '/v1/assistant/vocabulary',
      {
        config: manage,
        schema: {
          tags,
          summary: 'Replace the domain vocabulary (used to expand queries before retrieval)',
          body: PutVocabularyBody,
          response: { 200: Vocabulary },
        },
      },
      async (request) => ({ entries: await assistant.putVocabulary(tenantOf(request), request.body.entries) }),
    );
  };
