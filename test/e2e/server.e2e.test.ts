/**
 * End to end: the real server process (`node --import tsx src/main.ts`) on the embedded default
 * (PGlite in a fresh data directory; DATABASE_URL and REDIS_URL removed from its environment),
 * driven over real HTTP: health, docs, OpenAPI, operator login, tenant creation, owner login, an
 * API key, the printed first-run credentials, a clean SIGTERM exit, and a restart on the same data.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getWith, json, OPERATOR_PASSWORD, OWNER_PASSWORD, post, type Running, start, stop } from './support.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'palazzo-e2e-'));
let server: Running | undefined;
const state: { tenantSlug?: string; ownerEmail?: string; ownerToken?: string; apiKey?: string; tenantId?: string } = {};

beforeAll(async () => {
  server = await start(dataDir);
  await server.waitFor(/Palazzo is running at (\S+)/);
  // The banner is one write; wait for its last credential line all the same.
  await server.waitFor(/Default tenant[\s\S]*password:\s+\S+\s+<- shown once/);
}, 90_000);

afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the real server on the embedded database', () => {
  it('prints where it runs, on the embedded database, and the first-run credentials', async () => {
    const out = (server as Running).output();
    expect(out).toContain(`Palazzo is running at ${(server as Running).url}`);
    expect(out).toMatch(/Database:\s+embedded PGlite in /);
    expect(out).toContain(dataDir);
    // The operator password came from the environment and is not echoed.
    expect(out).toContain('(from PALAZZO_OPERATOR_PASSWORD)');
    expect(out).not.toContain(OPERATOR_PASSWORD);
    const key = statSync(path.join(dataDir, 'master.key'));
    expect(key.mode & 0o077).toBe(0);
  });

  it('answers /healthz, /readyz, /docs and /openapi.json', async () => {
    const url = (server as Running).url;
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await json(health)).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await json(ready)).toMatchObject({ status: 'ready', database: 'ok', migrations: 'current' });
    const docs = await fetch(`${url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    expect(await docs.text()).toMatch(/<html/i);
    const spec = await fetch(`${url}/openapi.json`);
    expect(spec.status).toBe(200);
    const body = await json(spec);
    expect(body.openapi).toMatch(/^3\.1\.\d+$/);
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(['/v1/auth/login', '/v1/me', '/v1/api-keys']));
  });

  it('operator login → tenant → owner login → API key → /v1/me as the key', async () => {
    const { url, output } = server as Running;
    const operatorEmail = /Operator \(POST[^\n]*\n\s+email:\s+(\S+)/.exec(output())?.[1];
    expect(operatorEmail).toBeDefined();
    const opLogin = await post(`${url}/v1/operator/login`, { email: operatorEmail, password: OPERATOR_PASSWORD });
    expect(opLogin.status).toBe(200);
    const operatorToken = (await json(opLogin)).accessToken as string;

    const slug = `e2e-${process.pid}`;
    const ownerEmail = `owner@${slug}.example`;
    const created = await post(
      `${url}/v1/operator/tenants`,
      { slug, name: 'E2E Org', tier: 'premium', owner: { email: ownerEmail, name: 'Owner', password: OWNER_PASSWORD } },
      operatorToken,
    );
    expect(created.status).toBe(201);
    const tenant = await json(created);
    expect(tenant).toMatchObject({ slug, status: 'active' });

    const login = await post(`${url}/v1/auth/login`, { tenant: slug, email: ownerEmail, password: OWNER_PASSWORD });
    expect(login.status).toBe(200);
    const tokens = await json(login);
    expect(tokens.tokenType).toBe('Bearer');

    const keyRes = await post(`${url}/v1/api-keys`, { name: 'e2e', scopes: ['users.read'] }, tokens.accessToken);
    expect(keyRes.status).toBe(201);
    const key = (await json(keyRes)).key as string;
    expect(key).toMatch(/^pzk_/);

    const me = await getWith(`${url}/v1/me`, key);
    expect(me.status).toBe(200);
    expect(me.headers.get('cache-control')).toBe('no-store');
    expect(await json(me)).toMatchObject({ kind: 'api_key', tenant: { id: tenant.id, slug }, permissions: ['users.read'] });
    const users = await getWith(`${url}/v1/users`, key);
    expect(users.status).toBe(200);
    expect((await json(users)).data.map((u: { email: string }) => u.email)).toEqual([ownerEmail]);

    // A key in the query string is refused over real HTTP too.
    expect((await fetch(`${url}/v1/users?api_key=${encodeURIComponent(key)}`)).status).toBe(400);

    Object.assign(state, { tenantSlug: slug, ownerEmail, ownerToken: tokens.accessToken, apiKey: key, tenantId: tenant.id });
  });

  it("the default tenant's printed owner credentials log in", async () => {
    const { url, output } = server as Running;
    const match = /Default tenant "([^"]+)" owner[^\n]*\n\s+tenant:\s+(\S+)\n\s+email:\s+(\S+)\n\s+password:\s+(\S+)\s+<- shown once/.exec(
      output(),
    );
    expect(match).not.toBeNull();
    const [, , slug, email, password] = match as unknown as [string, string, string, string, string];
    const login = await post(`${url}/v1/auth/login`, { tenant: slug, email, password });
    expect(login.status).toBe(200);
    const me = await getWith(`${url}/v1/me`, (await json(login)).accessToken);
    expect(me.status).toBe(200);
    expect(await json(me)).toMatchObject({ kind: 'user', tenant: { slug: 'default' }, user: { email, role: 'owner' } });
    const wrong = await post(`${url}/v1/auth/login`, { tenant: slug, email, password: `${password}x` });
    expect(wrong.status).toBe(401);
  });

  it('exits cleanly on SIGTERM', async () => {
    const result = await stop(server as Running);
    expect(result).toEqual({ code: 0, signal: null });
    await expect(fetch(`${(server as Running).url}/healthz`)).rejects.toThrow();
  }, 30_000);

  it('restarts on the same data: tenants, tokens and keys survive; no credentials are printed again', async () => {
    expect(state.apiKey).toBeDefined();
    const again = await start(dataDir);
    server = again;
    await again.waitFor(/Palazzo is running at (\S+)/);
    // Give a late banner line a moment to arrive, then check none was printed.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(again.output()).not.toContain('shown once');
    expect(again.output()).not.toContain('Default tenant');

    // The access token from the first run still verifies: the signing key and master key persisted.
    const me = await getWith(`${again.url}/v1/me`, state.ownerToken as string);
    expect(me.status).toBe(200);
    expect(await json(me)).toMatchObject({ kind: 'user', tenant: { id: state.tenantId } });
    const byKey = await getWith(`${again.url}/v1/me`, state.apiKey as string);
    expect(byKey.status).toBe(200);
    const login = await post(`${again.url}/v1/auth/login`, {
      tenant: state.tenantSlug,
      email: state.ownerEmail,
      password: OWNER_PASSWORD,
    });
    expect(login.status).toBe(200);
    expect(await stop(again)).toEqual({ code: 0, signal: null });
  }, 90_000);
});
