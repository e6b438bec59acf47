export { apiKeyRoutes } from './api-keys.routes.ts';
export { API_KEY_PREFIX, type ApiKeyService, createApiKeyService } from './api-keys.service.ts';
