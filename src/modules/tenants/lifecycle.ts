import type { TenantStatus } from './tenants.repo.ts';

/** The tenant lifecycle (SPEC F-A2). Anything not listed here is refused with 409 invalid_transition. */
export const TRANSITIONS = {
  activate: { from: ['provisioning'], to: 'active' },
  suspend: { from: ['active'], to: 'suspended' },
  resume: { from: ['suspended', 'offboarding'], to: 'active' },
  offboard: { from: ['active', 'suspended'], to: 'offboarding' },
  purge: { from: ['offboarding'], to: 'deleted' },
} as const satisfies Record<string, { from: readonly TenantStatus[]; to: TenantStatus }>;

export type Transition = keyof typeof TRANSITIONS;

export function canTransition(action: Transition, from: TenantStatus): boolean {
  return (TRANSITIONS[action].from as readonly TenantStatus[]).includes(from);
}
