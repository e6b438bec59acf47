export { createRateLimiter, type Decision, type RateLimiter, rateLimitHeaders, WINDOW_SECONDS } from './rate-limiter.ts';
export { createAdmission } from './admission.ts';
