import { Type } from 'typebox';
import { NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';

export const ChatBody = Type.Object(
  {
    message: Type.String({ minLength: 1, maxLength: 8000, description: 'What the user says' }),
    conversationId: Type.Optional(Type.String({ maxLength: 100, description: 'Continue this conversation; absent: start a new one' })),
  },
  { additionalProperties: false },
);

export const ChatStream = Type.String({
  description: [
    'A text/event-stream. Events, in order:',
    '`meta` {conversationId, messageId, mode: generative | extractive | scripted, intent, language, retrieval {mode, reason?, expandedQuery?}, degradedReason?};',
    '`delta` {text} (one or more);',
    '`citations` {citations: [{index, chunkId, documentId, knowledgeBaseId, title, start, end, score, snippet}]};',
    '`done` {conversationId, messageId, mode, usage {inputTokens, outputTokens, totalTokens}, degradedReason?, memorySaved? {id, content} (after "remember that …")}.',
    'An `error` event {code, message} reports an answer cut short; it never carries internals.',
    'degradedReason: provider_timeout | provider_error | provider_unreachable | provider_blocked (the answer is extractive).',
  ].join(' '),
});

export const Conversation = Type.Object({
  id: Type.String({ format: 'uuid' }),
  title: Type.String(),
  lastIntent: Type.Union([Type.String(), Type.Null()]),
  handoffRequestedAt: NullableTimestamp,
  handoffReason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const CitationView = Type.Object({
  index: Type.Integer(),
  chunkId: Type.String(),
  documentId: Type.String(),
  knowledgeBaseId: Type.String(),
  title: Type.String(),
  start: Type.Integer(),
  end: Type.Integer(),
  score: Type.Number(),
  snippet: Type.String(),
});

export const Message = Type.Object({
  id: Type.String({ format: 'uuid' }),
  role: Type.Union([Type.Literal('user'), Type.Literal('assistant')]),
  content: Type.String(),
  mode: Type.Union([Type.String(), Type.Null()]),
  intent: Type.Union([Type.String(), Type.Null()]),
  citations: Type.Array(CitationView),
  degradedReason: Type.Union([Type.String(), Type.Null()]),
  usage: Type.Union([Type.Object({ inputTokens: Type.Number(), outputTokens: Type.Number(), totalTokens: Type.Number() }), Type.Null()]),
  createdAt: Timestamp,
});

export const Memory = Type.Object({
  id: Type.String({ format: 'uuid' }),
  content: Type.String(),
  source: Type.Union([Type.Literal('explicit'), Type.Literal('tool')]),
  createdAt: Timestamp,
});

const IntentName = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'Lower-case letters, digits and _' });
const Examples = Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { minItems: 1, maxItems: 100 });
const Threshold = Type.Number({
  minimum: 0,
  maximum: 1,
  description: 'The similarity (cosine, lexical or embedding) at or above which the intent is chosen',
});

export const Intent = Type.Object({
  id: Type.Union([Type.String(), Type.Null()], { description: 'null for a built-in intent' }),
  name: Type.String(),
  description: Type.String(),
  examples: Type.Array(Type.String()),
  threshold: Type.Number(),
  builtin: Type.Boolean(),
  createdAt: NullableTimestamp,
  updatedAt: NullableTimestamp,
});

export const CreateIntentBody = Type.Object(
  {
    name: IntentName,
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    examples: Examples,
    threshold: Type.Optional(Threshold),
  },
  { additionalProperties: false },
);

export const UpdateIntentBody = Type.Object(
  { description: Type.Optional(Type.String({ maxLength: 1000 })), examples: Type.Optional(Examples), threshold: Type.Optional(Threshold) },
  { additionalProperties: false, minProperties: 1 },
);

export const IntentTestBody = Type.Object({ text: Type.String({ minLength: 1, maxLength: 8000 }) }, { additionalProperties: false });

export const IntentTestResult = Type.Object({
  intent: Type.String({ description: 'The chosen intent: the best one at or above its threshold, else question' }),
  confidence: Type.Number(),
  method: Type.Union([Type.Literal('lexical'), Type.Literal('embedding')]),
  scores: Type.Array(
    Type.Object({
      intent: Type.String(),
      score: Type.Number(),
      threshold: Type.Number(),
      matched: Type.Boolean(),
      builtin: Type.Boolean(),
    }),
  ),
  expandedQuery: Type.String({ description: 'The query retrieval would run, after expansion with the domain vocabulary' }),
  addedTerms: Type.Array(Type.String()),
});

const VocabularyEntry = Type.Object(
  {
    term: Type.String({ minLength: 1, maxLength: 100 }),
    synonyms: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: 20 }),
  },
  { additionalProperties: false },
);

export const Vocabulary = Type.Object({ entries: Type.Array(VocabularyEntry) });
export const PutVocabularyBody = Type.Object(
  { entries: Type.Array(VocabularyEntry, { maxItems: 500, description: 'Replaces the whole vocabulary' }) },
  { additionalProperties: false },
);
