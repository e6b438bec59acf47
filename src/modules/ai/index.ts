export { aiRoutes } from './ai.routes.ts';
export {
  embeddingModelOf,
  languageModelOf,
  PROVIDER_KINDS,
  type ProviderFetch,
  type ProviderKind,
  type ProviderSettings,
} from './models.ts';
export { type Embedder, emptyRetriever, type RetrievalResult, type RetrievedPassage, type Retriever } from './ports.ts';
export { type AiOptions, type AiService, createAiService, isPrivateAddress } from './providers.service.ts';
