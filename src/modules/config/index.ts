export { BUILTIN_DEFAULTS, BUILTIN_PROFILES } from './config.defaults.ts';
export { configRoutes } from './config.routes.ts';
export type { ConfigDocument, EffectiveConfig } from './config.schema.ts';
export { type ConfigService, createConfigService, type EffectiveEntry } from './config.service.ts';
export { type Level, LEVELS } from './document.ts';
export { cohortPoint, createRequestErrorTracker, inCohort, type RequestErrorSource, type RequestErrorTracker } from './rollouts.ts';
