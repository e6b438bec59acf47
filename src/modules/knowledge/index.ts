export { type Embedder, type RetrievedPassage, type Retriever, SEARCH_LANGUAGES, type SearchLanguage, searchLanguageOf } from './ports.ts';
export { createRetriever, type KnowledgeRetriever, type KnowledgeSearchResult, REASONS } from './retriever.ts';
export { type QueryExpander, searchRoutes } from './search.routes.ts';
