import { AppError } from '../../platform/errors.ts';
import type { TenantSummary } from './directory.ts';

export { createTenantDirectory, type TenantDirectory, type TenantRateLimits, type TenantSummary } from './directory.ts';
export { TRANSITIONS } from './lifecycle.ts';
export { CONTROL_PLANE_TENANT_COLUMNS, tenantTablesInDeleteOrder } from './purge.ts';
export { findTenantById } from './tenants.repo.ts';
export { operatorTenantRoutes, tenantSelfRoutes } from './tenants.routes.ts';
export { createTenantService, PURGE_JOB, type TenantService } from './tenants.service.ts';
export { BUILTIN_TIERS, type TierLimits } from './tiers.ts';

/** Requests made with a tenant's credentials are refused unless the tenant is active. */
export function assertTenantUsable(tenant: TenantSummary): void {
  if (tenant.status === 'active') return;
  if (tenant.status === 'suspended') throw new AppError('tenant_suspended', 'this tenant is suspended; its data is kept');
  if (tenant.status === 'offboarding') throw new AppError('tenant_offboarding', 'this tenant is being offboarded');
  throw new AppError('invalid_token', 'the credential is not valid');
}
