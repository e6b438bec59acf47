/**
 * Test peers for the assistant: an in-memory retriever over fixed passages (the knowledge module's
 * stand-in), a fake OpenAI-compatible server on loopback (chat completions streamed as SSE, and
 * embeddings), and a parser of server-sent events.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RetrievedPassage, Retriever } from '../../src/modules/ai/index.ts';

export const PASSAGES: RetrievedPassage[] = [
  {
    chunkId: 'c-refund',
    documentId: 'd-policies',
    knowledgeBaseId: 'kb-help',
    title: 'Policies.md',
    text: 'Refunds are granted within 30 days of purchase. Send the receipt to the help desk. Opened software is not refundable.',
    start: 0,
    end: 118,
    score: 0,
  },
  {
    chunkId: 'c-hours',
    documentId: 'd-contact',
    knowledgeBaseId: 'kb-help',
    title: 'Contact.md',
    text: 'The office is open Monday to Friday from 9:00 to 17:00. On Saturdays the office opens at 10:00.',
    start: 0,
    end: 96,
    score: 0,
  },
  {
    chunkId: 'c-rimborso',
    documentId: 'd-politiche',
    knowledgeBaseId: 'kb-help',
    title: 'Politiche.md',
    text: 'I rimborsi sono concessi entro 30 giorni dall’acquisto. Invia lo scontrino all’assistenza.',
    start: 0,
    end: 90,
    score: 0,
  },
  {
    chunkId: 'c-pricing',
    documentId: 'd-pricing',
    knowledgeBaseId: 'kb-sales',
    title: 'Pricing.md',
    text: 'The premium plan costs 49 euros per month. The basic plan is free.',
    start: 120,
    end: 186,
    score: 0,
  },
];

const tokens = (text: string) =>
  text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 2);

/** Word-overlap retrieval over PASSAGES; records every query it was asked. */
export function createMemoryRetriever() {
  const queries: Array<{ tenantId: string; query: string; topK?: number; language?: string }> = [];
  const retriever: Retriever = {
    async search(tenantId, input) {
      queries.push({ tenantId, ...input });
      const q = new Set(tokens(input.query));
      const scored = PASSAGES.map((p) => {
        const words = new Set(tokens(`${p.title} ${p.text}`));
        let hits = 0;
        for (const w of q) if (words.has(w) || [...words].some((x) => x.startsWith(w) || w.startsWith(x))) hits++;
        return { ...p, score: q.size ? hits / q.size : 0 };
      })
        .filter((p) => p.score > 0)
        .sort((a, b) => b.score - a.score);
      return { mode: 'fulltext', reason: 'test retriever', passages: scored.slice(0, input.topK ?? 5) };
    },
  };
  return { retriever, queries };
}

export type SseEvent = { event: string; data: Record<string, unknown> };

/** Parses a text/event-stream body into its events (data is JSON in this API). */
export function parseSse(body: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of body.split(/\n\n/)) {
    if (!block.trim()) continue;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    events.push({ event, data: JSON.parse(data.join('\n')) });
  }
  return events;
}

export const textOf = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === 'delta')
    .map((e) => e.data.text)
    .join('');
// biome-ignore lint/suspicious/noExplicitAny: event payloads are arbitrary JSON; tests assert on their fields
export const eventOf = (events: SseEvent[], name: string) => events.find((e) => e.event === name)?.data as Record<string, any>;

/** A deterministic embedding: words hashed into 64 dimensions, so texts sharing words are close. */
export function fakeEmbedding(text: string): number[] {
  const v = new Array<number>(64).fill(0);
  for (const w of tokens(text)) {
    let h = 2166136261;
    for (const ch of w) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    v[h % 64] = (v[h % 64] as number) + 1;
  }
  return v;
}

export type FakeBehaviour = {
  /** What the chat completion streams, split into these chunks. */
  chunks: string[];
  /** ok: stream; slow: wait delayMs before the first byte; error: answer with this HTTP status; cut: close after the first chunk. */
  mode: 'ok' | 'slow' | 'error' | 'cut';
  delayMs: number;
  status: number;
  usage: { prompt_tokens: number; completion_tokens: number };
  /** When the request offers tools and the last message is the user's: call `remember` with this fact first. */
  toolFact?: string;
};

// biome-ignore lint/suspicious/noExplicitAny: the request bodies the fake server received, arbitrary JSON
export type FakeRequest = { path: string; authorization: string | undefined; body: any };

/** An OpenAI-compatible server on 127.0.0.1: /v1/chat/completions (SSE) and /v1/embeddings. */
export async function startFakeOpenAI() {
  const behaviour: FakeBehaviour = {
    chunks: ['Refunds are granted ', 'within 30 days [1].'],
    mode: 'ok',
    delayMs: 0,
    status: 500,
    usage: { prompt_tokens: 40, completion_tokens: 12 },
  };
  const requests: FakeRequest[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      const parts: Buffer[] = [];
      req.on('data', (c) => parts.push(c));
      req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    });
  const server: Server = createServer(async (req, res) => {
    const raw = await read(req);
    const body = raw ? JSON.parse(raw) : null;
    requests.push({ path: req.url ?? '', authorization: req.headers.authorization, body });
    if (req.url === '/v1/embeddings') {
      const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
      const used = inputs.reduce((n, t) => n + tokens(t).length, 0);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: inputs.map((t, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(t) })),
          model: body.model,
          usage: { prompt_tokens: used, total_tokens: used },
        }),
      );
      return;
    }
    if (req.url !== '/v1/chat/completions') {
      res.writeHead(404).end();
      return;
    }
    if (behaviour.mode === 'error') {
      res.writeHead(behaviour.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'internal secret detail at 10.0.0.7', type: 'server_error' } }));
      return;
    }
    if (behaviour.mode === 'slow') await new Promise((r) => setTimeout(r, behaviour.delayMs));
    if (res.destroyed) return;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const chunk = (delta: object, finish: string | null = null, usage?: object) =>
      `data: ${JSON.stringify({
        id: 'chatcmpl-fake',
        object: 'chat.completion.chunk',
        created: 1,
        model: body.model,
        choices: [{ index: 0, delta, finish_reason: finish }],
        ...(usage ? { usage } : {}),
      })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }));
    const last = body.messages.at(-1);
    if (behaviour.toolFact && Array.isArray(body.tools) && last?.role === 'user') {
      const args = JSON.stringify({ fact: behaviour.toolFact });
      res.write(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'remember', arguments: args } }] }));
      const { prompt_tokens, completion_tokens } = behaviour.usage;
      res.write(chunk({}, 'tool_calls', { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens }));
      res.end('data: [DONE]\n\n');
      return;
    }
    for (const [i, text] of behaviour.chunks.entries()) {
      res.write(chunk({ content: text }));
      if (behaviour.mode === 'cut' && i === 0) {
        await new Promise((r) => setTimeout(r, 20));
        res.destroy();
        return;
      }
    }
    const { prompt_tokens, completion_tokens } = behaviour.usage;
    res.write(chunk({}, 'stop', { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens }));
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    behaviour,
    requests,
    reset() {
      Object.assign(behaviour, {
        chunks: ['Refunds are granted ', 'within 30 days [1].'],
        mode: 'ok',
        delayMs: 0,
        status: 500,
        usage: { prompt_tokens: 40, completion_tokens: 12 },
        toolFact: undefined,
      });
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
