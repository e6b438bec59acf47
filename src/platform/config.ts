import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';

/** Process configuration, read once from the environment and validated with clear messages. */
export type Config = {
  port: number;
  host: string;
  publicUrl: string;
  dataDir: string;
  /** PostgreSQL URL used for migrations (the owner role). Unset: embedded PGlite in dataDir. */
  databaseUrl: string | undefined;
  /** PostgreSQL URL the server logs in with for requests (the restricted role). */
  appDatabaseUrl: string | undefined;
  appDbPassword: string | undefined;
  redisUrl: string | undefined;
  /** Namespace of the counters this instance keeps in Redis (several instances or test runs may share one Redis). */
  redisPrefix: string;
  masterKey: Buffer;
  operatorEmail: string | undefined;
  operatorPassword: string | undefined;
  logLevel: string;
  trustProxy: boolean | string;
  bodyLimit: number;
  requestTimeoutMs: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  offboardGraceDays: number;
  apiKeyCacheTtlMs: number;
  jobPollMs: number;
  /** A job left `running` this long by a crashed worker is claimed again (PALAZZO_JOB_STALE_SECONDS). */
  jobStaleSeconds: number;
  /** Knowledge ingestion (F-E1): largest upload, and the parser worker's time and memory limits. */
  knowledge: {
    maxFileBytes: number;
    parseTimeoutMs: number;
    parseMemoryMb: number;
    /** Tenants with at most this many vectors (of one model) are searched exactly, larger ones through HNSW. */
    exactSearchMaxVectors?: number;
  };
  /** How often in-memory API-call counts are written (the most a crash can lose). */
  usageFlushMs: number;
  /** Counting API calls per request (PALAZZO_METERING=off turns it off; for benchmark B8 only). */
  metering: boolean;
  issuer: string;
  /** Argon2id cost; defaults are OWASP's minimum (m=19 MiB, t=2, p=1). */
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
  /**
   * Argon2id computations (login, password changes) allowed at once, and how many more may wait;
   * beyond that a sign-in answers 503 server_busy with Retry-After, so a login storm cannot take
   * every core from the API (OWASP Password Storage: limit concurrent hashing).
   */
  passwordHashing: { concurrency: number; queue: number };
  poolMax: number;
  /** Tenants' public pages answer at `<slug>.<baseDomain>` when set (custom domains work without it). */
  baseDomain: string | undefined;
  /** Longest wait for an AI provider call (chat first token, embeddings) before degrading. */
  aiTimeoutMs: number;
  /** Tenants may point an OpenAI-compatible base URL at loopback or private addresses (self-hosted Ollama/vLLM). */
  aiAllowPrivateUrls: boolean;
  /**
   * Accept OpenID Connect issuers over plain http (PALAZZO_SSO_ALLOW_HTTP=true). Off by default:
   * for development and tests against a provider on loopback only.
   */
  ssoAllowHttp: boolean;
  /** Threat detection (F-B7): login throttling and anomaly detection (README "Threat detection"). */
  threats: {
    login: { freeFailures: number; maxDelaySeconds: number; ipFailures: number };
    anomaly: { floor: number; multiplier: number; windowSeconds: number; lockMinutes: number };
  };
  /** Outbound mail over SMTP (nodemailer URL); unset: mail is kept in the outbox for operators. */
  smtpUrl: string | undefined;
  /** The From of outbound mail. */
  mailFrom: string;
  /** Self-service signup (POST /v1/auth/signup); PALAZZO_SIGNUP=off refuses it. */
  signup: boolean;
  /** Signups and password-reset requests per client address per minute. */
  signupPerMinute: number;
};

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(' or ')}, got ${parsed.protocol}`);
  }
  return raw;
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'on') return true;
  if (raw === 'off') return false;
  throw new ConfigError(`${name} must be on or off, got "${raw}"`);
}

/** A DNS name such as `palazzo.example.com` (lower-cased, no scheme, port or trailing dot). */
function hostname(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  const value = raw.trim().toLowerCase().replace(/\.$/, '');
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
  if (value.length > 253 || value.split('.').length < 2 || !value.split('.').every((l) => label.test(l))) {
    throw new ConfigError(`${name} must be a DNS name such as palazzo.example.com, got "${raw}"`);
  }
  return value;
}

/**
 * The master key encrypts secrets at rest (signing keys now; provider keys and SSO secrets later).
 * From PALAZZO_MASTER_KEY (base64 of 32 bytes) or, for a single-node install, a file created once in
 * the data directory. Several nodes must share PALAZZO_MASTER_KEY.
 */
function masterKey(env: Env, dataDir: string): Buffer {
  const raw = env.PALAZZO_MASTER_KEY;
  if (raw) {
    const key = Buffer.from(raw, 'base64');
    if (key.length !== 32) throw new ConfigError('PALAZZO_MASTER_KEY must be base64 of exactly 32 bytes');
    return key;
  }
  const file = path.join(dataDir, 'master.key');
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new ConfigError(`${file} does not hold base64 of 32 bytes`);
    return key;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64'), { mode: 0o600 });
  return key;
}

export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const port = int(env, 'PORT', 3000, 0, 65535);
  const host = env.HOST ?? '127.0.0.1';
  const dataDir = path.resolve(env.PALAZZO_DATA_DIR ?? './data');
  const trustRaw = env.PALAZZO_TRUST_PROXY;
  const config: Config = {
    port,
    host,
    publicUrl: (url(env, 'PALAZZO_PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(/\/$/, ''),
    dataDir,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    appDatabaseUrl: url(env, 'PALAZZO_APP_DATABASE_URL', ['postgres:', 'postgresql:']),
    appDbPassword: env.PALAZZO_APP_DB_PASSWORD || undefined,
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redisPrefix: env.PALAZZO_REDIS_PREFIX?.trim() || 'palazzo',
    masterKey: overrides.masterKey ?? masterKey(env, dataDir),
    operatorEmail: env.PALAZZO_OPERATOR_EMAIL || undefined,
    operatorPassword: env.PALAZZO_OPERATOR_PASSWORD || undefined,
    logLevel: env.PALAZZO_LOG_LEVEL ?? env.LOG_LEVEL ?? 'info',
    trustProxy: trustRaw === undefined || trustRaw === '' || trustRaw === 'false' ? false : trustRaw === 'true' ? true : trustRaw,
    bodyLimit: int(env, 'PALAZZO_BODY_LIMIT', 1024 * 1024, 1024, 100 * 1024 * 1024),
    requestTimeoutMs: int(env, 'PALAZZO_REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000),
    accessTokenTtlSeconds: int(env, 'PALAZZO_ACCESS_TOKEN_TTL', 900, 60, 3600),
    refreshTokenTtlSeconds: int(env, 'PALAZZO_REFRESH_TOKEN_TTL', 30 * 24 * 3600, 3600, 90 * 24 * 3600),
    offboardGraceDays: int(env, 'PALAZZO_OFFBOARD_GRACE_DAYS', 30, 0, 365),
    apiKeyCacheTtlMs: int(env, 'PALAZZO_API_KEY_CACHE_MS', 30_000, 0, 300_000),
    jobPollMs: int(env, 'PALAZZO_JOB_POLL_MS', 1000, 10, 60_000),
    jobStaleSeconds: int(env, 'PALAZZO_JOB_STALE_SECONDS', 300, 1, 86_400),
    knowledge: {
      maxFileBytes: int(env, 'PALAZZO_KNOWLEDGE_MAX_FILE_BYTES', 20 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      parseTimeoutMs: int(env, 'PALAZZO_KNOWLEDGE_PARSE_TIMEOUT_MS', 60_000, 100, 3_600_000),
      parseMemoryMb: int(env, 'PALAZZO_KNOWLEDGE_PARSE_MEMORY_MB', 512, 32, 16_384),
      exactSearchMaxVectors: int(env, 'PALAZZO_EXACT_SEARCH_MAX_VECTORS', 10_000, 0, 10_000_000),
    },
    usageFlushMs: int(env, 'PALAZZO_USAGE_FLUSH_MS', 5000, 100, 60_000),
    metering: env.PALAZZO_METERING !== 'off',
    issuer: env.PALAZZO_ISSUER ?? 'palazzo',
    argon2: {
      memoryCost: int(env, 'PALAZZO_ARGON2_MEMORY_KIB', 19_456, 8, 1_048_576),
      timeCost: int(env, 'PALAZZO_ARGON2_ITERATIONS', 2, 1, 20),
      parallelism: int(env, 'PALAZZO_ARGON2_PARALLELISM', 1, 1, 16),
    },
    passwordHashing: {
      // Half the cores by default (at least one): the other half keeps serving the API.
      concurrency: int(env, 'PALAZZO_HASH_CONCURRENCY', Math.max(1, Math.floor(os.availableParallelism() / 2)), 1, 256),
      queue: int(env, 'PALAZZO_HASH_QUEUE', 200, 0, 100_000),
    },
    poolMax: int(env, 'PALAZZO_DB_POOL_MAX', 10, 1, 200),
    baseDomain: hostname(env, 'PALAZZO_BASE_DOMAIN'),
    aiTimeoutMs: int(env, 'PALAZZO_AI_TIMEOUT_MS', 20_000, 100, 600_000),
    aiAllowPrivateUrls: env.PALAZZO_AI_ALLOW_PRIVATE_URLS === 'true',
    ssoAllowHttp: env.PALAZZO_SSO_ALLOW_HTTP === 'true',
    threats: {
      login: {
        freeFailures: int(env, 'PALAZZO_LOGIN_FREE_FAILURES', 5, 1, 100),
        maxDelaySeconds: int(env, 'PALAZZO_LOGIN_MAX_DELAY_SECONDS', 900, 1, 86_400),
        ipFailures: int(env, 'PALAZZO_LOGIN_IP_FAILURES', 100, 1, 100_000),
      },
      anomaly: {
        floor: int(env, 'PALAZZO_ANOMALY_FLOOR', 100, 1, 1_000_000),
        multiplier: int(env, 'PALAZZO_ANOMALY_MULTIPLIER', 5, 1, 1000),
        windowSeconds: int(env, 'PALAZZO_ANOMALY_WINDOW_SECONDS', 600, 10, 86_400),
        lockMinutes: int(env, 'PALAZZO_ANOMALY_LOCK_MINUTES', 60, 1, 10_080),
      },
    },
    smtpUrl: url(env, 'PALAZZO_SMTP_URL', ['smtp:', 'smtps:']),
    mailFrom: env.PALAZZO_MAIL_FROM || 'Palazzo <no-reply@palazzo.local>',
    signup: onOff(env, 'PALAZZO_SIGNUP', true),
    signupPerMinute: int(env, 'PALAZZO_SIGNUP_RATE', 5, 1, 10_000),
    ...overrides,
  };
  if (config.operatorPassword !== undefined && config.operatorPassword.length < 15) {
    throw new ConfigError('PALAZZO_OPERATOR_PASSWORD must be at least 15 characters');
  }
  return config;
}
