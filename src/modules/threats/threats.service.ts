import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { actorOf, type TenantPrincipal } from '../access/index.ts';
import type { Database, Tx } from '../../platform/db/database.ts';
import { AppError, assertId, assertThat, notFound } from '../../platform/errors.ts';
import type { InvalidationBus } from '../../platform/invalidation.ts';
import { insertSecurityEvent } from '../security-events/index.ts';
import { type Anomaly, createAnomalyDetector } from './anomaly-detector.ts';
import { createLoginThrottle, type LoginAttempt } from './login-throttle.ts';
import * as repo from './threats.repo.ts';

type Client = { ip: string | null; requestId: string };

export type ThreatOptions = {
  redisUrl?: string;
  /** Redis key namespace (config.redisPrefix). */
  redisPrefix?: string;
  login: { freeFailures: number; maxDelaySeconds: number; ipFailures: number };
  anomaly: { floor: number; multiplier: number; windowSeconds: number; lockMinutes: number };
};

/**
 * Threat detection (F-B7): login throttling, anomaly detection over refusals and failed logins,
 * and the automatic responses (lock a user, suspend an API key) that a tenant admin can lift.
 */
export function createThreatService(deps: { db: Database; bus: InvalidationBus; log: FastifyBaseLogger; options: ThreatOptions }) {
  const { db, bus, log, options } = deps;
  const throttle = createLoginThrottle({
    redisUrl: options.redisUrl,
    log,
    ...options.login,
    keyPrefix: `${options.redisPrefix ?? 'palazzo'}:login`,
  });
  /** Responses still being written (tests and shutdown wait for them). */
  const pending = new Set<Promise<void>>();

  async function respond(anomaly: Anomaly) {
    const { tenantId, actor } = anomaly;
    const details = {
      signal: anomaly.kind,
      count: anomaly.count,
      threshold: anomaly.threshold,
      baseline: anomaly.baseline,
      windowSeconds: anomaly.windowSeconds,
    };
    type Response = 'none' | 'account_locked' | 'api_key_suspended';
    // Set inside the transaction's callback (the cast keeps TypeScript from narrowing it to 'none').
    let response = 'none' as Response;
    let sessionIds: string[] = [];
    await db.withTenant(tenantId, async (tx) => {
      // Failed logins never lock the targeted account: that would hand attackers a lockout (T13).
      if (actor?.type === 'user' && anomaly.kind !== 'login_failed') {
        const until = new Date(Date.now() + options.anomaly.lockMinutes * 60_000);
        if (await repo.lockUser(tx, actor.id, until, `anomaly:${anomaly.kind}`)) {
          sessionIds = await repo.revokeUserSessions(tx, actor.id, 'account_locked');
          response = 'account_locked';
          await insertSecurityEvent(tx, {
            tenantId,
            type: 'account_locked',
            severity: 'high',
            actorType: 'system',
            ip: anomaly.ip,
            details: { ...details, userId: actor.id, lockedUntil: until.toISOString() },
          });
        }
      } else if (actor?.type === 'api_key') {
        if (await repo.suspendApiKey(tx, actor.id, `anomaly:${anomaly.kind}`)) {
          response = 'api_key_suspended';
          await insertSecurityEvent(tx, {
            tenantId,
            type: 'api_key_suspended',
            severity: 'high',
            actorType: 'system',
            ip: anomaly.ip,
            details: { ...details, apiKeyId: actor.id },
          });
        }
      }
      await insertSecurityEvent(tx, {
        tenantId,
        type: 'anomaly_detected',
        severity: response === 'none' ? 'medium' : 'high',
        actorType: actor?.type ?? null,
        actorId: actor?.id ?? null,
        ip: anomaly.ip,
        details: { ...details, response },
      });
    });
    if (actor?.type === 'user' && response === 'account_locked') {
      await bus.publish({ type: 'user', tenantId, userId: actor.id });
      for (const sessionId of sessionIds) await bus.publish({ type: 'session', tenantId, sessionId });
    }
    if (actor?.type === 'api_key' && response === 'api_key_suspended') {
      await bus.publish({ type: 'api_key', tenantId, apiKeyId: actor.id });
    }
    log.warn({ tenantId, signal: anomaly.kind, actor, response }, 'anomaly detected');
  }

  /** An admin lifts an automatic response: the change and its security event in one transaction; 404 when absent. */
  async function lift<T>(
    actor: TenantPrincipal,
    client: Client,
    type: 'account_unlocked' | 'api_key_reinstated',
    details: Record<string, string>,
    change: (tx: Tx) => Promise<T | undefined>,
    what: string,
  ): Promise<T> {
    return db.withTenant(actor.tenantId, async (tx) => {
      const changed = await change(tx);
      assertThat(changed, notFound(what));
      const who = actorOf(actor);
      await insertSecurityEvent(tx, {
        tenantId: actor.tenantId,
        type,
        severity: 'info',
        actorType: who.type,
        actorId: who.id,
        ip: client.ip,
        requestId: client.requestId,
        details,
      });
      return changed;
    });
  }

  const detector = createAnomalyDetector(options.anomaly, (anomaly) => {
    const work = respond(anomaly)
      .catch((error) => log.error({ err: error }, 'could not respond to an anomaly'))
      .finally(() => pending.delete(work));
    pending.add(work);
  });

  return {
    /** Called by the login code (identity); keeps its edit to three calls. */
    login: {
      before: (input: { tenant: string; email: string; ip: string | null }) =>
        throttle.check({ tenant: input.tenant, email: input.email, ip: input.ip ?? '' }),
      async failed(attempt: LoginAttempt, outcome: { tenantId?: string; userId?: string; ip: string | null }) {
        await throttle.failed(attempt);
        if (outcome.tenantId) {
          detector.record({
            tenantId: outcome.tenantId,
            kind: 'login_failed',
            actor: outcome.userId ? { type: 'user', id: outcome.userId } : null,
            ip: outcome.ip,
          });
        }
      },
      succeeded: (attempt: LoginAttempt) => throttle.succeeded(attempt),
    },

    /**
     * Fastify onError hook: refusals of tenant principals (403 from the guard, the condition guard and
     * the services; cross-tenant probes) feed the detector. In memory: no query on this path.
     */
    async onError(request: FastifyRequest, reply: FastifyReply, error: Error) {
      if (!(error instanceof AppError)) return;
      if (
        (error.code === 'rate_limited' || error.code === 'server_busy') &&
        typeof error.extras.retryAfter === 'number' &&
        !reply.hasHeader('retry-after')
      ) {
        reply.header('retry-after', String(error.extras.retryAfter));
      }
      if (error.status !== 403) return;
      const principal = request.principal;
      if (!principal || principal.kind === 'operator') return;
      const actor = actorOf(principal);
      detector.record({
        tenantId: principal.tenantId,
        kind: error.code === 'tenant_mismatch' ? 'tenant_mismatch' : 'forbidden',
        actor: { type: principal.kind, id: actor.id as string },
        ip: request.ip,
      });
    },

    async unlockUser(actor: TenantPrincipal, id: string, client: Client) {
      assertId(id, 'user');
      return lift(actor, client, 'account_unlocked', { userId: id }, (tx) => repo.unlockUser(tx, id), 'user');
    },

    async reinstateApiKey(actor: TenantPrincipal, id: string, client: Client) {
      assertId(id, 'API key');
      const row = await lift(actor, client, 'api_key_reinstated', { apiKeyId: id }, (tx) => repo.reinstateApiKey(tx, id), 'API key');
      await bus.publish({ type: 'api_key', tenantId: actor.tenantId, apiKeyId: id });
      return row;
    },

    /** Waits for the automatic responses in flight. */
    async settle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },

    async close() {
      await this.settle();
      await throttle.close();
    },
  };
}

export type ThreatService = ReturnType<typeof createThreatService>;
