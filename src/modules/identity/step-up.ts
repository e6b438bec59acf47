import type { FastifyRequest } from 'fastify';
import type { TenantPrincipal } from '../access/index.ts';
import { AppError } from '../../platform/errors.ts';
import { tenantPrincipal } from '../../platform/http/request-context.ts';

/**
 * Scopes that administer the tenant: an API key holding one of them is created only by a user who
 * authenticated recently (step-up), like the other sensitive changes.
 */
export const ADMIN_SCOPES: ReadonlySet<string> = new Set([
  'users.write',
  'api_keys.write',
  'settings.write',
  'config.write',
  'roles.write',
]);

export function hasAdminScope(scopes: readonly string[]): boolean {
  return scopes.some((scope) => ADMIN_SCOPES.has(scope));
}

export type StepUp = ReturnType<typeof createStepUp>;

/**
 * Step-up (ASVS 7.5.3): a sensitive change (email, second factor, password, API keys with admin
 * scopes) needs the session to have authenticated within the tenant's `security.stepUpMinutes`.
 * The session's auth_time is read from the session itself (dropped from every node's cache when it
 * changes), so `POST /v1/auth/reauthenticate` takes effect on the next request with the same token.
 * API keys are not interactive and cannot step up; they are bounded by their scopes instead.
 */
export function createStepUp(deps: { maxAgeMinutes(tenantId: string): Promise<number>; clock?: () => number }) {
  async function assertRecent(principal: TenantPrincipal): Promise<void> {
    if (principal.kind !== 'user') return;
    const minutes = await deps.maxAgeMinutes(principal.tenantId);
    const now = deps.clock?.() ?? Date.now();
    const authTime = principal.authTime ?? null;
    if (authTime !== null && now - authTime <= minutes * 60_000) return;
    throw new AppError('step_up_required', `this change needs an authentication within the last ${minutes} minutes`, {
      maxAgeSeconds: minutes * 60,
      reauthenticate: '/v1/auth/reauthenticate',
    });
  }
  return {
    assertRecent,
    /** For route handlers: `await stepUp.requireRecentAuth(request)` before a sensitive change. */
    requireRecentAuth: (request: FastifyRequest) => assertRecent(tenantPrincipal(request)),
  };
}
