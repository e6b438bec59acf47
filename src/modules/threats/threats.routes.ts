import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams, NullableTimestamp } from '../../platform/http/schemas.ts';
import { origin, tenantPrincipal } from '../../platform/http/request-context.ts';
import type { ThreatService } from './threats.service.ts';

const UserLock = Type.Object({
  id: Type.String({ format: 'uuid' }),
  lockedUntil: NullableTimestamp,
  lockReason: Type.Union([Type.String(), Type.Null()]),
});

const KeySuspension = Type.Object({
  id: Type.String({ format: 'uuid' }),
  suspendedAt: NullableTimestamp,
  suspendReason: Type.Union([Type.String(), Type.Null()]),
});

export const threatRoutes =
  (threats: ThreatService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/v1/users/:id/unlock',
      {
        config: { auth: { kind: 'tenant', permission: 'users.write' } },
        schema: {
          tags: ['security'],
          summary: 'Lift a lock placed on a user by anomaly detection',
          description: 'The user can log in again at once. Recorded as an `account_unlocked` security event.',
          params: IdParams,
          response: { 200: UserLock },
        },
      },
      async (request) => {
        const row = await threats.unlockUser(tenantPrincipal(request), request.params.id, origin(request));
        return { id: row.id, lockedUntil: row.locked_until?.toISOString() ?? null, lockReason: row.lock_reason };
      },
    );

    app.post(
      '/v1/api-keys/:id/reinstate',
      {
        config: { auth: { kind: 'tenant', permission: 'api_keys.write' } },
        schema: {
          tags: ['security'],
          summary: 'Reinstate an API key suspended by anomaly detection',
          description: 'The key works again on the next request, on every node. Recorded as an `api_key_reinstated` security event.',
          params: IdParams,
          response: { 200: KeySuspension },
        },
      },
      async (request) => {
        const row = await threats.reinstateApiKey(tenantPrincipal(request), request.params.id, origin(request));
        return { id: row.id, suspendedAt: row.suspended_at?.toISOString() ?? null, suspendReason: row.suspend_reason };
      },
    );
  };
