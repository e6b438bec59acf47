import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../../platform/errors.ts';

export type LoginThrottleOptions = {
  redisUrl?: string;
  log: FastifyBaseLogger;
  /** Failures of an account before delays start. */
  freeFailures: number;
  /** The longest delay between two attempts on one account, in seconds (the lock is bounded by it). */
  maxDelaySeconds: number;
  /** Failures from one network address in 15 minutes before the address waits 15 minutes. */
  ipFailures: number;
  keyPrefix?: string;
};

/** What a login attempt is counted against: the account as typed, the address, and the pair of both. */
export type LoginAttempt = { account: string; ip: string; device: string; knownDevice: boolean };

const DAY = 24 * 3600;
const IP_WINDOW = 15 * 60;
/**
 * A device (account + address) that logged in successfully is remembered this long (the memory
 * store times entries out with setTimeout, which cannot wait longer than 24.8 days).
 */
const DEVICE_MEMORY = 20 * DAY;
/** Failures a remembered device may make per hour while its account is being throttled. */
const DEVICE_FAILURES = 10;

/**
 * Throttling of failed logins (T13, T14), counted by rate-limiter-flexible in memory or, with
 * REDIS_URL, in Redis so that every node shares the counts.
 *
 * - Per account (tenant slug + email as typed, whether or not it exists, so that an unknown account
 *   is throttled exactly like a real one): the first `freeFailures` failures are free, then each
 *   further attempt must wait 1, 2, 4, … seconds, capped at `maxDelaySeconds`. A throttled attempt
 *   is refused before the password is checked. This is a bounded, progressive delay, never a lock
 *   that lasts: at the cap an attacker gets about 4 guesses an hour (≤ 100 a day, NIST 800-63B-4).
 * - Per network address: `ipFailures` failures in 15 minutes, then 15 minutes of refusal.
 * - Known devices: an address from which the account has logged in successfully in the last 20
 *   days is not held back by the account's delay (nor by its address's limit), so an attacker
 *   elsewhere cannot lock the owner out; such a device has its own budget of 10 failures an hour.
 *   A successful login clears the account's count.
 * Counts are keyed on hashes: no email or address is kept in clear in the store.
 */
export function createLoginThrottle(options: LoginThrottleOptions) {
  const prefix = options.keyPrefix ?? 'palazzo:login';
  let redis: Redis | undefined;
  if (options.redisUrl) {
    redis = new Redis(options.redisUrl, { enableOfflineQueue: false, commandTimeout: 250, maxRetriesPerRequest: 0 });
    redis.on('error', (error: Error) => options.log.warn({ err: error.message }, 'login throttle: Redis error (counting in memory)'));
  }
  const make = (name: string, points: number, duration: number) => {
    const memory = new RateLimiterMemory({ keyPrefix: `${prefix}:${name}`, points, duration });
    if (!redis) return memory;
    return new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:${name}`, points, duration, insuranceLimiter: memory });
  };
  const accountFailures = make('af', 2 ** 30, DAY);
  const accountWait = make('aw', 1, options.maxDelaySeconds);
  const ipFailures = make('if', options.ipFailures, IP_WINDOW);
  const ipWait = make('iw', 1, IP_WINDOW);
  const devices = make('dv', 2 ** 30, DEVICE_MEMORY);
  const deviceFailures = make('df', DEVICE_FAILURES, 3600);

  const hash = (value: string) => createHash('sha256').update(value).digest('base64url').slice(0, 32);

  /** Remaining wait of a key in ms (0: none). A store error counts as no wait: logins keep working. */
  async function waitOf(limiter: RateLimiterMemory | RateLimiterRedis, key: string, points: number): Promise<number> {
    try {
      const res = await limiter.get(key);
      return res && res.consumedPoints > points ? res.msBeforeNext : 0;
    } catch {
      return 0;
    }
  }

  async function count(limiter: RateLimiterMemory | RateLimiterRedis, key: string): Promise<number> {
    try {
      return (await limiter.penalty(key, 1)).consumedPoints;
    } catch (error) {
      // Over its points a limiter rejects with the state: still a count.
      if (error && typeof error === 'object' && 'consumedPoints' in error) return (error as RateLimiterRes).consumedPoints;
      return 0;
    }
  }

  const throttled = (ms: number) => {
    const retryAfter = Math.max(1, Math.ceil(ms / 1000));
    return new AppError('rate_limited', 'too many failed sign-in attempts; wait before trying again', { retryAfter });
  };

  return {
    /** Before any lookup or password check; throws 429 when the attempt must wait. Same work for every account. */
    async check(input: { tenant: string; email: string; ip: string }): Promise<LoginAttempt> {
      const account = hash(`${input.tenant.toLowerCase()}\n${input.email.trim().toLowerCase()}`);
      const ip = hash(input.ip);
      const device = hash(`${account}\n${ip}`);
      const [known, deviceWait, ipBlocked, accountBlocked] = await Promise.all([
        devices.get(device).catch(() => null),
        waitOf(deviceFailures, device, DEVICE_FAILURES),
        waitOf(ipWait, ip, 1),
        waitOf(accountWait, account, 1),
      ]);
      const knownDevice = known !== null && deviceWait === 0;
      if (!knownDevice) {
        const wait = Math.max(ipBlocked, accountBlocked);
        if (wait > 0) throw throttled(wait);
      } else if (deviceWait > 0) {
        throw throttled(deviceWait);
      }
      return { account, ip, device, knownDevice };
    },

    async failed(attempt: LoginAttempt): Promise<void> {
      const [failures, fromIp] = await Promise.all([count(accountFailures, attempt.account), count(ipFailures, attempt.ip)]);
      if (attempt.knownDevice) await count(deviceFailures, attempt.device);
      const over = failures - options.freeFailures;
      try {
        if (over > 0) await accountWait.block(attempt.account, Math.min(2 ** (over - 1), options.maxDelaySeconds));
        if (fromIp >= options.ipFailures) await ipWait.block(attempt.ip, IP_WINDOW);
      } catch (error) {
        options.log.warn({ err: (error as Error).message }, 'login throttle could not record a delay');
      }
    },

    async succeeded(attempt: LoginAttempt): Promise<void> {
      try {
        await Promise.all([
          accountFailures.delete(attempt.account),
          accountWait.delete(attempt.account),
          devices.set(attempt.device, 1, DEVICE_MEMORY),
        ]);
      } catch (error) {
        options.log.warn({ err: (error as Error).message }, 'login throttle could not record a success');
      }
    },

    async close() {
      redis?.disconnect();
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
