export { type ApiCallMeter, createApiCallMeter } from './api-call-meter.ts';
export { limitOf, METRICS, METRIC_NAMES, type Metric, routeGroup } from './metrics.ts';
export { usageRoutes } from './usage.routes.ts';
export { createUsageService, type UsageService } from './usage.service.ts';
