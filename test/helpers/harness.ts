import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type BuildOptions, buildApp, type Palazzo } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/platform/config.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { createPgliteDatabase } from '../../src/platform/db/pglite.ts';
import { appUrlFrom, createPostgresDatabase } from '../../src/platform/db/postgres.ts';

export const OPERATOR = { email: 'operator@test.palazzo', password: 'operator passphrase for tests' };
export const PASSWORD = 'a long enough test passphrase';

export type Backend = 'pglite' | 'postgres';

export function backend(): Backend {
  return inject('testDatabaseUrl') ? 'postgres' : 'pglite';
}

/** A database for one test file: its own PGlite, or the run's PostgreSQL database. */
/**
 * On PostgreSQL each test file gets a database of its own, copied from the run's migrated one: files
 * run in parallel, and a shared database would let one file's job runner deliver another file's mail
 * or ingest its documents, and let one file's rows show in another's scans. The apps of one file
 * (multi-node tests) share the file's database. The run's teardown drops them all.
 */
let fileDatabase: Promise<string> | undefined;

async function fileDatabaseUrl(runUrl: string): Promise<string> {
  const url = new URL(runUrl);
  const template = url.pathname.slice(1);
  const name = `${template}_f${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: runUrl.replace(`/${template}`, '/postgres') });
  await admin.connect();
  try {
    // Copies of one template cannot start while another copy of it is being made: retry briefly.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
        break;
      } catch (error) {
        if (attempt >= 40 || !/being accessed by other users/.test((error as Error).message)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  url.pathname = `/${name}`;
  return url.toString();
}

export async function openTestDatabase(options: { poolMax?: number } = {}): Promise<Database> {
  const runUrl = inject('testDatabaseUrl');
  if (runUrl) {
    fileDatabase ??= fileDatabaseUrl(runUrl);
    const url = await fileDatabase;
    return createPostgresDatabase({ ownerUrl: url, appUrl: appUrlFrom(url), poolMax: options.poolMax ?? 5 });
  }
  const db = await createPgliteDatabase();
  await migrate(db);
  return db;
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return loadConfig(
    {
      PALAZZO_DATA_DIR: '/tmp/palazzo-test-unused',
      REDIS_URL: process.env.REDIS_URL,
      // Redis counters (login throttle) of this app alone: other apps, files and earlier runs on the
      // same Redis do not share them (every test signs in from 127.0.0.1). Pass `redisPrefix` to share.
      PALAZZO_REDIS_PREFIX: `palazzo-test-${process.pid}-${randomBytes(4).toString('hex')}`,
      PALAZZO_LOG_LEVEL: 'silent',
    },
    { masterKey: Buffer.from(inject('testMasterKey'), 'base64'), ...overrides },
  );
}

export type TestTenant = {
  id: string;
  slug: string;
  ownerEmail: string;
  /** Owner's access token. */
  token: string;
  refreshToken: string;
  auth: { authorization: string };
};

export type TestContext = {
  palazzo: Palazzo;
  app: Palazzo['app'];
  db: Database;
  operatorToken: string;
  operatorAuth: { authorization: string };
  /** Creates a tenant through the operator API and logs its owner in. */
  tenant(options?: { slug?: string; tier?: string; customLimits?: Record<string, unknown> }): Promise<TestTenant>;
  /** Creates a user with the given role in the tenant and logs them in. */
  user(
    tenant: TestTenant,
    role: string,
  ): Promise<{ id: string; email: string; token: string; refreshToken: string; auth: { authorization: string } }>;
  apiKey(tenant: TestTenant, scopes: string[]): Promise<{ id: string; key: string; auth: { authorization: string } }>;
  /**
   * The DNS the app sees for TXT lookups (custom-domain verification): name → records, or an error
   * to throw. A name that is absent answers ENOTFOUND. Tests never reach real DNS.
   */
  dns: Map<string, string[][] | Error>;
  close(): Promise<void>;
};

let counter = 0;
export function uniqueSlug(prefix = 't'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

export async function createTestContext(
  options: {
    config?: Partial<Config>;
    db?: Database;
    build?: Pick<BuildOptions, 'retriever' | 'embedder' | 'clock' | 'sendOneTimeCode'>;
    logger?: BuildOptions['logger'];
  } = {},
): Promise<TestContext> {
  const db = options.db ?? (await openTestDatabase());
  const config = testConfig(options.config);
  const dns = new Map<string, string[][] | Error>();
  const resolveTxt = async (name: string) => {
    const answer = dns.get(name);
    if (answer instanceof Error) throw answer;
    if (!answer) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return answer;
  };
  const palazzo = await buildApp({ config, db, resolveTxt, logger: options.logger, ...options.build });
  const app = palazzo.app;
  const operatorEmail = `op-${uniqueSlug()}@test.palazzo`;
  await palazzo.services.operators.create({ email: operatorEmail, name: 'Test operator', password: OPERATOR.password });
  const login = await app.inject({
    method: 'POST',
    url: '/v1/operator/login',
    payload: { email: operatorEmail, password: OPERATOR.password },
  });
  if (login.statusCode !== 200) throw new Error(`operator login failed: ${login.body}`);
  const operatorToken = login.json().accessToken as string;
  const operatorAuth = { authorization: `Bearer ${operatorToken}` };

  async function loginUser(slug: string, email: string) {
    const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { tenant: slug, email, password: PASSWORD } });
    if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`);
    const body = res.json();
    return { token: body.accessToken as string, refreshToken: body.refreshToken as string };
  }

  return {
    palazzo,
    app,
    db,
    dns,
    operatorToken,
    operatorAuth,
    async tenant(opts = {}) {
      const slug = opts.slug ?? uniqueSlug();
      const ownerEmail = `owner@${slug}.test`;
      const res = await app.inject({
        method: 'POST',
        url: '/v1/operator/tenants',
        headers: operatorAuth,
        payload: {
          slug,
          name: `Tenant ${slug}`,
          tier: opts.tier ?? 'enterprise',
          ...(opts.customLimits ? { customLimits: opts.customLimits } : {}),
          owner: { email: ownerEmail, name: 'Owner', password: PASSWORD },
        },
      });
      if (res.statusCode !== 201) throw new Error(`tenant creation failed: ${res.body}`);
      const id = res.json().id as string;
      const tokens = await loginUser(slug, ownerEmail);
      return { id, slug, ownerEmail, ...tokens, auth: { authorization: `Bearer ${tokens.token}` } };
    },
    async user(tenant, role) {
      const email = `${role}-${uniqueSlug()}@${tenant.slug}.test`;
      const res = await app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: tenant.auth,
        payload: { email, name: `${role} user`, role, password: PASSWORD },
      });
      if (res.statusCode !== 201) throw new Error(`user creation failed: ${res.body}`);
      const tokens = await loginUser(tenant.slug, email);
      return { id: res.json().id as string, email, ...tokens, auth: { authorization: `Bearer ${tokens.token}` } };
    },
    async apiKey(tenant, scopes) {
      const res = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: tenant.auth, payload: { name: 'test key', scopes } });
      if (res.statusCode !== 201) throw new Error(`api key creation failed: ${res.body}`);
      const body = res.json();
      return { id: body.id as string, key: body.key as string, auth: { authorization: `Bearer ${body.key}` } };
    },
    async close() {
      await app.close();
      if (!options.db) await db.close();
    },
  };
}
