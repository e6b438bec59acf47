import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors.ts';
import type { TenantPrincipal } from '../access/index.ts';
import type { ApiCallMeter } from '../metering/index.ts';
import type { TenantDirectory } from '../tenants/index.ts';
import { type Decision, type RateLimiter, rateLimitHeaders } from './rate-limiter.ts';

function nextMonth(now = new Date()): string {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString();
}

/**
 * Admission of a tenant request (F-H2, F-A6): the tier's requests per minute for the whole tenant,
 * then the tenant's own per-user or per-key limit, then the monthly API-call quota. Every
 * response carries the RateLimit fields; a refusal is 429 with Retry-After.
 */
export function createAdmission(deps: { limiter: RateLimiter; meter: ApiCallMeter; directory: TenantDirectory }) {
  return async function admit(_request: FastifyRequest, reply: FastifyReply, principal: TenantPrincipal): Promise<void> {
    const tenant = await deps.directory.get(principal.tenantId);
    if (!tenant) return;
    const checks: Array<{ name: string; key: string; limit: number }> = [];
    if (tenant.limits.requestsPerMinute !== null) {
      checks.push({ name: 'tenant', key: `t:${tenant.id}`, limit: tenant.limits.requestsPerMinute });
    }
    if (principal.kind === 'user' && tenant.rateLimits.perUserPerMinute !== null) {
      checks.push({ name: 'user', key: `u:${tenant.id}:${principal.userId}`, limit: tenant.rateLimits.perUserPerMinute });
    }
    if (principal.kind === 'api_key' && tenant.rateLimits.perApiKeyPerMinute !== null) {
      checks.push({ name: 'api_key', key: `k:${tenant.id}:${principal.apiKeyId}`, limit: tenant.rateLimits.perApiKeyPerMinute });
    }
    const decisions: Array<{ name: string; decision: Decision }> = [];
    for (const check of checks) {
      decisions.push({ name: check.name, decision: await deps.limiter.hit(check.key, check.limit) });
    }
    if (decisions.length > 0) reply.headers(rateLimitHeaders(decisions));
    const refused = decisions.find(({ decision }) => !decision.allowed);
    if (refused) {
      reply.header('retry-after', String(refused.decision.resetSeconds));
      throw new AppError('rate_limited', `the ${refused.name} limit of ${refused.decision.limit} requests per minute is used up`, {
        limit: refused.decision.limit,
        scope: refused.name,
        retryAfter: refused.decision.resetSeconds,
      });
    }
    const quota = tenant.limits.apiCallsPerMonth;
    if (quota !== null) {
      const used = await deps.meter.monthUsed(tenant.id);
      if (used >= quota) {
        const resetsAt = nextMonth();
        reply.header('retry-after', String(Math.max(1, Math.ceil((Date.parse(resetsAt) - Date.now()) / 1000))));
        throw new AppError('quota_exceeded', `the monthly quota of ${quota} API calls is used up`, {
          metric: 'api_calls',
          limit: quota,
          used,
          resetsAt,
        });
      }
    }
  };
}
