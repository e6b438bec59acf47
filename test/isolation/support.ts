/**
 * Shared pieces of the tenant-isolation suite: the tenant tables read from the catalog, a seeder
 * that gives a tenant rows in every one of them through the public API, rolled-back owner
 * transactions and savepoint probes.
 */
import { randomUUID } from 'node:crypto';
import { type TOTP, URI } from 'otpauth';
import { expect } from 'vitest';
import { CONTROL_PLANE_TENANT_COLUMNS } from '../../src/modules/tenants/index.ts';
import type { Database, Tx } from '../../src/platform/db/database.ts';
import { PASSWORD, type TestContext, type TestTenant } from '../helpers/harness.ts';

export const APP_ROLE = 'palazzo_app';

/** Control-plane tables that have a tenant_id column, with the reason each is not tenant-owned. */
export const CONTROL_PLANE_WITH_TENANT_ID: Record<string, string> = {
  jobs: 'durable job queue shared by every node; a job names its tenant and the worker re-enters withTenant for tenant work',
  verified_domains:
    'hostname routing: one tenant per verified hostname across the instance, read before any tenant context exists (public pages by Host)',
  mail_outbox:
    'outbound mail queue of the instance (transactional outbox), read by operators across tenants and by the delivery job; bodies sealed with the master key; no tenant route reads it',
};

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** Quotes a catalog name for SQL after checking it is a plain lower-case identifier. */
export function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`unexpected identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** Every ordinary or partitioned table of schema public with a tenant_id column. */
export async function tablesWithTenantId(tx: Tx): Promise<string[]> {
  const { rows } = await tx.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
  );
  return rows.map((row) => row.name);
}

/** The tenant-owned tables: every table with tenant_id except the control-plane allowlist. */
export async function tenantTables(tx: Tx): Promise<string[]> {
  const all = await tablesWithTenantId(tx);
  const controlPlane = new Set<string>(CONTROL_PLANE_TENANT_COLUMNS);
  return all.filter((name) => !controlPlane.has(name));
}

export async function countRows(db: Database, table: string, tenantId: string): Promise<number> {
  const { rows } = await db.withOwner((tx) =>
    tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(table)} WHERE tenant_id = $1`, [tenantId]),
  );
  return rows[0]?.n ?? 0;
}

export async function countsByTable(db: Database, tables: string[], tenantId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) counts[table] = await countRows(db, table, tenantId);
  return counts;
}

class RolledBack extends Error {}

/**
 * Runs fn inside a transaction opened by `open` (withOwner, withTenant…) and always rolls it back,
 * returning what fn returned. Whatever fn changes (catalog included) is gone afterwards.
 */
export async function rolledBack<T>(open: (fn: (tx: Tx) => Promise<never>) => Promise<unknown>, fn: (tx: Tx) => Promise<T>): Promise<T> {
  let result: { value: T } | undefined;
  try {
    await open(async (tx) => {
      result = { value: await fn(tx) };
      throw new RolledBack();
    });
  } catch (error) {
    if (!(error instanceof RolledBack)) throw error;
  }
  if (!result) throw new Error('rolled-back transaction produced no result');
  return result.value;
}

export type Probe =
  | { ok: true; rowCount: number; rows: Record<string, unknown>[] }
  | { ok: false; code: string | undefined; message: string };

/**
 * Runs one statement inside a savepoint and always rolls the savepoint back: an error (42501…)
 * does not abort the surrounding transaction, and a write that should have failed leaves nothing.
 */
export async function probe(tx: Tx, sql: string, params: unknown[] = []): Promise<Probe> {
  await tx.query('SAVEPOINT isolation_probe');
  let outcome: Probe;
  try {
    const result = await tx.query(sql, params);
    outcome = { ok: true, rowCount: result.rowCount, rows: result.rows };
  } catch (error) {
    const err = error as { code?: string; message?: string };
    outcome = { ok: false, code: err.code, message: err.message ?? String(error) };
  }
  await tx.query('ROLLBACK TO SAVEPOINT isolation_probe');
  await tx.query('RELEASE SAVEPOINT isolation_probe');
  return outcome;
}

