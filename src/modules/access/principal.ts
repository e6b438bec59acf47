import type { Condition } from './conditions.ts';
import type { Permission } from './permissions.ts';

export type TenantPrincipal =
  | {
      kind: 'user';
      tenantId: string;
      userId: string;
      sessionId: string;
      roleKey: string;
      permissions: ReadonlySet<string>;
      /** When the session last authenticated (ms since the epoch; null: unknown) and how (step-up). */
      authTime?: number | null;
      amr?: string[];
      /** Set when an operator acts through an impersonation token (F-B8): who, and why. */
      impersonator?: { operatorId: string; reason: string };
      /** Conditional grants by permission (absent: every grant is unconditional). */
      conditions?: ReadonlyMap<string, readonly Condition[]>;
    }
  | {
      kind: 'api_key';
      tenantId: string;
      apiKeyId: string;
      permissions: ReadonlySet<string>;
      conditions?: ReadonlyMap<string, readonly Condition[]>;
    };

export type OperatorPrincipal = { kind: 'operator'; operatorId: string };

export type Principal = TenantPrincipal | OperatorPrincipal;

/**
 * What a route needs before its handler runs. Declared on every route (`config.auth`); a route
 * that declares nothing is refused when the app is built, so none can be forgotten.
 */
export type RouteAuth = { kind: 'public' } | { kind: 'operator' } | { kind: 'tenant'; permission: Permission | 'authenticated' };

export type Actor = { type: 'user' | 'api_key' | 'operator' | 'system'; id: string | null };

export function actorOf(principal: Principal | undefined): Actor {
  if (!principal) return { type: 'system', id: null };
  if (principal.kind === 'user') return { type: 'user', id: principal.userId };
  if (principal.kind === 'api_key') return { type: 'api_key', id: principal.apiKeyId };
  return { type: 'operator', id: principal.operatorId };
}
