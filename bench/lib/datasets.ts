import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildApp } from '../../src/app.ts';
import { API_KEY_PREFIX } from '../../src/modules/api-keys/index.ts';
import { loadConfig } from '../../src/platform/config.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { createPgliteDatabase } from '../../src/platform/db/pglite.ts';
import { appUrlFrom, createPostgresDatabase } from '../../src/platform/db/postgres.ts';
import { uuidv7 } from '../../src/platform/ids.ts';
import { mintSecret } from '../../src/platform/secrets.ts';

/** One master key per run: the seeding app and the server children must unseal the same signing keys. */
export const MASTER_KEY = randomBytes(32);

const cleanups: Array<() => Promise<void>> = [];

/** Drops every database and removes every directory this run created (last created, first removed). */
export async function cleanupDatasets() {
  while (cleanups.length) {
    const step = cleanups.pop() as () => Promise<void>;
    try {
      await step();
    } catch (error) {
      process.stderr.write(`cleanup failed: ${(error as Error).message}\n`);
    }
  }
}

export async function postgresReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates a database with a unique name (dropped at cleanup) and returns its owner URL. */
export async function createDatabase(adminUrl: string, label: string): Promise<string> {
  const name = `palazzo_bench_${label}_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  cleanups.push(async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await client.query(`DROP DATABASE IF EXISTS ${name}`);
    } finally {
      await client.end();
    }
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `palazzo-bench-${label}-`));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function copyDir(from: string, label: string): string {
  const dir = tempDir(label);
  cpSync(from, dir, { recursive: true });
  return dir;
}

/**
 * Environment for a Palazzo server child on PostgreSQL (databaseUrl) or on PGlite (dataDir). No Redis
 * unless `redisUrl` is given: B1, B2, B8, B10 and fairness are defined with the in-memory rate limiter
 * (B4 is the Redis variant), and a single node needs no invalidation bus.
 */
export function palazzoEnv(target: { databaseUrl?: string; dataDir?: string; redisUrl?: string }): Record<string, string> {
  return {
    PALAZZO_MASTER_KEY: MASTER_KEY.toString('base64'),
    PALAZZO_DATA_DIR: target.dataDir ?? '/tmp/palazzo-bench-unused',
    PALAZZO_LOG_LEVEL: 'silent',
    DATABASE_URL: target.databaseUrl ?? '',
    REDIS_URL: target.redisUrl ?? '',
  };
}

/**
 * Benchmark tenants are on the `custom` tier with limits no benchmark reaches, so the rate-limit and
 * quota checks run on every request (they are part of the measured chain) but never refuse one.
 */
export const BENCH_TIER = 'custom';
export const BENCH_LIMITS = { requestsPerMinute: 1_000_000_000, apiCallsPerMonth: 1_000_000_000_000 };

export type SeededKey = {
  tenantId: string;
  apiKeyId: string;
  key: string;
  /** The tenant's slug and its owner (password BENCH_PASSWORD), when seeded through the API. */
  slug?: string;
  ownerEmail?: string;
};

/** The password of seeded owners (hashed cheaply at seeding; a server with production settings rehashes it at the first login). */
export const BENCH_PASSWORD = 'benchmark passphrase, long enough';

function seedingConfig() {
  // Cheap Argon2 for the few passwords seeding needs; the benchmarks authenticate with API keys only.
  return loadConfig(
    { PALAZZO_DATA_DIR: '/tmp/palazzo-bench-unused', PALAZZO_LOG_LEVEL: 'silent' },
    { masterKey: MASTER_KEY, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } },
  );
}

/**
 * Migrates, retrying a few times: the first migration alters the cluster-wide role `palazzo_app`, and a
 * concurrent migration of another database (other benchmarks, tests) can fail it with "tuple concurrently updated".
 */
async function migrateWithRetry(db: Database) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await migrate(db);
      return;
    } catch (error) {
      if (attempt >= 5 || !/concurrently/.test((error as Error).message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

/** Creates the built-in tiers and signing keys by building the app once. */
async function prepareApp(db: Database) {
  await migrateWithRetry(db);
  return buildApp({ config: seedingConfig(), db, logger: false });
}

export type TenantSpec = { customLimits: Record<string, number> };

/**
 * Tenants created the way a customer gets one: operator login, POST /v1/operator/tenants (custom tier
 * with the given limits), owner login, POST /v1/api-keys (scope api_keys.read). Returns each tenant's key.
 */
export async function seedTenantsThroughApi(db: Database, specs: TenantSpec[]): Promise<SeededKey[]> {
  const { app, services } = await prepareApp(db);
  try {
    const password = BENCH_PASSWORD;
    const email = `bench-${randomBytes(4).toString('hex')}@bench.palazzo`;
    await services.operators.create({ email, name: 'Benchmark operator', password });
    const login = await app.inject({ method: 'POST', url: '/v1/operator/login', payload: { email, password } });
    if (login.statusCode !== 200) throw new Error(`operator login failed: ${login.body}`);
    const operatorAuth = { authorization: `Bearer ${login.json().accessToken}` };
    const seeded: SeededKey[] = [];
    for (const spec of specs) {
      const slug = `bench-${randomBytes(3).toString('hex')}`;
      const ownerEmail = `owner@${slug}.test`;
      const created = await app.inject({
        method: 'POST',
        url: '/v1/operator/tenants',
        headers: operatorAuth,
        payload: {
          slug,
          name: `Benchmark ${slug}`,
          tier: BENCH_TIER,
          customLimits: spec.customLimits,
          owner: { email: ownerEmail, name: 'Owner', password },
        },
      });
      if (created.statusCode !== 201) throw new Error(`tenant creation failed: ${created.body}`);
      const tenantId = created.json().id as string;
      const owner = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant: slug, email: ownerEmail, password } });
      if (owner.statusCode !== 200) throw new Error(`owner login failed: ${owner.body}`);
      const key = await app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: { authorization: `Bearer ${owner.json().accessToken}` },
        payload: { name: 'benchmark key', scopes: ['api_keys.read'] },
      });
      if (key.statusCode !== 201) throw new Error(`API key creation failed: ${key.body}`);
      seeded.push({ tenantId, apiKeyId: key.json().id as string, key: key.json().key as string, slug, ownerEmail });
    }
    return seeded;
  } finally {
    await app.close();
  }
}

/** One tenant with the benchmark limits (never reached), created through the API. */
export async function seedThroughApi(db: Database): Promise<SeededKey> {
  const [seeded] = await seedTenantsThroughApi(db, [{ customLimits: BENCH_LIMITS }]);
  return seeded as SeededKey;
}

/** A migrated PostgreSQL database with one tenant and key, created through the API. */
export async function postgresDataset(adminUrl: string, label: string): Promise<{ url: string; seeded: SeededKey }> {
  const { url, keys } = await postgresTenantsDataset(adminUrl, label, [{ customLimits: BENCH_LIMITS }]);
  return { url, seeded: keys[0] as SeededKey };
}

/** A migrated PostgreSQL database with one tenant and key per spec, created through the API. */
export async function postgresTenantsDataset(
  adminUrl: string,
  label: string,
  specs: TenantSpec[],
): Promise<{ url: string; keys: SeededKey[] }> {
  const url = await createDatabase(adminUrl, label);
  const db = createPostgresDatabase({ ownerUrl: url, appUrl: appUrlFrom(url), poolMax: 2 });
  try {
    return { url, keys: await seedTenantsThroughApi(db, specs) };
  } finally {
    await db.close();
  }
}

/** Two identical PGlite data directories (one per server process: PGlite is single-process). */
export async function pgliteDatasets(): Promise<{ dirA: string; dirB: string; seeded: SeededKey }> {
  const dirA = tempDir('pglite-a');
  const db = await createPgliteDatabase(path.join(dirA, 'pglite'));
  let seeded: SeededKey;
  try {
    seeded = await seedThroughApi(db);
  } finally {
    await db.close();
  }
  return { dirA, dirB: copyDir(dirA, 'pglite-b'), seeded };
}

/**
 * B10 dataset, written directly as the owner: `tenants` active tenants sharing `totalRows` API keys
 * equally (each with one secret row, so api_keys and api_key_secrets hold the same totals whatever
 * the tenant count). The first key of every tenant is real: its secret is returned for the load.
 */
export async function tenantCountDataset(
  adminUrl: string,
  label: string,
  tenants: number,
  totalRows: number,
): Promise<{ url: string; keys: SeededKey[] }> {
  const url = await createDatabase(adminUrl, label);
  const db = createPostgresDatabase({ ownerUrl: url, appUrl: appUrlFrom(url), poolMax: 2 });
  try {
    const { app } = await prepareApp(db);
    await app.close();
  } finally {
    await db.close();
  }
  const perTenant = Math.max(1, Math.floor(totalRows / tenants));
  const keys: SeededKey[] = [];
  const hashes: string[] = [];
  for (let i = 0; i < tenants; i += 1) {
    const tenantId = uuidv7();
    const secret = mintSecret(API_KEY_PREFIX, tenantId);
    keys.push({ tenantId, apiKeyId: uuidv7(), key: secret.value });
    hashes.push(secret.hash);
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const chunk = 5000;
    for (let start = 0; start < tenants; start += chunk) {
      const part = keys.slice(start, start + chunk);
      const tenantIds = part.map((k) => k.tenantId);
      const keyIds = part.map((k) => k.apiKeyId);
      const slugs = part.map((_, i) => `bench-${label.replaceAll('_', '-')}-${start + i}`);
      await client.query(
        `INSERT INTO tenants (id, slug, name, tier, status, custom_limits)
         SELECT id, slug, 'Benchmark ' || slug, $3, 'active', $4 FROM unnest($1::uuid[], $2::text[]) AS t (id, slug)`,
        [tenantIds, slugs, BENCH_TIER, JSON.stringify(BENCH_LIMITS)],
      );
      await client.query(
        `INSERT INTO api_keys (tenant_id, id, name, scopes, hint, created_by_type)
         SELECT tenant_id, id, 'benchmark key', '{api_keys.read}', 'pzk_…bench', 'system' FROM unnest($1::uuid[], $2::uuid[]) AS t (tenant_id, id)`,
        [tenantIds, keyIds],
      );
      await client.query(
        `INSERT INTO api_key_secrets (tenant_id, key_hash, api_key_id)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[])`,
        [tenantIds, hashes.slice(start, start + chunk), keyIds],
      );
    }
    if (perTenant > 1) {
      await client.query(
        `INSERT INTO api_keys (tenant_id, id, name, scopes, hint, created_by_type)
         SELECT t.id, gen_random_uuid(), 'filler ' || g, '{api_keys.read}', 'pzk_…fill', 'system'
         FROM tenants t CROSS JOIN generate_series(1, $1) AS g ORDER BY t.id, g`,
        [perTenant - 1],
      );
      await client.query(
        `INSERT INTO api_key_secrets (tenant_id, key_hash, api_key_id)
         SELECT tenant_id, encode(sha256(convert_to(id::text, 'UTF8')), 'hex'), id FROM api_keys WHERE name LIKE 'filler %'`,
      );
    }
    await client.query('VACUUM ANALYZE');
  } finally {
    await client.end();
  }
  return { url, keys };
}
