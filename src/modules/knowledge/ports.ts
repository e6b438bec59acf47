/**
 * What the knowledge module offers and consumes. The types are the AI layer's (src/modules/ai/ports.ts):
 * the knowledge module implements `Retriever` and consumes `Embedder`; the assistant consumes both.
 */
export type { Embedder, RetrievalResult, RetrievedPassage, Retriever } from '../ai/ports.ts';

/** Text-search configurations a knowledge base can use (migration 0012). */
export const SEARCH_LANGUAGES = ['english', 'italian', 'simple'] as const;
export type SearchLanguage = (typeof SEARCH_LANGUAGES)[number];

/** The text-search configuration for a locale ('it', 'it-IT' → italian); unknown languages use 'simple'. */
export function searchLanguageOf(locale: string | null | undefined): SearchLanguage {
  const language = (locale ?? '').slice(0, 2).toLowerCase();
  if (language === 'en') return 'english';
  if (language === 'it') return 'italian';
  return 'simple';
}