export type SeededTenant = TestTenant & {
  member: Awaited<ReturnType<TestContext['user']>>;
  key: Awaited<ReturnType<TestContext['apiKey']>>;
  /** Every email of the tenant's users. */
  emails: string[];
};

/**
 * A tenant with rows in every tenant table, made through the API only: creation gives roles,
 * tenant_settings and the owner; logins give sessions and refresh tokens; an API key gives
 * api_keys and api_key_secrets; an X-Tenant-ID mismatch records a security event.
 */
export async function seedTenant(ctx: TestContext): Promise<SeededTenant> {
  const tenant = await ctx.tenant();
  const member = await ctx.user(tenant, 'member');
  const key = await ctx.apiKey(tenant, ['users.read']);
  const mismatch = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { ...tenant.auth, 'x-tenant-id': randomUUID() } });
  expect(mismatch.statusCode).toBe(403);
  expect(mismatch.json().code).toBe('tenant_mismatch');
  // Configuration: a change of the tenant level is a tenant_config_versions row (before the metering flush: the call is metered too).
  const config = await ctx.app.inject({
    method: 'PATCH',
    url: '/v1/config',
    headers: { ...tenant.auth, 'if-match': '*' },
    payload: { retrieval: { topK: 5 }, message: 'seeded' },
  });
  expect(config.statusCode, config.body).toBe(200);
  // Metering: the calls above become usage_counters rows; a quota alert becomes a usage_alerts row.
  await ctx.palazzo.services.meter.flush();
  await ctx.db.withTenant(tenant.id, (tx) => ctx.palazzo.services.usage.checkAlerts(tx, tenant.id, 'llm_tokens', 90, 100));
  // Branding (tenant_branding, with a logo), a custom domain proved through the test DNS
  // (custom_domains, verified_domains), a running experiment with events (experiments, experiment_events).
  const auth = tenant.auth;
  const branding = await ctx.app.inject({
    method: 'PUT',
    url: '/v1/branding',
    headers: auth,
    payload: { colors: { primary: '#1F4E79', background: '#FFFFFF', text: '#1A1A1A' }, fontFamily: 'Inter' },
  });
  expect(branding.statusCode, branding.body).toBe(200);
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>');
  const boundary = 'seed-boundary';
  const logo = await ctx.app.inject({
    method: 'PUT',
    url: '/v1/branding/logo',
    headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="logo.svg"\r\nContent-Type: image/svg+xml\r\n\r\n`,
      ),
      svg,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]),
  });
  expect(logo.statusCode, logo.body).toBe(200);
  const domain = await ctx.app.inject({
    method: 'POST',
    url: '/v1/domains',
    headers: auth,
    payload: { hostname: `${tenant.slug}.seeded.example.com` },
  });
  expect(domain.statusCode, domain.body).toBe(201);
  ctx.dns.set(domain.json().verification.name, [[domain.json().verification.value]]);
  const verified = await ctx.app.inject({ method: 'POST', url: `/v1/domains/${domain.json().id}/verify`, headers: auth });
  expect(verified.json().status, verified.body).toBe('verified');
  const experiment = await ctx.app.inject({
    method: 'POST',
    url: '/v1/experiments',
    headers: auth,
    payload: {
      key: 'seeded',
      variants: [
        { key: 'control', weight: 50 },
        { key: 'treatment', weight: 50 },
      ],
    },
  });
  expect(experiment.statusCode, experiment.body).toBe(201);
  const experimentUrl = `/v1/experiments/${experiment.json().id}`;
  expect((await ctx.app.inject({ method: 'PATCH', url: experimentUrl, headers: auth, payload: { status: 'running' } })).statusCode).toBe(
    200,
  );
  const conversion = await ctx.app.inject({
    method: 'POST',
    url: `${experimentUrl}/events`,
    headers: auth,
    payload: { type: 'conversion' },
  });
  expect(conversion.statusCode, conversion.body).toBe(200);
  // Assistant: a conversation with messages and a memory (extractive, no provider yet), an intent,
  // the domain vocabulary, then a provider (its key sealed; nothing calls it here).
  const chat = await ctx.app.inject({
    method: 'POST',
    url: '/v1/assistant/chat',
    headers: auth,
    payload: { message: 'remember that the seeded tenant prefers tea' },
  });
  expect(chat.statusCode, chat.body).toBe(200);
  const intent = await ctx.app.inject({
    method: 'POST',
    url: '/v1/assistant/intents',
    headers: auth,
    payload: { name: 'seeded_intent', examples: ['where is my parcel'] },
  });
  expect(intent.statusCode, intent.body).toBe(201);
  const vocabulary = await ctx.app.inject({
    method: 'PUT',
    url: '/v1/assistant/vocabulary',
    headers: auth,
    payload: { entries: [{ term: 'refund', synonyms: ['money back'] }] },
  });
  expect(vocabulary.statusCode, vocabulary.body).toBe(200);
  const provider = await ctx.app.inject({
    method: 'PUT',
    url: '/v1/ai/provider',
    headers: auth,
    payload: { kind: 'openai', chatModel: 'gpt-4o-mini', apiKey: 'sk-seeded-1234' },
  });
  expect(provider.statusCode, provider.body).toBe(200);
  // Knowledge (issue 6): a base with a document ingested to ready (knowledge_bases, knowledge_documents,
  // knowledge_chunks). The ingestion job runs here and its finished record is removed, so the tenant's
  // queue is as empty as before; a vector is written for its chunk where pgvector's table exists
  // (PGlite; PostgreSQL 15 here has no pgvector), as the embedder would with a provider.
  const base = await ctx.app.inject({ method: 'POST', url: '/v1/knowledge-bases', headers: auth, payload: { name: 'Seeded handbook' } });
  expect(base.statusCode, base.body).toBe(201);
  const boundaryKb = 'seed-knowledge';
  const document = await ctx.app.inject({
    method: 'POST',
    url: `/v1/knowledge-bases/${base.json().id}/documents`,
    headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundaryKb}` },
    payload: Buffer.from(
      `--${boundaryKb}\r\nContent-Disposition: form-data; name="file"; filename="handbook.md"\r\nContent-Type: text/markdown\r\n\r\n` +
        `# Seeded\n\nThe seeded tenant keeps its handbook here.\r\n--${boundaryKb}--\r\n`,
    ),
  });
  expect(document.statusCode, document.body).toBe(202);
  // On PostgreSQL the job table is shared by the run's test files: another process may run the job.
  const documentUrl = `/v1/knowledge-bases/${base.json().id}/documents/${document.json().id}`;
  for (let i = 0; ; i++) {
    await ctx.palazzo.services.jobs.drain();
    const status = (await ctx.app.inject({ method: 'GET', url: documentUrl, headers: auth })).json().status;
    if (status === 'ready') break;
    if (status === 'failed' || i > 600) throw new Error(`the seeded document ended ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await ctx.db.withOwner((tx) =>
    tx.query(`DELETE FROM jobs WHERE tenant_id = $1 AND kind = 'knowledge.ingest' AND status = 'done'`, [tenant.id]),
  );
  await ctx.db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<{ present: boolean }>(`SELECT to_regclass('knowledge_chunk_vectors') IS NOT NULL AS present`);
    if (!rows[0]?.present) return;
    await tx.query(
      `INSERT INTO knowledge_chunk_vectors (tenant_id, chunk_id, knowledge_base_id, model, dimensions, embedding)
       SELECT tenant_id, id, knowledge_base_id, 'seeded-embed-3', 3, '[0.1,0.2,0.3]'::vector FROM knowledge_chunks WHERE document_id = $1`,
      [document.json().id],
    );
  });
  // Second factors: a user with TOTP (mfa_totp, mfa_recovery_codes) whose next login waits for a code (mfa_challenges).
  const enrolled = await ctx.user(tenant, 'member');
  const start = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers: enrolled.auth });
  expect(start.statusCode, start.body).toBe(200);
  const totp = URI.parse(start.json().otpauthUri) as TOTP;
  const confirm = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/mfa/totp/confirm',
    headers: enrolled.auth,
    payload: { code: totp.generate() },
  });
  expect(confirm.statusCode, confirm.body).toBe(200);
  const challenge = await ctx.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: tenant.slug, email: enrolled.email, password: PASSWORD },
  });
  expect(challenge.json().mfaRequired, challenge.body).toBe(true);
  // Single sign-on: the configuration through the API; a linked identity, a login state and an
  // exchange code as the flow against a provider leaves them (test/sso runs that flow for real).
  const sso = await ctx.app.inject({
    method: 'PUT',
    url: '/v1/sso/oidc',
    headers: auth,
    payload: { issuer: `https://idp.${tenant.slug}.example`, clientId: 'seeded', clientSecret: 'seeded secret' },
  });
  expect(sso.statusCode, sso.body).toBe(200);
  await ctx.db.withTenant(tenant.id, async (tx) => {
    const issuer = `https://idp.${tenant.slug}.example`;
    await tx.query('INSERT INTO sso_identities (tenant_id, issuer, subject, user_id, email) VALUES ($1, $2, $3, $4, $5)', [
      tenant.id,
      issuer,
      `sub-${member.id}`,
      member.id,
      member.email,
    ]);
    await tx.query(
      `INSERT INTO sso_login_states (tenant_id, state_hash, nonce, code_verifier_sealed, issuer, expires_at)
       VALUES ($1, $2, 'nonce', 'sealed', $3, now() + interval '5 minutes')`,
      [tenant.id, `seeded-${randomUUID()}`, issuer],
    );
    await tx.query(
      `INSERT INTO sso_exchange_codes (tenant_id, code_hash, user_id, expires_at) VALUES ($1, $2, $3, now() + interval '1 minute')`,
      [tenant.id, `seeded-${randomUUID()}`, member.id],
    );
  });
  // An operator's impersonation grant (impersonation_grants).
  const impersonation = await ctx.app.inject({
    method: 'POST',
    url: `/v1/operator/tenants/${tenant.id}/impersonate`,
    headers: ctx.operatorAuth,
    payload: { reason: 'seeded support case', minutes: 5 },
  });
  expect(impersonation.statusCode, impersonation.body).toBe(201);
  // Accounts: a verification link (account_tokens, and a mail_outbox row) and an invitation (invitations).
  const verification = await ctx.app.inject({ method: 'POST', url: '/v1/me/email-verification', headers: auth });
  expect(verification.statusCode, verification.body).toBe(202);
  const invitation = await ctx.app.inject({
    method: 'POST',
    url: '/v1/invitations',
    headers: auth,
    payload: { email: `invited@${tenant.slug}.example`, role: 'member' },
  });
  expect(invitation.statusCode, invitation.body).toBe(201);
  // The calls above are metered too: write their counters now, so the tenant's rows are settled.
  await ctx.palazzo.services.meter.flush();
  return { ...tenant, member, key, emails: [tenant.ownerEmail, member.email, enrolled.email].sort() };
}

/** Fails, naming the table, when the seeder left a tenant table empty for this tenant. */
export async function expectRowsInEveryTenantTable(db: Database, tenantId: string): Promise<Record<string, number>> {
  const tables = await db.withOwner((tx) => tenantTables(tx));
  const counts = await countsByTable(db, tables, tenantId);
  for (const [table, n] of Object.entries(counts)) {
    expect(n, `seedTenant left ${table} empty: extend it so the table is covered`).toBeGreaterThan(0);
  }
  return counts;
}
