import { generateText, type LanguageModel } from 'ai';

/**
 * Second-stage reranking of fused candidates (issue 6, F-E2): MMR for diversity, and a provider
 * reranker that asks the tenant's chat model to grade the candidates.
 */

export type RerankCandidate = { text: string; score: number; embedding: number[] | null };

/** Trade-off of MMR: 1 is pure relevance, 0 pure diversity. 0.7 keeps relevance first (the usual choice). */
export const MMR_LAMBDA = 0.7;

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

const wordsOf = (text: string) => new Set(text.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? []);

function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let shared = 0;
  for (const w of a) if (b.has(w)) shared += 1;
  return shared / (a.size + b.size - shared);
}

/**
 * Maximal marginal relevance (Carbonell and Goldstein): picks, one at a time, the candidate that is
 * most relevant and least similar to those already picked. Similarity is the cosine of the
 * embeddings when every candidate has one, else the Jaccard overlap of their words (full-text mode).
 * Returns indices into `candidates`, `count` of them.
 */
export function mmrOrder(candidates: RerankCandidate[], count: number, lambda = MMR_LAMBDA): number[] {
  const useVectors = candidates.every((c) => c.embedding !== null);
  const words = useVectors ? [] : candidates.map((c) => wordsOf(c.text));
  const similarity = (i: number, j: number) =>
    useVectors
      ? cosine(candidates[i]?.embedding as number[], candidates[j]?.embedding as number[])
      : jaccard(words[i] as Set<string>, words[j] as Set<string>);
  const top = Math.max(...candidates.map((c) => c.score), Number.EPSILON);
  const remaining = candidates.map((_, i) => i);
  const picked: number[] = [];
  while (picked.length < count && remaining.length > 0) {
    let best = 0;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (let r = 0; r < remaining.length; r += 1) {
      const i = remaining[r] as number;
      const relevance = (candidates[i]?.score ?? 0) / top;
      let redundancy = 0;
      for (const j of picked) redundancy = Math.max(redundancy, similarity(i, j));
      const value = lambda * relevance - (1 - lambda) * redundancy;
      if (value > bestValue) {
        bestValue = value;
        best = r;
      }
    }
    picked.push(remaining[best] as number);
    remaining.splice(best, 1);
  }
  return picked;
}

/** Candidates shown to the model: enough to reorder a page, few enough for one short call. */
export const LLM_RERANK_CANDIDATES = 20;
const PASSAGE_CHARS = 700;

export type LlmRerankResult = { ok: true; order: number[]; tokens: number } | { ok: false; reason: string; tokens: number };

/**
 * Asks a chat model to grade each candidate 0–10 for the query and returns the indices by grade
 * (ties keep the fused order). Any failure (provider error, timeout, an answer that is not the
 * expected JSON) is a `Result`, never an exception: the caller keeps the fused order and says why.
 */
export async function llmRerank(model: LanguageModel, query: string, texts: string[], timeoutMs: number): Promise<LlmRerankResult> {
  const numbered = texts.map((t, i) => `[${i}] ${t.slice(0, PASSAGE_CHARS).replace(/\s+/g, ' ')}`).join('\n');
  let text: string;
  let tokens = 0;
  try {
    const result = await generateText({
      model,
      system:
        'You grade search results. For each numbered passage, give an integer from 0 (irrelevant) to 10 (answers the query). ' +
        'Reply with JSON only: {"scores":[s0,s1,...]} with exactly one score per passage, in order.',
      prompt: `Query: ${query}\n\nPassages:\n${numbered}`,
      temperature: 0,
      maxRetries: 0,
      abortSignal: AbortSignal.timeout(timeoutMs),
    });
    text = result.text;
    tokens = result.usage?.totalTokens ?? 0;
  } catch (error) {
    const name = (error as { name?: string } | undefined)?.name;
    return { ok: false, reason: name === 'TimeoutError' || name === 'AbortError' ? 'provider_timeout' : 'provider_error', tokens };
  }
  const json = text.match(/\{[\s\S]*\}/)?.[0];
  let scores: unknown;
  try {
    scores = json ? (JSON.parse(json) as { scores?: unknown }).scores : undefined;
  } catch {
    scores = undefined;
  }
  if (!Array.isArray(scores) || scores.length !== texts.length || !scores.every((s) => typeof s === 'number' && Number.isFinite(s))) {
    return { ok: false, reason: 'provider_answer_unusable', tokens };
  }
  const graded = scores as number[];
  const order = texts.map((_, i) => i).sort((a, b) => (graded[b] as number) - (graded[a] as number) || a - b);
  return { ok: true, order, tokens };
}
