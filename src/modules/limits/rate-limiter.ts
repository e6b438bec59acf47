import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterRes } from 'rate-limiter-flexible';

/** Counting limiters never refuse by themselves; the caller compares the count with the limit. */
const COUNT_ONLY = 2 ** 31;
export const WINDOW_SECONDS = 60;

export type Decision = { allowed: boolean; limit: number; remaining: number; resetSeconds: number };

export type LimiterStatus = { store: 'memory' | 'redis'; degraded: boolean; degradedSince: string | null };

/**
 * Fixed one-minute windows per key (tenant, user or API key), counted by rate-limiter-flexible:
 * in process memory, or in Redis when REDIS_URL is set so that every node shares one budget.
 * When Redis fails the insurance limiter counts in memory (each node then enforces the limit on
 * its own): requests keep being served, the degradation is logged and shown by /readyz.
 * A key over its limit is remembered locally until its window ends, so a flood is refused
 * without a Redis round trip per request.
 */
export function createRateLimiter(options: { redisUrl?: string; log: FastifyBaseLogger; keyPrefix?: string }) {
  const { log } = options;
  const memory = () => new RateLimiterMemory({ points: COUNT_ONLY, duration: WINDOW_SECONDS });
  let redis: Redis | undefined;
  let degradedSince: Date | null = null;
  let limiter: RateLimiterMemory | RateLimiterRedis;

  const degrade = (reason: string) => {
    if (degradedSince) return;
    degradedSince = new Date();
    log.warn({ reason }, 'rate limiting degraded to per-node memory: Redis is unreachable');
  };

  if (options.redisUrl) {
    redis = new Redis(options.redisUrl, {
      // Fail fast instead of queueing: a request never waits on an unreachable Redis.
      enableOfflineQueue: false,
      commandTimeout: 250,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    redis.on('error', (error: Error) => degrade(error.message));
    redis.on('close', () => degrade('connection closed'));
    redis.on('ready', () => {
      if (degradedSince) log.info('rate limiting back on Redis');
      degradedSince = null;
    });
    limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: options.keyPrefix ?? 'palazzo:rl',
      points: COUNT_ONLY,
      duration: WINDOW_SECONDS,
      insuranceLimiter: memory(),
    });
  } else {
    limiter = memory();
  }

  const blockedUntil = new Map<string, number>();

  return {
    async hit(key: string, limit: number): Promise<Decision> {
      const now = Date.now();
      const until = blockedUntil.get(key);
      if (until !== undefined) {
        if (until > now) return { allowed: false, limit, remaining: 0, resetSeconds: Math.ceil((until - now) / 1000) };
        blockedUntil.delete(key);
      }
      let res: RateLimiterRes;
      try {
        res = await limiter.consume(key, 1);
      } catch (error) {
        // Neither Redis nor the insurance answered: serve rather than fail (T31).
        degrade(error instanceof Error ? error.message : 'limiter error');
        return { allowed: true, limit, remaining: limit, resetSeconds: WINDOW_SECONDS };
      }
      const resetSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      if (res.consumedPoints > limit) {
        blockedUntil.set(key, now + res.msBeforeNext);
        return { allowed: false, limit, remaining: 0, resetSeconds };
      }
      return { allowed: true, limit, remaining: limit - res.consumedPoints, resetSeconds };
    },
    status(): LimiterStatus {
      return { store: redis ? 'redis' : 'memory', degraded: degradedSince !== null, degradedSince: degradedSince?.toISOString() ?? null };
    },
    async close() {
      redis?.disconnect();
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** IETF draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit` structured fields. */
export function rateLimitHeaders(decisions: Array<{ name: string; decision: Decision }>) {
  return {
    'ratelimit-policy': decisions.map(({ name, decision }) => `"${name}";q=${decision.limit};w=${WINDOW_SECONDS}`).join(', '),
    ratelimit: decisions.map(({ name, decision }) => `"${name}";r=${decision.remaining};t=${decision.resetSeconds}`).join(', '),
  };
}
