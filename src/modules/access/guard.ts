import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors.ts';
import type { OperatorPrincipal, TenantPrincipal } from './principal.ts';

export type GuardDeps = {
  resolveApiKey(token: string): Promise<TenantPrincipal | undefined>;
  resolveAccessToken(token: string): Promise<TenantPrincipal | undefined>;
  resolveOperator(token: string): Promise<OperatorPrincipal | undefined>;
  /** Loads the tenant and throws when its status refuses requests (suspended, offboarding, gone). */
  assertTenantActive(tenantId: string): Promise<{ id: string; slug: string }>;
  /** Rate limits and request quotas of the tenant; sets the RateLimit headers, throws 429. */
  admit(request: FastifyRequest, reply: FastifyReply, principal: TenantPrincipal): Promise<void>;
  recordTenantMismatch(request: FastifyRequest, principal: TenantPrincipal, claimed: string): Promise<void>;
  apiKeyPrefix: string;
};

const unauthenticated = () => new AppError('unauthenticated', 'send a bearer token in the Authorization header');
const invalidToken = () => new AppError('invalid_token', 'the credential is not valid, expired or revoked');

/** Credentials are accepted in the Authorization header only; in a URL they end up in logs (T19). */
const QUERY_CREDENTIALS = new Set(['api_key', 'apikey', 'access_token', 'token', 'key']);

function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) throw unauthenticated();
  const match = /^Bearer ([\x21-\x7e]{10,2048})$/.exec(header);
  if (!match) throw invalidToken();
  return match[1] as string;
}

/**
 * The one place that authenticates and authorises a request, from the route's declared `auth`:
 * credential → principal → tenant (active, and agreeing with any X-Tenant-ID) → permission.
 */
export function createGuard(deps: GuardDeps) {
  return async function guard(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const auth = request.routeOptions.config?.auth;
    if (!auth || auth.kind === 'public') return;
    const query = request.query as Record<string, unknown> | undefined;
    if (query && Object.keys(query).some((k) => QUERY_CREDENTIALS.has(k.toLowerCase()))) {
      throw new AppError('validation_failed', 'credentials are accepted only in the Authorization header, never in the URL');
    }
    const token = bearer(request);

    if (auth.kind === 'operator') {
      const operator = await deps.resolveOperator(token);
      if (!operator) throw invalidToken();
      request.principal = operator;
      return;
    }

    const principal = token.startsWith(`${deps.apiKeyPrefix}_`) ? await deps.resolveApiKey(token) : await deps.resolveAccessToken(token);
    if (!principal) throw invalidToken();
    request.principal = principal;
    // Adds the tenant to this request's log lines without building a child logger per request.
    // (pino has setBindings; the silent logger of tests does not.)
    (request.log as { setBindings?: (bindings: Record<string, unknown>) => void }).setBindings?.({ tenantId: principal.tenantId });
    const tenant = await deps.assertTenantActive(principal.tenantId);
    await deps.admit(request, reply, principal);

    const claimed = request.headers['x-tenant-id'];
    if (claimed !== undefined) {
      const value = Array.isArray(claimed) ? claimed.join(',') : claimed;
      if (value !== tenant.id && value !== tenant.slug) {
        await deps.recordTenantMismatch(request, principal, value);
        throw new AppError('tenant_mismatch', 'X-Tenant-ID does not match the tenant of the credential');
      }
    }

    if (auth.permission !== 'authenticated' && !principal.permissions.has(auth.permission)) {
      throw new AppError('forbidden', `this action needs the permission ${auth.permission}`, { permission: auth.permission });
    }
  };
}
