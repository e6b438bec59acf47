export { type ChunkSettings, chunkDocument } from './chunker.ts';
export { cleanFilename, detectMediaType } from './detect.ts';
export { createIngestion, INGEST_JOB } from './ingestion.ts';
export { knowledgeRoutes } from './knowledge.routes.ts';
export { createKnowledgeService, type KnowledgeService } from './knowledge.service.ts';
export { createParser, type Parser } from './parser-pool.ts';
export { DEFAULT_PARSE_LIMITS, type MediaType, type Parsed, ParseFailure, parseDocument } from './parsers/index.ts';
export { type Embedder, SEARCH_LANGUAGES, type SearchLanguage, searchLanguageOf } from './ports.ts';
