/**
 * Issue 6 "done when": upload → ready → search → streamed answer with citations, through the API and
 * the production wiring (no injected retriever or embedder), once with no provider at all (full-text
 * retrieval, extractive answer) and once with an OpenAI-compatible provider on loopback (embeddings
 * at ingestion and query time where pgvector exists, a generative answer that cites the uploaded
 * document). Each tenant sees only its own document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { eventOf, parseSse, startFakeOpenAI, textOf } from '../assistant/support.ts';
import { multipart } from './support.ts';

let ctx: TestContext;
let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
let vectors = false;

const HANDBOOK = `# Customer handbook

## Refunds

Refunds are granted within 30 days of purchase when the product is returned unused.
Opened software can be refunded only when it is faulty.

## Shipping

Orders ship from the Milan warehouse within two working days. Express delivery costs 12 euros.

## Support hours

The support desk answers from 9:00 to 18:00, Monday to Friday.
`;

type Auth = { authorization: string };

beforeAll(async () => {
  fake = await startFakeOpenAI();
  ctx = await createTestContext({ config: { aiTimeoutMs: 5000, aiAllowPrivateUrls: true } });
  vectors = await ctx.db.withOwner(async (tx) => {
    const { rows } = await tx.query<{ present: boolean }>(`SELECT to_regclass('knowledge_chunk_vectors') IS NOT NULL AS present`);
    return rows[0]?.present === true;
  });
});

afterAll(async () => {
  await ctx?.close();
  await fake?.close();
});

/** Creates a base, uploads the handbook and waits (running the job queue) until it is ready. */
async function ingestHandbook(auth: Auth, name: string): Promise<{ baseId: string; documentId: string }> {
  const base = await ctx.app.inject({
    method: 'POST',
    url: '/v1/knowledge-bases',
    headers: auth,
    payload: { name, description: 'Policies for customers: refunds, shipping, support' },
  });
  expect(base.statusCode, base.body).toBe(201);
  const baseId = base.json().id as string;
  const body = multipart(Buffer.from(HANDBOOK), { filename: 'handbook.md', fields: { title: 'Customer handbook' } });
  const uploaded = await ctx.app.inject({
    method: 'POST',
    url: `/v1/knowledge-bases/${baseId}/documents`,
    headers: { ...auth, ...body.headers },
    payload: body.payload,
  });
  expect(uploaded.statusCode, uploaded.body).toBe(202);
  expect(uploaded.json().status).toBe('queued');
  const documentId = uploaded.json().id as string;
  const seen = new Set<string>();
  for (let i = 0; i < 600; i++) {
    await ctx.palazzo.services.jobs.drain();
    const doc = await ctx.app.inject({ method: 'GET', url: `/v1/knowledge-bases/${baseId}/documents/${documentId}`, headers: auth });
    expect(doc.statusCode, doc.body).toBe(200);
    seen.add(doc.json().status);
    if (doc.json().status === 'ready') return { baseId, documentId };
    expect(doc.json().status, doc.body).not.toBe('failed');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the document did not become ready (states seen: ${[...seen].join(', ')})`);
}

async function search(auth: Auth, query: string) {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/search', headers: auth, payload: { query } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function chat(auth: Auth, message: string) {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/assistant/chat', headers: auth, payload: { message } });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
  return parseSse(res.body);
}

describe('upload → ready → search → streamed answer with citations', () => {
  let plain: TestTenant;
  let withProvider: TestTenant;
  let plainDoc: { baseId: string; documentId: string };
  let providerDoc: { baseId: string; documentId: string };

  beforeAll(async () => {
    plain = await ctx.tenant();
    withProvider = await ctx.tenant();
    const provider = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/ai/provider',
      headers: withProvider.auth,
      payload: {
        kind: 'openai-compatible',
        baseUrl: fake.baseUrl,
        chatModel: 'fake-chat',
        embeddingModel: 'fake-embed',
        apiKey: 'sk-fake-key-abcd1234',
      },
    });
    expect(provider.statusCode, provider.body).toBe(200);
    plainDoc = await ingestHandbook(plain.auth, 'Handbook');
    providerDoc = await ingestHandbook(withProvider.auth, 'Handbook');
  });

  it('with no provider: full-text search says why, and the extractive answer cites the uploaded document', async () => {
    const found = await search(plain.auth, 'How many days do I have for a refund?');
    expect(found.mode).toBe('fulltext');
    expect(found.reason).toMatch(/pgvector|embedding/);
    const top = found.results[0];
    expect(top).toMatchObject({ documentId: plainDoc.documentId, knowledgeBaseId: plainDoc.baseId, title: 'Customer handbook' });
    expect(top.text).toContain('Refunds are granted within 30 days');
    expect(top.endOffset).toBeGreaterThan(top.startOffset);
    expect(found.results.every((r: { documentId: string }) => r.documentId === plainDoc.documentId)).toBe(true);

    const events = await chat(plain.auth, 'How many days do I have for a refund?');
    expect(eventOf(events, 'meta')).toMatchObject({ mode: 'extractive' });
    expect(textOf(events)).toContain('30 days');
    const citations = eventOf(events, 'citations').citations as Array<{ documentId: string; chunkId: string }>;
    expect(citations.length).toBeGreaterThan(0);
    expect(citations.every((c) => c.documentId === plainDoc.documentId)).toBe(true);
    expect(fake.requests.filter((r) => r.path === '/v1/chat/completions')).toEqual([]);
  });

  it('with the loopback provider: embedded where pgvector exists, hybrid search, a generative answer citing the document', async () => {
    const embedded = fake.requests.filter((r) => r.path === '/v1/embeddings');
    // Ingestion embedded the handbook's chunks with the tenant's model where vectors can be stored
    // (without pgvector the provider is not asked for embeddings at all).
    if (vectors) expect(embedded[0]?.body.model).toBe('fake-embed');
    else expect(embedded).toEqual([]);

    const found = await search(withProvider.auth, 'How many days do I have for a refund?');
    if (vectors) expect(found.mode).toBe('hybrid');
    else expect(found).toMatchObject({ mode: 'fulltext', reason: expect.stringMatching(/pgvector/) });
    expect(found.results[0]).toMatchObject({ documentId: providerDoc.documentId });
    expect(found.results.every((r: { documentId: string }) => r.documentId === providerDoc.documentId)).toBe(true);

    fake.reset();
    const events = await chat(withProvider.auth, 'How many days do I have for a refund?');
    expect(events[0]?.event).toBe('meta');
    expect(eventOf(events, 'meta')).toMatchObject({ mode: 'generative' });
    expect(events.filter((e) => e.event === 'delta').length).toBeGreaterThan(0);
    expect(events.slice(-2).map((e) => e.event)).toEqual(['citations', 'done']);
    const citations = eventOf(events, 'citations').citations as Array<{ documentId: string }>;
    expect(citations.length).toBeGreaterThan(0);
    expect(citations.every((c) => c.documentId === providerDoc.documentId)).toBe(true);
    // The model saw the uploaded passage (and only this tenant's) in its instructions.
    const call = fake.requests.find((r) => r.path === '/v1/chat/completions');
    expect(call?.body.messages[0].content).toContain('Refunds are granted within 30 days');
    expect(call?.body.messages[0].content).toContain('Customer handbook');
  });
});
