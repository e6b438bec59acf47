/**
 * The assistant through the API: extractive answers without a provider, streamed answers through
 * the real OpenAI-compatible client against a fake server on loopback, degradation on timeout and
 * error, token metering and the LLM quota, provider keys sealed at rest, memory, conversations and
 * their isolation between users and tenants, intents and the domain vocabulary.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { decrypt } from '../../src/platform/crypto.ts';
import { createTestContext, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { createMemoryRetriever, eventOf, parseSse, startFakeOpenAI, textOf } from './support.ts';

let ctx: TestContext;
let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
const memory = createMemoryRetriever();
// Generous: the machine is shared, and a slow first token under load must not look like a timeout.
const TIMEOUT_MS = 1500;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  ctx = await createTestContext({
    config: { aiTimeoutMs: TIMEOUT_MS, aiAllowPrivateUrls: true },
    build: { retriever: memory.retriever },
  });
});

afterAll(async () => {
  await ctx?.close();
  await fake?.close();
});

beforeEach(() => {
  fake.reset();
  memory.queries.length = 0;
});

type Auth = { authorization: string };

async function chat(auth: Auth, payload: object, headers: Record<string, string> = {}) {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/assistant/chat', headers: { ...auth, ...headers }, payload });
  return { res, events: res.statusCode === 200 ? parseSse(res.body) : [] };
}

async function useFakeProvider(tenant: TestTenant, extra: object = {}) {
  const res = await ctx.app.inject({
    method: 'PUT',
    url: '/v1/ai/provider',
    headers: tenant.auth,
    payload: { kind: 'openai-compatible', baseUrl: fake.baseUrl, chatModel: 'fake-chat', apiKey: 'sk-fake-key-abcd1234', ...extra },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res;
}

async function usageOf(tenant: TestTenant, metric: string): Promise<number> {
  const res = await ctx.app.inject({ method: 'GET', url: '/v1/usage', headers: tenant.auth });
  expect(res.statusCode).toBe(200);
  const body = res.json();
  const items = (Array.isArray(body) ? body : (body.data ?? body.metrics ?? body.items)) as Array<{ metric: string; used: number }>;
  return items.find((i) => i.metric === metric)?.used ?? 0;
}

describe('without a provider: extractive answers', () => {
  it('answers from the best passages with citations, marked extractive, and keeps the conversation', async () => {
    const tenant = await ctx.tenant();
    const { res, events } = await chat(tenant.auth, { message: 'What is the refund policy?' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(events.map((e) => e.event)).toEqual(['meta', 'delta', 'citations', 'done']);
    const meta = eventOf(events, 'meta');
    expect(meta.mode).toBe('extractive');
    expect(meta.intent).toBe('question');
    expect(meta.language).toBe('en');
    expect(meta.degradedReason).toBeUndefined();
    const text = textOf(events);
    expect(text).toContain('extractive answer');
    expect(text).toContain('Refunds are granted within 30 days of purchase. [1]'.replace(' [1]', ''));
    expect(text).toMatch(/\[1\]/);
    const citations = eventOf(events, 'citations').citations as Array<Record<string, unknown>>;
    expect(citations[0]).toMatchObject({
      index: 1,
      chunkId: 'c-refund',
      documentId: 'd-policies',
      title: 'Policies.md',
      start: 0,
      end: 118,
    });
    expect(eventOf(events, 'done').usage).toEqual({ inputTokens: 0, outputTokens: 0, totalTokens: 0 });
    expect(memory.queries.at(-1)).toMatchObject({ tenantId: tenant.id, query: 'What is the refund policy?', topK: 8 });

    const conversationId = meta.conversationId as string;
    const list = await ctx.app.inject({ method: 'GET', url: '/v1/assistant/conversations', headers: tenant.auth });
    expect(list.json().data.map((c: { id: string }) => c.id)).toEqual([conversationId]);
    const messages = await ctx.app.inject({
      method: 'GET',
      url: `/v1/assistant/conversations/${conversationId}/messages`,
      headers: tenant.auth,
    });
    const rows = messages.json().data;
    expect(rows.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect(rows[1]).toMatchObject({ mode: 'extractive', content: text, id: meta.messageId });
    expect(rows[1].citations[0].chunkId).toBe('c-refund');
    // Answering counts as one message for metering; no tokens without a provider.
    expect(await usageOf(tenant, 'messages')).toBe(1);
    expect(await usageOf(tenant, 'llm_tokens')).toBe(0);
  });

  it("answers in the user's language: Italian text, or Accept-Language for an ambiguous message", async () => {
    const tenant = await ctx.tenant();
    const it1 = await chat(tenant.auth, { message: 'Qual è la politica per i rimborsi?' });
    expect(eventOf(it1.events, 'meta').language).toBe('it');
    expect(textOf(it1.events)).toContain('Ecco cosa ho trovato');
    expect((eventOf(it1.events, 'citations').citations as Array<{ chunkId: string }>)[0]?.chunkId).toBe('c-rimborso');
    const it2 = await chat(tenant.auth, { message: 'rimborsi' }, { 'accept-language': 'it-IT,it;q=0.9' });
    expect(eventOf(it2.events, 'meta').language).toBe('it');
    const none = await chat(tenant.auth, { message: 'zzqx' }, { 'accept-language': 'it' });
    expect(textOf(none.events)).toContain('Non ho trovato nulla');
    // The tenant's locale, unless the configuration sets assistant.language.
    const locale = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/tenant/localization',
      headers: tenant.auth,
      payload: { locale: 'it', timezone: 'Europe/Rome' },
    });
    expect(locale.statusCode).toBe(200);
    const byTenant = await chat(tenant.auth, { message: 'zzqx' });
    expect(eventOf(byTenant.events, 'meta').language).toBe('it');
    const configured = await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/config',
      headers: { ...tenant.auth, 'if-match': '*' },
      payload: { assistant: { language: 'en' } },
    });
    expect(configured.statusCode, configured.body).toBe(200);
    const byConfig = await chat(tenant.auth, { message: 'zzqx' });
    expect(eventOf(byConfig.events, 'meta').language).toBe('en');
    // The user's own locale comes first.
    await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: tenant.auth, payload: { locale: 'it-IT' } });
    const byUser = await chat(tenant.auth, { message: 'zzqx' });
    expect(eventOf(byUser.events, 'meta').language).toBe('it');
  });

  it('refuses bad input before streaming, never with a 500', async () => {
    const tenant = await ctx.tenant();
    for (const payload of [{}, { message: '' }, { message: 'hi', extra: 1 }, { message: 42 }, { message: 'x'.repeat(8001) }]) {
      const { res } = await chat(tenant.auth, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const blank = await chat(tenant.auth, { message: '   ' });
    expect(blank.res.statusCode).toBe(400);
    // Characters PostgreSQL cannot store (T40): refused as bad input, never a 500.
    for (const message of ['nul \u0000 byte', 'remember that \u0000', 'lone \uD800 surrogate']) {
      const { res } = await chat(tenant.auth, { message });
      expect(res.statusCode, JSON.stringify(message)).toBeLessThan(500);
    }
    for (const examples of [['nul \u0000'], ['lone \uD800']]) {
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/v1/assistant/intents',
        headers: tenant.auth,
        payload: { name: 'weird', examples },
      });
      expect(res.statusCode, JSON.stringify(examples)).toBeLessThan(500);
      if (res.statusCode === 201)
        await ctx.app.inject({ method: 'DELETE', url: `/v1/assistant/intents/${res.json().id}`, headers: tenant.auth });
    }
    for (const conversationId of ['x', '00000000-0000-7000-8000-000000000000']) {
      const { res } = await chat(tenant.auth, { message: 'hello', conversationId });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('not_found');
    }
  });
});

describe('provider configuration', () => {
  it('never returns the key, stores it sealed under the master key, and refuses bad settings', async () => {
    const tenant = await ctx.tenant();
    const empty = await ctx.app.inject({ method: 'GET', url: '/v1/ai/provider', headers: tenant.auth });
    expect(empty.json()).toMatchObject({ configured: false, hasApiKey: false, apiKeyHint: null });
    const put = await useFakeProvider(tenant, { embeddingModel: 'fake-embed' });
    expect(put.body).not.toContain('sk-fake-key-abcd1234');
    expect(put.json()).toMatchObject({ configured: true, kind: 'openai-compatible', hasApiKey: true, apiKeyHint: '…1234' });
    const get = await ctx.app.inject({ method: 'GET', url: '/v1/ai/provider', headers: tenant.auth });
    expect(get.body).not.toContain('sk-fake-key');
    const stored = await ctx.db.withOwner(async (tx) => {
      const { rows } = await tx.query<{ api_key_sealed: string }>('SELECT api_key_sealed FROM ai_providers WHERE tenant_id = $1', [
        tenant.id,
      ]);
      return rows[0]?.api_key_sealed as string;
    });
    expect(stored).toMatch(/^v1\./);
    expect(stored).not.toContain('sk-fake');
    expect(decrypt(testMasterKey(), stored, `ai_provider:${tenant.id}`)).toBe('sk-fake-key-abcd1234');
    // Bound to the tenant: the same ciphertext does not open as another tenant's.
    expect(() => decrypt(testMasterKey(), stored, 'ai_provider:00000000-0000-7000-8000-000000000000')).toThrow();
    // A change of model without the key keeps the key.
    const keep = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/ai/provider',
      headers: tenant.auth,
      payload: { kind: 'openai-compatible', baseUrl: fake.baseUrl, chatModel: 'other-model' },
    });
    expect(keep.json()).toMatchObject({ chatModel: 'other-model', apiKeyHint: '…1234', embeddingModel: null });

    const bad = [
      { kind: 'anthropic', chatModel: 'claude', embeddingModel: 'x', apiKey: 'k' },
      { kind: 'openai-compatible', chatModel: 'm' },
      { kind: 'openai-compatible', chatModel: 'm', baseUrl: 'ftp://example.com' },
      { kind: 'openai-compatible', chatModel: 'm', baseUrl: 'not a url' },
      { kind: 'openai', chatModel: 'gpt' },
      { kind: 'mistral', chatModel: 'm', apiKey: 'k' },
      { kind: 'openai', chatModel: 'has spaces', apiKey: 'k' },
    ];
    for (const payload of bad) {
      const res = await ctx.app.inject({ method: 'PUT', url: '/v1/ai/provider', headers: tenant.auth, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const del = await ctx.app.inject({ method: 'DELETE', url: '/v1/ai/provider', headers: tenant.auth });
    expect(del.statusCode).toBe(204);
    const after = await ctx.app.inject({ method: 'GET', url: '/v1/ai/provider', headers: tenant.auth });
    expect(after.json().configured).toBe(false);
  });

  it('refuses a base URL on loopback or a private network unless the installation allows it', async () => {
    // The same database, a second app configured strictly (as a shared installation should be).
    const strict = await createTestContext({ db: ctx.db, config: { aiAllowPrivateUrls: false } });
    try {
      const tenant = await strict.tenant();
      for (const baseUrl of [
        'http://127.0.0.1:11434/v1',
        'http://10.1.2.3/v1',
        'http://[::1]:8000/v1',
        'http://169.254.169.254/latest',
        'http://localhost:1/v1',
      ]) {
        const res = await strict.app.inject({
          method: 'PUT',
          url: '/v1/ai/provider',
          headers: tenant.auth,
          payload: { kind: 'openai-compatible', baseUrl, chatModel: 'm' },
        });
        expect(res.statusCode, baseUrl).toBe(400);
        expect(res.json().code).toBe('validation_failed');
      }
      // Checked again when sending: a provider stored while allowed (or whose DNS changed since) is
      // not reached; the answer degrades and the loopback server receives nothing.
      const stored = await ctx.tenant();
      await useFakeProvider(stored);
      const res = await strict.app.inject({
        method: 'POST',
        url: '/v1/assistant/chat',
        headers: stored.auth,
        payload: { message: 'What is the refund policy?' },
      });
      expect(eventOf(parseSse(res.body), 'meta')).toMatchObject({ mode: 'extractive', degradedReason: 'provider_blocked' });
      expect(fake.requests).toEqual([]);
    } finally {
      await strict.close();
    }
  });
});

function testMasterKey(): Buffer {
  return Buffer.from(inject('testMasterKey'), 'base64');
}

describe('with the fake OpenAI-compatible provider', () => {
  it('streams the answer over real HTTP with citations, meters the tokens and sends the key, passages and language to the model', async () => {
    const tenant = await ctx.tenant();
    await useFakeProvider(tenant);
    await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = ctx.app.server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/v1/assistant/chat`, {
      method: 'POST',
      headers: { ...tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'What is the refund policy?' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    // Read the body as it arrives, chunk by chunk, as a browser's EventSource would.
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let body = '';
    let reads = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      reads++;
      body += decoder.decode(value, { stream: true });
    }
    expect(reads).toBeGreaterThan(0);
    const events = parseSse(body);
    expect(events[0]?.event).toBe('meta');
    expect(events.filter((e) => e.event === 'delta').length).toBe(2);
    expect(events.slice(-2).map((e) => e.event)).toEqual(['citations', 'done']);
    expect(eventOf(events, 'meta')).toMatchObject({ mode: 'generative', intent: 'question', language: 'en' });
    expect(textOf(events)).toBe('Refunds are granted within 30 days [1].');
    const citations = eventOf(events, 'citations').citations as Array<{ index: number; chunkId: string }>;
    expect(citations.map((c) => c.chunkId)).toEqual(['c-refund']);
    expect(eventOf(events, 'done').usage).toEqual({ inputTokens: 40, outputTokens: 12, totalTokens: 52 });

    const call = fake.requests.find((r) => r.path === '/v1/chat/completions');
    expect(call?.authorization).toBe('Bearer sk-fake-key-abcd1234');
    expect(call?.body.model).toBe('fake-chat');
    expect(call?.body.stream).toBe(true);
    // OpenAI-compatible servers get no tool definitions unless toolCalls is set (many refuse them).
    expect(call?.body.tools).toBeUndefined();
    const system = call?.body.messages[0];
    expect(system.role).toBe('system');
    expect(system.content).toContain('Always answer in English');
    expect(system.content).toContain('[1] Policies.md');
    expect(system.content).toContain('Refunds are granted within 30 days of purchase');
    expect(call?.body.messages.at(-1)).toEqual({ role: 'user', content: 'What is the refund policy?' });

    expect(await usageOf(tenant, 'llm_tokens')).toBe(52);
    const messages = await ctx.app.inject({
      method: 'GET',
      url: `/v1/assistant/conversations/${eventOf(events, 'meta').conversationId}/messages`,
      headers: tenant.auth,
    });
    expect(messages.json().data[1]).toMatchObject({
      mode: 'generative',
      content: 'Refunds are granted within 30 days [1].',
      usage: { totalTokens: 52 },
    });

    // The next turn of the same conversation carries the history to the model.
    fake.requests.length = 0;
    const next = await chat(tenant.auth, { message: 'And for opened software?', conversationId: eventOf(events, 'meta').conversationId });
    expect(next.res.statusCode).toBe(200);
    const roles = fake.requests[0]?.body.messages.map((m: { role: string }) => m.role);
    expect(roles).toEqual(['system', 'user', 'assistant', 'user']);
  });

  it('degrades to the extractive answer when the provider times out, and says why', async () => {
    const tenant = await ctx.tenant();
    await useFakeProvider(tenant);
    fake.behaviour.mode = 'slow';
    fake.behaviour.delayMs = TIMEOUT_MS * 3;
    const started = Date.now();
    const { res, events } = await chat(tenant.auth, { message: 'What is the refund policy?' });
    expect(res.statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 3);
    expect(eventOf(events, 'meta')).toMatchObject({ mode: 'extractive', degradedReason: 'provider_timeout' });
    expect(textOf(events)).toContain('did not answer in time');
    expect(textOf(events)).toContain('Refunds are granted within 30 days of purchase.');
    expect(eventOf(events, 'done')).toMatchObject({ degradedReason: 'provider_timeout', usage: { totalTokens: 0 } });
    expect(await usageOf(tenant, 'llm_tokens')).toBe(0);
  });

  it('degrades when the provider answers with an error, without leaking its message', async () => {
    const tenant = await ctx.tenant();
    await useFakeProvider(tenant);
    fake.behaviour.mode = 'error';
    fake.behaviour.status = 500;
    const { res, events } = await chat(tenant.auth, { message: 'Quando è aperto l’ufficio?' }, { 'accept-language': 'it' });
    expect(res.statusCode).toBe(200);
    expect(eventOf(events, 'meta')).toMatchObject({ mode: 'extractive', degradedReason: 'provider_error', language: 'it' });
    expect(textOf(events)).toContain('il fornitore ha restituito un errore');
    expect(res.body).not.toContain('10.0.0.7');
    expect(res.body).not.toContain('internal secret');
    // An unreachable provider too.
    await useFakeProvider(tenant, { baseUrl: 'http://127.0.0.1:9/v1' });
    const down = await chat(tenant.auth, { message: 'What is the refund policy?' });
    expect(eventOf(down.events, 'meta')).toMatchObject({ mode: 'extractive', degradedReason: 'provider_unreachable' });
  });

  it('keeps a partial answer cut by the provider and reports it with an error event', async () => {
    const tenant = await ctx.tenant();
    await useFakeProvider(tenant);
    fake.behaviour.mode = 'cut';
    const { res, events } = await chat(tenant.auth, { message: 'What is the refund policy?' });
    expect(res.statusCode).toBe(200);
    expect(eventOf(events, 'meta').mode).toBe('generative');
    expect(textOf(events)).toBe('Refunds are granted ');
    expect(eventOf(events, 'error')).toMatchObject({ code: expect.stringMatching(/^provider_/) });
    expect(eventOf(events, 'done').degradedReason).toMatch(/^provider_/);
  });

  it('refuses with 429 quota_exceeded once the monthly LLM token quota is used up', async () => {
    const tenant = await ctx.tenant({ tier: 'custom', customLimits: { llmTokensPerMonth: 50 } });
    await useFakeProvider(tenant);
    const first = await chat(tenant.auth, { message: 'What is the refund policy?' });
    expect(eventOf(first.events, 'done').usage.totalTokens, first.res.body).toBe(52);
    const second = await chat(tenant.auth, { message: 'What is the refund policy?' });
    expect(second.res.statusCode).toBe(429);
    expect(second.res.json()).toMatchObject({ code: 'quota_exceeded', metric: 'llm_tokens', limit: 50 });
    // Without a provider the extractive assistant still answers: the quota is on LLM tokens.
    await ctx.app.inject({ method: 'DELETE', url: '/v1/ai/provider', headers: tenant.auth });
    const third = await chat(tenant.auth, { message: 'What is the refund policy?' });
    expect(third.res.statusCode).toBe(200);
    expect(eventOf(third.events, 'meta').mode).toBe('extractive');
  });

  it('classifies intents by embeddings when the provider has an embedding model, metering embedding tokens', async () => {
    const tenant = await ctx.tenant();
    await useFakeProvider(tenant, { embeddingModel: 'fake-embed' });
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/assistant/intents/test',
      headers: tenant.auth,
      payload: { text: 'hello' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ method: 'embedding', intent: 'greeting' });
    expect(fake.requests.some((r) => r.path === '/v1/embeddings' && r.authorization === 'Bearer sk-fake-key-abcd1234')).toBe(true);
    expect(await usageOf(tenant, 'embedding_tokens')).toBeGreaterThan(0);
    // The embedder is the port the knowledge module uses: batched vectors with their model and dimensions.
    const texts = Array.from({ length: 150 }, (_, i) => `document chunk number ${i}`);
    fake.requests.length = 0;
    const out = await ctx.palazzo.services.ai.embedder.embed(tenant.id, texts, 'document');
    expect(out).toMatchObject({ model: 'fake-embed', dimensions: 64 });
    expect(out?.vectors).toHaveLength(150);
    expect(fake.requests.filter((r) => r.path === '/v1/embeddings').map((r) => r.body.input.length)).toEqual([64, 64, 22]);
    const other = await ctx.tenant();
    expect(await ctx.palazzo.services.ai.embedder.embed(other.id, ['x'], 'query')).toBeNull();
  });
});

describe('memory saved by the model', () => {
  it('offers the remember tool when toolCalls is on, saves what the model calls it with, and answers in a second step', async () => {
    const tenant = await ctx.tenant();
    const put = await useFakeProvider(tenant, { toolCalls: true });
    expect(put.json().toolCalls).toBe(true);
    fake.behaviour.toolFact = 'prefers to be contacted by email';
    fake.behaviour.chunks = ['Noted: ', 'email it is.'];
    const { res, events } = await chat(tenant.auth, { message: 'By the way, I prefer being contacted by email.' });
    expect(res.statusCode).toBe(200);
    expect(eventOf(events, 'meta').mode).toBe('generative');
    expect(textOf(events)).toBe('Noted: email it is.');
    const done = eventOf(events, 'done');
    expect(done.memorySaved).toMatchObject({ content: 'prefers to be contacted by email' });
    // Two model calls (the tool call, then the answer), both metered.
    const calls = fake.requests.filter((r) => r.path === '/v1/chat/completions');
    expect(calls).toHaveLength(2);
    expect(calls[0]?.body.tools.map((t: { function: { name: string } }) => t.function.name)).toEqual(['remember']);
    expect(calls[1]?.body.messages.at(-1).role).toBe('tool');
    expect(done.usage.totalTokens).toBe(104);
    expect(await usageOf(tenant, 'llm_tokens')).toBe(104);
    const memories = await ctx.app.inject({ method: 'GET', url: '/v1/assistant/memories', headers: tenant.auth });
    expect(memories.json().data).toMatchObject([{ content: 'prefers to be contacted by email', source: 'tool' }]);
  });

  it('degrades instead of failing when the stored key cannot be opened (a different master key)', async () => {
    const tenant = await ctx.tenant();
    await useFakeProvider(tenant);
    await ctx.db.withOwner((tx) =>
      tx.query(`UPDATE ai_providers SET api_key_sealed = 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA' WHERE tenant_id = $1`, [
        tenant.id,
      ]),
    );
    const { res, events } = await chat(tenant.auth, { message: 'What is the refund policy?' });
    expect(res.statusCode).toBe(200);
    // No key could be opened, so none is sent (a real provider then refuses and the answer degrades);
    // the request itself does not fail.
    expect(fake.requests[0]?.path).toBe('/v1/chat/completions');
    expect(fake.requests[0]?.authorization).toBeUndefined();
    expect(eventOf(events, 'done')).toBeDefined();
  });
});

describe('memory and conversations belong to their user', () => {
  it('saves "remember that …", uses it in answers, lists and deletes it, and shows it to nobody else', async () => {
    const tenant = await ctx.tenant();
    const colleague = await ctx.user(tenant, 'member');
    const other = await ctx.tenant();
    const saved = await chat(tenant.auth, { message: 'Remember that my favourite colour is green.' });
    expect(eventOf(saved.events, 'meta')).toMatchObject({ mode: 'scripted', intent: 'memory' });
    expect(eventOf(saved.events, 'done').memorySaved).toMatchObject({ content: 'my favourite colour is green' });
    const it1 = await chat(tenant.auth, { message: 'Ricorda che il mio ufficio è a Torino' });
    expect(textOf(it1.events)).toContain('Lo ricorderò');

    const list = await ctx.app.inject({ method: 'GET', url: '/v1/assistant/memories', headers: tenant.auth });
    const memories = list.json().data as Array<{ id: string; content: string; source: string }>;
    expect(memories.map((m) => m.content)).toEqual(['my favourite colour is green', 'il mio ufficio è a Torino']);
    expect(memories[0]?.source).toBe('explicit');

    // Extractive: a relevant memory is part of the answer.
    const recall = await chat(tenant.auth, { message: 'What is my favourite colour?' });
    expect(textOf(recall.events)).toContain('my favourite colour is green');
    // Generative: memories are in the model's context.
    await useFakeProvider(tenant);
    await chat(tenant.auth, { message: 'What is my favourite colour?' });
    expect(fake.requests[0]?.body.messages[0].content).toContain('- my favourite colour is green');

    // Nobody else sees them: a colleague in the same tenant, or another tenant.
    for (const auth of [colleague.auth, other.auth]) {
      const theirs = await ctx.app.inject({ method: 'GET', url: '/v1/assistant/memories', headers: auth });
      expect(theirs.statusCode).toBe(200);
      expect(theirs.json().data).toEqual([]);
      const del = await ctx.app.inject({ method: 'DELETE', url: `/v1/assistant/memories/${memories[0]?.id}`, headers: auth });
      expect(del.statusCode).toBe(404);
      const theirRecall = await chat(auth, { message: 'What is my favourite colour?' });
      expect(textOf(theirRecall.events)).not.toContain('green');
    }
    const del = await ctx.app.inject({ method: 'DELETE', url: `/v1/assistant/memories/${memories[0]?.id}`, headers: tenant.auth });
    expect(del.statusCode).toBe(204);
    const again = await ctx.app.inject({ method: 'DELETE', url: `/v1/assistant/memories/${memories[0]?.id}`, headers: tenant.auth });
    expect(again.statusCode).toBe(404);
    const after = await ctx.app.inject({ method: 'GET', url: '/v1/assistant/memories', headers: tenant.auth });
    expect(after.json().data.map((m: { content: string }) => m.content)).toEqual(['il mio ufficio è a Torino']);
  });

  it("answers another user's or tenant's conversation exactly like a missing one", async () => {
    const tenant = await ctx.tenant();
    const colleague = await ctx.user(tenant, 'member');
    const other = await ctx.tenant();
    const mine = await chat(tenant.auth, { message: 'What is the refund policy?' });
    const id = eventOf(mine.events, 'meta').conversationId as string;
    const missing = '00000000-0000-7000-8000-000000000000';
    for (const auth of [colleague.auth, other.auth]) {
      for (const [method, url] of [
        ['GET', `/v1/assistant/conversations/${id}`],
        ['GET', `/v1/assistant/conversations/${id}/messages`],
        ['DELETE', `/v1/assistant/conversations/${id}`],
      ] as const) {
        const res = await ctx.app.inject({ method, url, headers: auth });
        const control = await ctx.app.inject({ method, url: url.replace(id, missing), headers: auth });
        expect(res.statusCode, url).toBe(404);
        expect(res.body).toBe(control.body);
      }
      const cont = await chat(auth, { message: 'hello', conversationId: id });
      expect(cont.res.statusCode).toBe(404);
      const list = await ctx.app.inject({ method: 'GET', url: '/v1/assistant/conversations', headers: auth });
      expect(list.body).not.toContain(id);
    }
    const own = await ctx.app.inject({ method: 'GET', url: `/v1/assistant/conversations/${id}`, headers: tenant.auth });
    expect(own.statusCode).toBe(200);
    const del = await ctx.app.inject({ method: 'DELETE', url: `/v1/assistant/conversations/${id}`, headers: tenant.auth });
    expect(del.statusCode).toBe(204);
    const gone = await ctx.app.inject({ method: 'GET', url: `/v1/assistant/conversations/${id}/messages`, headers: tenant.auth });
    expect(gone.statusCode).toBe(404);
    const rows = await ctx.db.withOwner(async (tx) => {
      const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM assistant_messages WHERE conversation_id = $1', [id]);
      return rows[0]?.n;
    });
    expect(rows).toBe(0);
  });
});

describe('intents and the domain vocabulary', () => {
  it('answers greetings and small talk without retrieval, and records a hand-off on the conversation', async () => {
    const tenant = await ctx.tenant();
    for (const [message, intent, text] of [
      ['Hello!', 'greeting', 'How can I help you?'],
      ['ciao', 'greeting', 'Come posso aiutarti?'],
      ['thank you', 'small_talk', 'anything else'],
    ] as const) {
      const { events } = await chat(tenant.auth, { message });
      expect(eventOf(events, 'meta'), message).toMatchObject({ intent, mode: 'scripted', retrieval: { mode: 'none' } });
      expect(textOf(events)).toContain(text);
    }
    expect(memory.queries).toEqual([]);

    const handoff = await chat(tenant.auth, { message: 'I want to talk to a human operator please' });
    expect(eventOf(handoff.events, 'meta').intent).toBe('handoff');
    expect(textOf(handoff.events)).toContain('human operator');
    const id = eventOf(handoff.events, 'meta').conversationId;
    const conversation = await ctx.app.inject({ method: 'GET', url: `/v1/assistant/conversations/${id}`, headers: tenant.auth });
    expect(conversation.json()).toMatchObject({ lastIntent: 'handoff', handoffReason: 'I want to talk to a human operator please' });
    expect(conversation.json().handoffRequestedAt).not.toBeNull();
    expect(memory.queries).toEqual([]);
  });

  it('classifies custom intents by their examples and threshold, and shows every score', async () => {
    const tenant = await ctx.tenant();
    const create = await ctx.app.inject({
      method: 'POST',
      url: '/v1/assistant/intents',
      headers: tenant.auth,
      payload: {
        name: 'booking',
        description: 'Book a villa',
        examples: ['book a villa for the weekend', 'reserve a room', 'prenotare una villa'],
        threshold: 0.3,
      },
    });
    expect(create.statusCode, create.body).toBe(201);
    const intent = create.json();
    expect(intent).toMatchObject({ name: 'booking', builtin: false });
    expect(intent.threshold).toBeCloseTo(0.3, 5);

    const test = async (text: string) =>
      (await ctx.app.inject({ method: 'POST', url: '/v1/assistant/intents/test', headers: tenant.auth, payload: { text } })).json();
    const booked = await test('I would like to book a villa');
    expect(booked).toMatchObject({ intent: 'booking', method: 'lexical' });
    const names = booked.scores.map((s: { intent: string }) => s.intent).sort();
    expect(names).toEqual(['booking', 'crm_action', 'greeting', 'handoff', 'question', 'small_talk']);
    const score = booked.scores.find((s: { intent: string }) => s.intent === 'booking');
    expect(score.score).toBeGreaterThanOrEqual(0.3);
    expect(score.matched).toBe(true);

    // The chat records the custom intent and still answers from the knowledge base.
    const { events } = await chat(tenant.auth, { message: 'I would like to book a villa' });
    expect(eventOf(events, 'meta').intent).toBe('booking');

    // A threshold above the score: the intent no longer wins.
    const raised = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/assistant/intents/${intent.id}`,
      headers: tenant.auth,
      payload: { threshold: Math.min(1, score.score + 0.05) },
    });
    expect(raised.statusCode).toBe(200);
    const after = await test('I would like to book a villa');
    expect(after.intent).not.toBe('booking');
    expect(after.scores.find((s: { intent: string }) => s.intent === 'booking').matched).toBe(false);

    const list = await ctx.app.inject({ method: 'GET', url: '/v1/assistant/intents', headers: tenant.auth });
    expect(
      list
        .json()
        .data.filter((i: { builtin: boolean }) => i.builtin)
        .map((i: { name: string }) => i.name),
    ).toEqual(['greeting', 'small_talk', 'handoff', 'crm_action', 'question']);
    const duplicate = await ctx.app.inject({
      method: 'POST',
      url: '/v1/assistant/intents',
      headers: tenant.auth,
      payload: { name: 'booking', examples: ['x'] },
    });
    expect(duplicate.statusCode).toBe(409);
    const builtin = await ctx.app.inject({
      method: 'POST',
      url: '/v1/assistant/intents',
      headers: tenant.auth,
      payload: { name: 'greeting', examples: ['x'] },
    });
    expect(builtin.statusCode).toBe(409);
    for (const payload of [
      { name: 'Bad Name', examples: ['x'] },
      { name: 'ok', examples: [] },
      { name: 'ok', examples: ['x'], threshold: 2 },
    ]) {
      const res = await ctx.app.inject({ method: 'POST', url: '/v1/assistant/intents', headers: tenant.auth, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    // Another tenant does not have the intent.
    const other = await ctx.tenant();
    const theirs = await ctx.app.inject({
      method: 'POST',
      url: '/v1/assistant/intents/test',
      headers: other.auth,
      payload: { text: 'I would like to book a villa' },
    });
    expect(theirs.json().scores.map((s: { intent: string }) => s.intent)).not.toContain('booking');
    const del = await ctx.app.inject({ method: 'DELETE', url: `/v1/assistant/intents/${intent.id}`, headers: tenant.auth });
    expect(del.statusCode).toBe(204);
  });

  it('expands queries with the domain vocabulary before retrieval', async () => {
    const tenant = await ctx.tenant();
    const put = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/assistant/vocabulary',
      headers: tenant.auth,
      payload: { entries: [{ term: 'refund', synonyms: ['money back', 'rimborso'] }] },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().entries).toEqual([{ term: 'refund', synonyms: ['money back', 'rimborso'] }]);
    const test = await ctx.app.inject({
      method: 'POST',
      url: '/v1/assistant/intents/test',
      headers: tenant.auth,
      payload: { text: 'How do I get my money back?' },
    });
    expect(test.json()).toMatchObject({ expandedQuery: 'How do I get my money back? refund rimborso', addedTerms: ['refund', 'rimborso'] });

    const { events } = await chat(tenant.auth, { message: 'How do I get my money back?' });
    expect(memory.queries.at(-1)?.query).toBe('How do I get my money back? refund rimborso');
    expect(eventOf(events, 'meta').retrieval.expandedQuery).toBe('How do I get my money back? refund rimborso');
    // Thanks to the expansion, the refund passage is found and cited.
    expect((eventOf(events, 'citations').citations as Array<{ chunkId: string }>).map((c) => c.chunkId)).toContain('c-refund');

    const dup = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/assistant/vocabulary',
      headers: tenant.auth,
      payload: {
        entries: [
          { term: 'a', synonyms: ['b'] },
          { term: 'A', synonyms: ['c'] },
        ],
      },
    });
    expect(dup.statusCode).toBe(400);
    const other = await ctx.tenant();
    const theirs = await ctx.app.inject({ method: 'GET', url: '/v1/assistant/vocabulary', headers: other.auth });
    expect(theirs.json().entries).toEqual([]);
  });
});
