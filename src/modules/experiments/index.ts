export { assignVariant, bucketOf } from './assignment.ts';
export { experimentRoutes } from './experiments.routes.ts';
export { createExperimentService, type ExperimentService } from './experiments.service.ts';
export { erfc, normalCdf, twoProportionZTest, wilsonInterval, Z_95 } from './statistics.ts';
