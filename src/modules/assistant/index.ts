export { assistantRoutes } from './assistant.routes.ts';
export { type AssistantService, type ChatEvent, createAssistantService } from './assistant.service.ts';
export { BUILTIN_INTENTS, classifyLexical, expandQuery } from './intents.ts';
