export { type Anomaly, type AnomalyDetector, createAnomalyDetector, type Signal } from './anomaly-detector.ts';
export { createLoginThrottle, type LoginAttempt, type LoginThrottle } from './login-throttle.ts';
export { threatRoutes } from './threats.routes.ts';
export { createThreatService, type ThreatOptions, type ThreatService } from './threats.service.ts';
