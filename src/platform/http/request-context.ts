import type { FastifyRequest } from 'fastify';
import type { OperatorPrincipal, Principal, RouteAuth, TenantPrincipal } from '../../modules/access/principal.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The tenant of the verified credential: the only source of tenant ids for tenant routes. */
export function tenantOf(request: FastifyRequest): string {
  return tenantPrincipal(request).tenantId;
}

export function tenantPrincipal(request: FastifyRequest): TenantPrincipal {
  const principal = request.principal;
  if (!principal || principal.kind === 'operator') throw new Error('tenant route reached without a tenant principal');
  return principal;
}

export function operatorPrincipal(request: FastifyRequest): OperatorPrincipal {
  const principal = request.principal;
  if (!principal || principal.kind !== 'operator') throw new Error('operator route reached without an operator');
  return principal;
}

/** Request facts recorded with security events and, later, audit entries. */
export function origin(request: FastifyRequest) {
  return { ip: request.ip, requestId: request.id, userAgent: request.headers['user-agent'] ?? null };
}
