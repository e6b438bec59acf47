/**
 * Unit behaviour of the assistant's parts: the lexical intent model, query expansion, memory
 * commands, language detection, extractive answers, and the chat loop and the embedder driven by
 * the AI SDK's mock models (MockLanguageModelV3, MockEmbeddingModelV3) against a real database.
 */
import { APICallError } from 'ai';
import { MockEmbeddingModelV3, MockLanguageModelV3, simulateReadableStream } from 'ai/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAiService, embeddingModelOf, isPrivateAddress, languageModelOf } from '../../src/modules/ai/index.ts';
import { extractiveAnswer, memoryCommand, relevantMemories } from '../../src/modules/assistant/answers.ts';
import { answerLanguage, type ChatEvent, createAssistantService, failureReason } from '../../src/modules/assistant/assistant.service.ts';
import { BUILTIN_DEFINITIONS, classifyLexical, expandQuery } from '../../src/modules/assistant/intents.ts';
import { detectLanguage } from '../../src/modules/assistant/language.ts';
import { createTestContext, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { createMemoryRetriever, PASSAGES } from './support.ts';

describe('lexical intent model', () => {
  it.each([
    ['Hello!', 'greeting'],
    ['buongiorno', 'greeting'],
    ['thanks a lot', 'small_talk'],
    ['grazie mille', 'small_talk'],
    ['Can I speak with a person?', 'handoff'],
    ['voglio parlare con un operatore', 'handoff'],
    ['please create a new contact for Mario Rossi', 'crm_action'],
    ['What is the refund policy?', 'question'],
    ['hi, what is the price of the premium plan?', 'question'],
    ['zzzz qqqq', 'question'],
  ])('%s → %s', (text, intent) => {
    expect(classifyLexical(text, BUILTIN_DEFINITIONS).intent).toBe(intent);
  });

  it('scores every intent, with its threshold, best first; a custom intent wins only at or above its threshold', () => {
    const custom = {
      name: 'booking',
      description: '',
      examples: ['book a villa for the weekend', 'prenotare una villa'],
      threshold: 0.3,
      builtin: false,
    };
    const result = classifyLexical('book a villa', [...BUILTIN_DEFINITIONS, custom]);
    expect(result.intent).toBe('booking');
    expect(result.scores.map((s) => s.score)).toEqual([...result.scores.map((s) => s.score)].sort((a, b) => b - a));
    const strict = classifyLexical('book a villa', [...BUILTIN_DEFINITIONS, { ...custom, threshold: 0.99 }]);
    // "book a meeting with" is a CRM action: the next best intent above its own threshold wins.
    expect(strict.intent).toBe('crm_action');
    expect(strict.scores.find((s) => s.intent === 'booking')?.matched).toBe(false);
  });
});

describe('query expansion, memory commands, language, extractive answers', () => {
  it('expands a query with every term of a matching synonym group, once', () => {
    const vocabulary = [
      { term: 'refund', synonyms: ['money back', 'rimborso'] },
      { term: 'villa', synonyms: ['house'] },
    ];
    expect(expandQuery('How do I get my money back?', vocabulary)).toEqual({
      query: 'How do I get my money back? refund rimborso',
      added: ['refund', 'rimborso'],
    });
    expect(expandQuery('Refund for the HOUSE', vocabulary).added).toEqual(['money back', 'rimborso', 'villa']);
    expect(expandQuery('nothing relevant', vocabulary)).toEqual({ query: 'nothing relevant', added: [] });
    // Whole words only: "refunded" is not "refund".
    expect(expandQuery('moneyback refunded', vocabulary).added).toEqual([]);
  });

  it('recognises "remember that …" in English and Italian', () => {
    expect(memoryCommand('Remember that my office is in Turin.')).toBe('my office is in Turin');
    expect(memoryCommand('please remember I prefer email')).toBe('I prefer email');
    expect(memoryCommand('Ricorda che preferisco le email')).toBe('preferisco le email');
    expect(memoryCommand('Ricordati che il mio codice è 42!')).toBe('il mio codice è 42');
    expect(memoryCommand('Do you remember the refund policy?')).toBeUndefined();
    expect(memoryCommand('remember')).toBeUndefined();
  });

  it('chooses the answer language: message, user, Accept-Language, configured, tenant, English', () => {
    expect(answerLanguage('Qual è il prezzo?', { user: 'en' }, 'en')).toBe('it');
    expect(answerLanguage('zzqx', { user: 'it', header: 'en' }, 'en')).toBe('it');
    expect(answerLanguage('zzqx', { header: 'it', tenant: 'en' }, 'en')).toBe('it');
    expect(answerLanguage('zzqx', { tenant: 'it' }, 'en-GB')).toBe('en');
    expect(answerLanguage('zzqx', { tenant: 'it' }, undefined)).toBe('it');
    expect(answerLanguage('zzqx', {}, 'de')).toBe('en');
  });

  it('detects English and Italian messages, and leaves ambiguous ones to the locale', () => {
    expect(detectLanguage('What is the refund policy?')).toBe('en');
    expect(detectLanguage('Qual è la politica per i rimborsi?')).toBe('it');
    expect(detectLanguage('rimborsi')).toBeUndefined();
    expect(detectLanguage('OK')).toBeUndefined();
  });

  it('assembles an extractive answer from the best sentences with citation markers, framed in the language', () => {
    const passages = PASSAGES.slice(0, 2);
    const en = extractiveAnswer({ question: 'refund receipt', passages, memories: [], language: 'en' });
    expect(en.startsWith('Here is what I found')).toBe(true);
    expect(en).toContain('[1]');
    expect(en).toContain('[2]');
    const it = extractiveAnswer({
      question: 'rimborso',
      passages,
      memories: ['il mio ufficio è a Torino'],
      language: 'it',
      degradedReason: 'provider_timeout',
    });
    expect(it).toContain('il fornitore non ha risposto in tempo');
    expect(it).toContain('Da quello che mi hai chiesto di ricordare');
    expect(extractiveAnswer({ question: 'x', passages: [], memories: [], language: 'en' })).toContain('could not find anything');
    expect(relevantMemories('what is my favourite colour', ['my favourite colour is green', 'the office is in Turin'])).toEqual([
      'my favourite colour is green',
    ]);
  });

  it('names provider failures by stable codes', () => {
    const idle = new AbortController().signal;
    const aborted = AbortSignal.abort();
    expect(failureReason(new Error('x'), aborted)).toBe('provider_timeout');
    expect(failureReason(Object.assign(new Error('t'), { name: 'TimeoutError' }), idle)).toBe('provider_timeout');
    const http = new APICallError({ message: 'bad', url: 'http://x', requestBodyValues: {}, statusCode: 502 });
    expect(failureReason(http, idle)).toBe('provider_error');
    const network = new APICallError({ message: 'Cannot connect', url: 'http://x', requestBodyValues: {} });
    expect(failureReason(network, idle)).toBe('provider_unreachable');
  });
});

describe('provider layer', () => {
  it('builds the AI SDK model of every provider kind without calling it', () => {
    const base = { baseUrl: null, apiKey: 'k', embeddingModel: 'e' };
    const chat = (kind: 'openai' | 'anthropic' | 'google' | 'openai-compatible') =>
      languageModelOf({ ...base, kind, chatModel: 'm', baseUrl: kind === 'openai-compatible' ? 'http://h/v1' : null });
    for (const kind of ['openai', 'anthropic', 'google', 'openai-compatible'] as const) {
      const model = chat(kind);
      expect(typeof model === 'object' && model.modelId).toBe('m');
    }
    expect(embeddingModelOf({ ...base, kind: 'anthropic', chatModel: 'c' })).toBeNull();
    expect(embeddingModelOf({ ...base, kind: 'openai', chatModel: 'c', embeddingModel: null })).toBeNull();
    expect((embeddingModelOf({ ...base, kind: 'google', chatModel: 'c' }) as { modelId: string }).modelId).toBe('e');
  });

  it.each([
    ['127.0.0.1', true],
    ['10.20.30.40', true],
    ['172.16.5.5', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['224.0.0.1', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['fc00::1', true],
    ['fe80::1', true],
    ['ff02::1', true],
    ['8.8.8.8', false],
    ['2001:4860:4860::8888', false],
  ])('address %s is private: %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });
});

describe('with the AI SDK mock models', () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  const memory = createMemoryRetriever();

  const usage = (input: number, output: number) => ({
    inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: output, text: output, reasoning: undefined },
  });

  function streaming(parts: unknown[]) {
    return new MockLanguageModelV3({
      doStream: async () => ({ stream: simulateReadableStream({ chunks: parts as never[], chunkDelayInMs: 1 }) }),
    });
  }

  async function collect(model: MockLanguageModelV3, message: string) {
    const assistant = createAssistantService({
      db: ctx.db,
      ai: ctx.palazzo.services.ai,
      retriever: memory.retriever,
      config: ctx.palazzo.services.config,
      languageModel: () => model,
    });
    const events: ChatEvent[] = [];
    for await (const e of await assistant.chat(
      { kind: 'user', tenantId: tenant.id, userId: await ownerId(), sessionId: 's', roleKey: 'owner', permissions: new Set() },
      { message },
      {},
    )) {
      events.push(e);
    }
    return events;
  }

  let owner: string | undefined;
  async function ownerId(): Promise<string> {
    owner ??= (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth })).json().user.id as string;
    return owner as string;
  }

  beforeAll(async () => {
    ctx = await createTestContext({ config: { aiAllowPrivateUrls: true } });
    tenant = await ctx.tenant();
    // A provider must be configured for the generative path; the mock replaces its model.
    const res = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/ai/provider',
      headers: tenant.auth,
      payload: { kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1', chatModel: 'mock' },
    });
    expect(res.statusCode).toBe(200);
  });

  afterAll(async () => {
    await ctx?.close();
  });

  it('streams the mock model’s text as deltas, cites what it cites, and reports its usage', async () => {
    const model = streaming([
      { type: 'stream-start', warnings: [] },
      { type: 'text-start', id: 't' },
      { type: 'text-delta', id: 't', delta: 'Il rimborso ' },
      { type: 'text-delta', id: 't', delta: 'è entro 30 giorni [1].' },
      { type: 'text-end', id: 't' },
      { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(30, 9) },
    ]);
    const events = await collect(model, 'Qual è la politica per i rimborsi?');
    expect(events.map((e) => e.event)).toEqual(['meta', 'delta', 'delta', 'citations', 'done']);
    expect(events[0]?.data).toMatchObject({ mode: 'generative', language: 'it' });
    const citations = ((events[3] as ChatEvent).data as { citations: Array<{ chunkId: string }> }).citations;
    expect(citations.map((c) => c.chunkId)).toEqual(['c-rimborso']);
    expect(events[4]?.data).toMatchObject({ usage: { inputTokens: 30, outputTokens: 9, totalTokens: 39 } });
    const prompt = model.doStreamCalls[0]?.prompt as Array<{ role: string; content: unknown }>;
    expect(prompt[0]?.role).toBe('system');
    expect(String(prompt[0]?.content)).toContain('Always answer in Italian');
  });

  it('degrades to extractive when the model fails before any text: an error part, or a throw', async () => {
    const failing = streaming([
      { type: 'stream-start', warnings: [] },
      { type: 'error', error: new Error('model exploded') },
    ]);
    const events = await collect(failing, 'What is the refund policy?');
    expect(events[0]?.data).toMatchObject({ mode: 'extractive', degradedReason: 'provider_error' });
    const throwing = new MockLanguageModelV3({
      doStream: async () => {
        throw new APICallError({ message: 'refused', url: 'http://x', requestBodyValues: {} });
      },
    });
    const events2 = await collect(throwing, 'What is the refund policy?');
    expect(events2[0]?.data).toMatchObject({ mode: 'extractive', degradedReason: 'provider_unreachable' });
    expect(JSON.stringify(events2)).not.toContain('refused');
  });

  it('embeds in batches, retries failures with backoff, and meters the tokens', async () => {
    let calls = 0;
    const model = new MockEmbeddingModelV3({
      maxEmbeddingsPerCall: 1000,
      doEmbed: async ({ values }) => {
        calls++;
        if (calls === 2)
          throw new APICallError({ message: 'busy', url: 'http://x', requestBodyValues: {}, statusCode: 503, isRetryable: true });
        return { embeddings: values.map((v) => [v.length, 1]), usage: { tokens: values.length * 3 }, warnings: [] };
      },
    });
    const ai = createAiService({
      db: ctx.db,
      masterKey: Buffer.alloc(32),
      usage: ctx.palazzo.services.usage,
      directory: ctx.palazzo.services.directory,
      options: { timeoutMs: 5000, allowPrivateUrls: true, embeddingBatchSize: 4, embeddingRetries: 2, retryBaseMs: 5 },
      embeddingModel: () => model,
    });
    // The sealed key of the tenant was made under the test master key; this service reads no key
    // (openai-compatible without one), so a different master key does not matter here.
    const texts = ['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff'];
    const result = await ai.embedder.embed(tenant.id, texts, 'document');
    expect(result?.vectors.map((v) => v[0])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(result?.tokens).toBe(18);
    expect(calls).toBe(3); // batch 1, batch 2 failed once, batch 2 again
    const permanent = new MockEmbeddingModelV3({
      doEmbed: async () => {
        throw new APICallError({ message: 'bad key', url: 'http://x', requestBodyValues: {}, statusCode: 401, isRetryable: false });
      },
    });
    const strict = createAiService({
      db: ctx.db,
      masterKey: Buffer.alloc(32),
      usage: ctx.palazzo.services.usage,
      directory: ctx.palazzo.services.directory,
      options: { timeoutMs: 5000, allowPrivateUrls: true, retryBaseMs: 5 },
      embeddingModel: () => permanent,
    });
    await expect(strict.embedder.embed(tenant.id, ['x'], 'query')).rejects.toThrow('bad key');
  });
});
