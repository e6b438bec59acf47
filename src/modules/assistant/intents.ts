import { createTfIdf, cosine, denseCosine, normalize, words } from './lexical.ts';

export const BUILTIN_INTENTS = ['question', 'greeting', 'small_talk', 'crm_action', 'handoff'] as const;
export type BuiltinIntent = (typeof BUILTIN_INTENTS)[number];

export type IntentDefinition = {
  name: string;
  description: string;
  examples: string[];
  threshold: number;
  builtin: boolean;
};

/**
 * The built-in intents with examples in English and Italian. `question` is the fallback when no
 * intent reaches its threshold, so its examples only compete with the others.
 */
export const BUILTIN_DEFINITIONS: IntentDefinition[] = [
  {
    name: 'greeting',
    description: 'A greeting: answered without retrieval',
    threshold: 0.45,
    builtin: true,
    examples: ['hello', 'hi', 'hi there', 'hey', 'good morning', 'good evening', 'ciao', 'buongiorno', 'buonasera', 'salve'],
  },
  {
    name: 'small_talk',
    description: 'Small talk: thanks, how are you, goodbye; answered without retrieval',
    threshold: 0.45,
    builtin: true,
    examples: [
      'how are you',
      'thank you',
      'thanks a lot',
      'goodbye',
      'bye',
      'who are you',
      'come stai',
      'grazie',
      'grazie mille',
      'arrivederci',
      'chi sei',
    ],
  },
  {
    name: 'handoff',
    description: 'The user asks for a human operator: recorded on the conversation',
    threshold: 0.4,
    builtin: true,
    examples: [
      'I want to talk to a human',
      'connect me to an operator',
      'can I speak with a person',
      'I need a real agent',
      'transfer me to customer service',
      'voglio parlare con un operatore',
      'passami un operatore umano',
      'posso parlare con una persona',
    ],
  },
  {
    name: 'crm_action',
    description: 'A request to change CRM data (create a contact, schedule a call, update a deal)',
    threshold: 0.4,
    builtin: true,
    examples: [
      'create a new contact',
      'add a contact named',
      'schedule a call with',
      'update the deal',
      'book a meeting with',
      'crea un nuovo contatto',
      'aggiungi un contatto',
      'fissa una chiamata con',
      'aggiorna la trattativa',
    ],
  },
  {
    name: 'question',
    description: 'A question about the knowledge bases: answered from retrieved passages (the fallback)',
    threshold: 0.3,
    builtin: true,
    examples: [
      'what is the price of',
      'how do I',
      'where can I find',
      'when does it open',
      'explain the policy',
      'quanto costa',
      'come posso',
      'dove trovo',
      'qual è la politica',
    ],
  },
];

export type IntentScore = { intent: string; score: number; threshold: number; matched: boolean; builtin: boolean };
export type Classification = { intent: string; confidence: number; method: 'lexical' | 'embedding'; scores: IntentScore[] };

/** The intent with the highest score among those at or above their threshold; `question` otherwise. */
function decide(
  definitions: IntentDefinition[],
  similarity: (index: number) => number[],
  method: Classification['method'],
): Classification {
  const scores: IntentScore[] = definitions.map((definition, index) => {
    const sims = similarity(index);
    const score = Math.max(0, ...sims);
    const rounded = Math.round(score * 1000) / 1000;
    return {
      intent: definition.name,
      score: rounded,
      threshold: definition.threshold,
      matched: score >= definition.threshold,
      builtin: definition.builtin,
    };
  });
  scores.sort((x, y) => y.score - x.score || x.intent.localeCompare(y.intent));
  const best = scores.find((s) => s.matched);
  return best ? { intent: best.intent, confidence: best.score, method, scores } : { intent: 'question', confidence: 0, method, scores };
}

/** Lexical classification: TF-IDF cosine of the text against every example. */
export function classifyLexical(text: string, definitions: IntentDefinition[]): Classification {
  const corpus = definitions.flatMap((d) => d.examples);
  const model = createTfIdf(corpus);
  const query = model.vectorize(text);
  const offsets: number[] = [];
  let offset = 0;
  for (const d of definitions) {
    offsets.push(offset);
    offset += d.examples.length;
  }
  return decide(
    definitions,
    (index) => {
      const start = offsets[index] as number;
      const count = (definitions[index] as IntentDefinition).examples.length;
      return model.vectors.slice(start, start + count).map((v) => cosine(query, v));
    },
    'lexical',
  );
}

/** Embedding classification: cosine of the text's vector against every example's vector. */
export function classifyByEmbeddings(definitions: IntentDefinition[], textVector: number[], exampleVectors: number[][][]): Classification {
  return decide(definitions, (index) => (exampleVectors[index] ?? []).map((v) => denseCosine(textVector, v)), 'embedding');
}

export type Vocabulary = Array<{ term: string; synonyms: string[] }>;

/**
 * Query expansion with the tenant's domain vocabulary: when a term (or one of its synonyms) occurs
 * in the text, the term and all its synonyms not already present are appended.
 */
export function expandQuery(text: string, vocabulary: Vocabulary): { query: string; added: string[] } {
  const haystack = ` ${words(text).join(' ')} `;
  const added: string[] = [];
  for (const entry of vocabulary) {
    const group = [entry.term, ...entry.synonyms];
    const present = group.some((g) => {
      const n = normalize(g);
      return n && haystack.includes(` ${n} `);
    });
    if (!present) continue;
    for (const g of group) {
      const n = normalize(g);
      if (n && !haystack.includes(` ${n} `) && !added.includes(g)) added.push(g);
    }
  }
  return { query: added.length ? `${text} ${added.join(' ')}` : text, added };
}
