import type { RetrievedPassage } from '../ai/index.ts';
import type { AnswerLanguage } from './language.ts';
import { cosine, createTfIdf } from './lexical.ts';

export type Citation = {
  index: number;
  chunkId: string;
  documentId: string;
  knowledgeBaseId: string;
  title: string;
  start: number;
  end: number;
  score: number;
  snippet: string;
};

export function citationsOf(passages: RetrievedPassage[]): Citation[] {
  return passages.map((p, i) => ({
    index: i + 1,
    chunkId: p.chunkId,
    documentId: p.documentId,
    knowledgeBaseId: p.knowledgeBaseId,
    title: p.title,
    start: p.start,
    end: p.end,
    score: p.score,
    snippet: p.text.length > 300 ? `${p.text.slice(0, 297)}...` : p.text,
  }));
}

const TEXT = {
  en: {
    intro: 'Here is what I found in the knowledge base (extractive answer, quoted from the sources):',
    none: 'I could not find anything about this in the knowledge base.',
    memory: 'From what you asked me to remember:',
    degraded: (reason: string) => `(The language model is unavailable: ${reason}.)`,
    greeting: 'Hello! How can I help you?',
    smallTalk: 'You are welcome. Is there anything else I can help you with?',
    handoff: 'I have asked a human operator to take over this conversation; someone will get back to you.',
    handoffOff: 'A human operator is not available here; I will do my best to help you.',
    remembered: (fact: string) => `I will remember that: ${fact}`,
    crm: 'CRM actions are not available through the assistant yet; here is what the knowledge base says.',
  },
  it: {
    intro: 'Ecco cosa ho trovato nella base di conoscenza (risposta estrattiva, citata dalle fonti):',
    none: 'Non ho trovato nulla su questo nella base di conoscenza.',
    memory: 'Da quello che mi hai chiesto di ricordare:',
    degraded: (reason: string) => `(Il modello linguistico non è disponibile: ${reason}.)`,
    greeting: 'Ciao! Come posso aiutarti?',
    smallTalk: 'Prego. Posso aiutarti in qualcos’altro?',
    handoff: 'Ho chiesto a un operatore umano di prendere in carico questa conversazione; qualcuno ti risponderà.',
    handoffOff: 'Un operatore umano non è disponibile qui; farò del mio meglio per aiutarti.',
    remembered: (fact: string) => `Lo ricorderò: ${fact}`,
    crm: 'Le azioni CRM non sono ancora disponibili tramite l’assistente; ecco cosa dice la base di conoscenza.',
  },
} as const;

export const phrases = (language: AnswerLanguage) => TEXT[language];

/** Reasons for a degraded answer, in the answer's language (the `degradedReason` code stays English). */
const REASONS: Record<string, Record<AnswerLanguage, string>> = {
  provider_timeout: { en: 'the provider did not answer in time', it: 'il fornitore non ha risposto in tempo' },
  provider_error: { en: 'the provider returned an error', it: 'il fornitore ha restituito un errore' },
  provider_unreachable: { en: 'the provider could not be reached', it: 'il fornitore non è raggiungibile' },
  provider_blocked: { en: 'the provider’s address is not allowed', it: 'l’indirizzo del fornitore non è consentito' },
};

export function reasonText(code: string, language: AnswerLanguage): string {
  return REASONS[code]?.[language] ?? code;
}

/** The sentences of a passage most similar to the question, in their original order. */
function bestSentences(question: string, text: string, max: number): string {
  const sentences = text
    .split(/(?<=[.!?])\s+|\n+/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (sentences.length <= max) return sentences.join(' ');
  const model = createTfIdf(sentences);
  const q = model.vectorize(question);
  const ranked = model.vectors.map((v, i) => ({ i, s: cosine(q, v) })).sort((a, b) => b.s - a.s || a.i - b.i);
  const keep = new Set(ranked.slice(0, max).map((r) => r.i));
  return sentences.filter((_, i) => keep.has(i)).join(' ');
}

/**
 * The answer without a language model: the best sentences of the best passages, each followed by
 * its citation marker [n], framed in the answer's language. Memories relevant to the question
 * come first.
 */
export function extractiveAnswer(input: {
  question: string;
  passages: RetrievedPassage[];
  memories: string[];
  language: AnswerLanguage;
  degradedReason?: string;
  maxPassages?: number;
}): string {
  const t = TEXT[input.language];
  const parts: string[] = [];
  if (input.degradedReason) parts.push(t.degraded(reasonText(input.degradedReason, input.language)));
  if (input.memories.length) parts.push(`${t.memory}\n${input.memories.map((m) => `- ${m}`).join('\n')}`);
  const passages = input.passages.slice(0, input.maxPassages ?? 3);
  if (passages.length === 0) {
    if (!input.memories.length) parts.push(t.none);
  } else {
    parts.push(t.intro);
    passages.forEach((p, i) => {
      parts.push(`${bestSentences(input.question, p.text, 3)} [${i + 1}]`);
    });
  }
  return parts.join('\n\n');
}

/** Memories whose words overlap the question enough to be worth showing in an extractive answer. */
export function relevantMemories(question: string, memories: string[], min = 0.2): string[] {
  if (memories.length === 0) return [];
  const model = createTfIdf([...memories, question]);
  const q = model.vectorize(question);
  return memories.filter((_, i) => cosine(q, model.vectors[i] as Map<string, number>) >= min);
}

const REMEMBER = [
  /^\s*(?:please\s+)?remember\s+(?:that\s+)?(.+)$/i,
  /^\s*(?:please\s+)?(?:note|keep in mind)\s+that\s+(.+)$/i,
  /^\s*(?:per favore\s+)?ricorda(?:ti)?\s+(?:che\s+)?(.+)$/i,
  /^\s*tieni presente che\s+(.+)$/i,
];

/** "remember that …" / "ricorda che …": the fact to save, or undefined. */
export function memoryCommand(message: string): string | undefined {
  for (const pattern of REMEMBER) {
    const match = pattern.exec(message);
    const fact = match?.[1]?.trim().replace(/[.!]+$/, '');
    if (fact && fact.length >= 3) return fact.slice(0, 2000);
  }
  return undefined;
}
