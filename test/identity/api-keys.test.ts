/**
 * T19: tenant API keys (ASVS 11.5.1, 14.2.1, 16.2.5, 6.5.2): shown once, stored only as a hash,
 * recognisable prefix, ≥ 128 bits, scopes enforced and bounded by the creator, revocation and
 * expiry immediate, no credentials in the URL, rotation with overlap, usage recorded, tenant-bound.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext, TestTenant } from '../helpers/harness.ts';
import { bearer, scanDatabase, sharedKeyContexts, sleep } from './support.ts';

const KEY_SHAPE = /^pzk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

const nodes = sharedKeyContexts();
let ctx: TestContext;
let tenant: TestTenant;
beforeAll(async () => {
  ctx = await nodes.first();
  tenant = await ctx.tenant();
});
afterAll(async () => {
  await ctx?.close();
});

async function createKey(owner: TestTenant, body: Record<string, unknown>, auth = owner.auth) {
  return ctx.app.inject({ method: 'POST', url: '/v1/api-keys', headers: auth, payload: { name: 'key', ...body } });
}

const get = (url: string, auth: { authorization: string }, on: TestContext = ctx) => on.app.inject({ method: 'GET', url, headers: auth });

describe('the secret', () => {
  it('is returned once: neither GET nor the list ever contains it', async () => {
    const res = await createKey(tenant, { scopes: ['users.read'] });
    expect(res.statusCode).toBe(201);
    const { id, key, hint } = res.json() as { id: string; key: string; hint: string };
    expect(hint.endsWith(key.slice(-4))).toBe(true);
    expect(hint.length).toBeLessThan(12);
    const secretPart = key.slice(-43);

    const one = await get(`/v1/api-keys/${id}`, tenant.auth);
    expect(one.statusCode).toBe(200);
    expect(one.json()).not.toHaveProperty('key');
    expect(one.body).not.toContain(key);
    expect(one.body).not.toContain(secretPart);

    const list = await get('/v1/api-keys?includeRevoked=true&limit=200', tenant.auth);
    expect(list.statusCode).toBe(200);
    expect((list.json().data as Array<{ id: string }>).map((k) => k.id)).toContain(id);
    expect(list.body).not.toContain(key);
    expect(list.body).not.toContain(secretPart);
    for (const item of list.json().data as object[]) expect(item).not.toHaveProperty('key');
  });

  it('has the pzk_ prefix, the tenant id and 43 base64url characters (256 bits ≥ 128)', async () => {
    const keys = new Set<string>();
    for (let i = 0; i < 5; i += 1) {
      const { key } = (await createKey(tenant, { scopes: ['users.read'] })).json() as { key: string };
      const match = KEY_SHAPE.exec(key);
      expect(match, key).not.toBeNull();
      expect(match?.[1]).toBe(tenant.id.replaceAll('-', ''));
      const random = Buffer.from(match?.[2] as string, 'base64url');
      expect(random.length * 8).toBeGreaterThanOrEqual(128);
      keys.add(match?.[2] as string);
    }
    expect(keys.size).toBe(5);
  });

  it('is nowhere in the database: a scan of every text, json and array column finds 0 occurrences', async () => {
    const res = await createKey(tenant, { scopes: ['users.read'] });
    const { key, id } = res.json() as { key: string; id: string };
    // Used once, rotated once: the paths that touch secrets have all run.
    expect((await get('/v1/users', bearer(key))).statusCode).toBe(200);
    await ctx.palazzo.services.apiKeys.flushUsage();
    const rotated = await ctx.app.inject({
      method: 'POST',
      url: `/v1/api-keys/${id}/rotate`,
      headers: tenant.auth,
      payload: { overlapSeconds: 60 },
    });
    expect(rotated.statusCode).toBe(200);
    const newKey = rotated.json().key as string;
    const secrets = [key, newKey, key.slice(-43), newKey.slice(-43)];
    const sha = (value: string) => createHash('sha256').update(value).digest('hex');
    const { hits } = await scanDatabase(ctx.db, [...secrets, sha(key), sha(newKey)]);
    // Positive control: what is stored is the SHA-256, and the scan finds it in api_key_secrets.
    expect(hits.filter((h) => h.needle === sha(key) || h.needle === sha(newKey)).map((h) => `${h.table}.${h.column}`)).toEqual([
      'api_key_secrets.key_hash',
      'api_key_secrets.key_hash',
    ]);
    expect(hits.filter((h) => secrets.includes(h.needle))).toEqual([]);
  });
});

describe('scopes', () => {
  it('are enforced: outside the scope answers 403 forbidden', async () => {
    const key = await ctx.apiKey(tenant, ['users.read']);
    expect((await get('/v1/users', key.auth)).statusCode).toBe(200);
    const write = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: key.auth,
      payload: { email: 'scoped@x.test', name: 'x', role: 'member', password: 'purple monkey dishwasher galaxy' },
    });
    expect(write.statusCode).toBe(403);
    expect(write.json().code).toBe('forbidden');
    for (const url of ['/v1/api-keys', '/v1/security-events', '/v1/roles']) {
      const res = await get(url, key.auth);
      expect(res.statusCode, url).toBe(403);
      expect(res.json().code).toBe('forbidden');
    }
    const mint = await createKey(tenant, { scopes: ['users.read'] }, key.auth);
    expect(mint.statusCode).toBe(403);
  });

  it('an unknown scope answers 400 invalid_scope', async () => {
    const res = await createKey(tenant, { scopes: ['users.read', 'users.delete_everything'] });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_scope');
  });

  it('cannot exceed the creator: a key with api_keys.write cannot mint a key with more', async () => {
    const admin = await ctx.user(tenant, 'admin');
    const limited = await createKey(tenant, { scopes: ['api_keys.write', 'users.read'] }, admin.auth);
    expect(limited.statusCode).toBe(201);
    const limitedAuth = bearer(limited.json().key as string);
    const wider = await createKey(tenant, { scopes: ['users.read', 'users.write'] }, limitedAuth);
    expect(wider.statusCode).toBe(403);
    expect(wider.json()).toMatchObject({ code: 'scope_exceeds_permissions', permissions: ['users.write'] });
    // Control: the same key may mint a key within its own scopes.
    const within = await createKey(tenant, { scopes: ['users.read'] }, limitedAuth);
    expect(within.statusCode).toBe(201);
    expect(within.json().createdBy).toEqual({ type: 'api_key', id: limited.json().id });
  });

  it('a manager (no api_keys.write) cannot create keys at all', async () => {
    const manager = await ctx.user(tenant, 'manager');
    const res = await createKey(tenant, { scopes: ['users.read'] }, manager.auth);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('forbidden');
  });
});

describe('revocation, expiry and rotation', () => {
  it('revoke: the next request gets 401 (even right after a cached success)', async () => {
    const key = await ctx.apiKey(tenant, ['users.read']);
    expect((await get('/v1/users', key.auth)).statusCode).toBe(200);
    const revoke = await ctx.app.inject({ method: 'DELETE', url: `/v1/api-keys/${key.id}`, headers: tenant.auth });
    expect(revoke.statusCode).toBe(204);
    const after = await get('/v1/users', key.auth);
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('invalid_token');
    const listed = await get(`/v1/api-keys/${key.id}`, tenant.auth);
    expect(listed.json().revokedAt).toEqual(expect.any(String));
    // A revoked key cannot be brought back by rotation.
    const rotate = await ctx.app.inject({ method: 'POST', url: `/v1/api-keys/${key.id}/rotate`, headers: tenant.auth, payload: {} });
    expect(rotate.statusCode).toBe(409);
    expect((await get('/v1/users', key.auth)).statusCode).toBe(401);
  });

  it('refuses a key in the query string with 400, with or without a header', async () => {
    const key = await ctx.apiKey(tenant, ['users.read']);
    for (const param of ['api_key', 'apikey', 'access_token', 'token', 'key', 'API_KEY']) {
      const bare = await ctx.app.inject({ method: 'GET', url: `/v1/users?${param}=${encodeURIComponent(key.key)}` });
      expect(bare.statusCode, param).toBe(400);
      const withHeader = await ctx.app.inject({
        method: 'GET',
        url: `/v1/users?${param}=${encodeURIComponent(key.key)}`,
        headers: key.auth,
      });
      expect(withHeader.statusCode, param).toBe(400);
    }
    expect((await get('/v1/users', key.auth)).statusCode).toBe(200);
  });

  it('an expired key answers 401: expiry passed while cached, and expiry set in the past in the database', async () => {
    const soon = await createKey(tenant, { scopes: ['users.read'], expiresAt: new Date(Date.now() + 2500).toISOString() });
    expect(soon.statusCode).toBe(201);
    const soonAuth = bearer(soon.json().key as string);
    expect((await get('/v1/users', soonAuth)).statusCode).toBe(200);
    await sleep(2700);
    expect((await get('/v1/users', soonAuth)).statusCode).toBe(401);

    const past = await ctx.apiKey(tenant, ['users.read']);
    await ctx.db.withOwner((tx) => tx.query("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1", [past.id]));
    expect((await get('/v1/users', past.auth)).statusCode).toBe(401);

    // Creating a key that is already expired is refused.
    const already = await createKey(tenant, { scopes: ['users.read'], expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect(already.statusCode).toBe(400);
  });

  it('rotation: the old key works during the overlap, and stops at once with overlapSeconds 0', async () => {
    const key = await ctx.apiKey(tenant, ['users.read']);
    expect((await get('/v1/users', key.auth)).statusCode).toBe(200);
    const first = await ctx.app.inject({
      method: 'POST',
      url: `/v1/api-keys/${key.id}/rotate`,
      headers: tenant.auth,
      payload: { overlapSeconds: 120 },
    });
    expect(first.statusCode).toBe(200);
    const second = first.json() as { key: string; previousKeyValidUntil: string; id: string };
    expect(second.id).toBe(key.id);
    expect(second.key).toMatch(KEY_SHAPE);
    expect(second.key).not.toBe(key.key);
    const until = Date.parse(second.previousKeyValidUntil) - Date.now();
    expect(until).toBeGreaterThan(100_000);
    expect(until).toBeLessThanOrEqual(120_000);
    expect((await get('/v1/users', key.auth)).statusCode).toBe(200);
    expect((await get('/v1/users', bearer(second.key))).statusCode).toBe(200);

    const third = await ctx.app.inject({
      method: 'POST',
      url: `/v1/api-keys/${key.id}/rotate`,
      headers: tenant.auth,
      payload: { overlapSeconds: 0 },
    });
    expect(third.statusCode).toBe(200);
    const newest = third.json().key as string;
    expect((await get('/v1/users', bearer(second.key))).statusCode).toBe(401);
    expect((await get('/v1/users', key.auth)).statusCode).toBe(401);
    expect((await get('/v1/users', bearer(newest))).statusCode).toBe(200);
  });

  it('records last use and usage count after flushUsage()', async () => {
    const key = await ctx.apiKey(tenant, ['users.read']);
    const before = (await get(`/v1/api-keys/${key.id}`, tenant.auth)).json();
    expect(before).toMatchObject({ usageCount: 0, lastUsedAt: null });
    const start = Date.now();
    for (let i = 0; i < 3; i += 1) expect((await get('/v1/users', key.auth)).statusCode).toBe(200);
    await ctx.palazzo.services.apiKeys.flushUsage();
    const after = (await get(`/v1/api-keys/${key.id}`, tenant.auth)).json();
    expect(after.usageCount).toBe(3);
    expect(Date.parse(after.lastUsedAt)).toBeGreaterThanOrEqual(start - 1000);
    expect(Date.parse(after.lastUsedAt)).toBeLessThanOrEqual(Date.now() + 1000);
    // A refused request is not usage.
    await ctx.app.inject({ method: 'DELETE', url: `/v1/api-keys/${key.id}`, headers: tenant.auth });
    await get('/v1/users', key.auth);
    await ctx.palazzo.services.apiKeys.flushUsage();
    expect((await get(`/v1/api-keys/${key.id}`, tenant.auth)).json().usageCount).toBe(3);
  });
});

describe('tenant binding', () => {
  it("a key of tenant A cannot read tenant B's users (404) nor claim B in X-Tenant-ID (403)", async () => {
    const a = await ctx.tenant();
    const b = await ctx.tenant();
    const bUser = await ctx.user(b, 'member');
    const keyA = await ctx.apiKey(a, ['users.read', 'api_keys.read']);
    const keyB = await ctx.apiKey(b, ['api_keys.read']);

    const read = await get(`/v1/users/${bUser.id}`, keyA.auth);
    expect(read.statusCode).toBe(404);
    expect(read.json().code).toBe('not_found');
    expect((await get(`/v1/api-keys/${keyB.id}`, keyA.auth)).statusCode).toBe(404);
    const list = await get('/v1/users?limit=200', keyA.auth);
    const ids = (list.json().data as Array<{ id: string }>).map((u) => u.id);
    expect(ids).not.toContain(bUser.id);
    expect(ids.length).toBeGreaterThan(0);

    const claimB = await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: { ...keyA.auth, 'x-tenant-id': b.id } });
    expect(claimB.statusCode).toBe(403);
    expect(claimB.json().code).toBe('tenant_mismatch');

    // Control: B's own credential reads the user.
    expect((await get(`/v1/users/${bUser.id}`, b.auth)).statusCode).toBe(200);
  });

  it("a key whose tenant part is rewritten to B's id is refused", async () => {
    const a = await ctx.tenant();
    const b = await ctx.tenant();
    const keyA = await ctx.apiKey(a, ['users.read']);
    const forged = keyA.key.replace(a.id.replaceAll('-', ''), b.id.replaceAll('-', ''));
    expect(forged).not.toBe(keyA.key);
    expect((await get('/v1/users', bearer(forged))).statusCode).toBe(401);
  });
});

describe('two nodes', () => {
  // Cross-node invalidation travels over Redis pub/sub; without REDIS_URL each node only sees its
  // own revocations until the key cache TTL (30 s) ends, so this runs only with REDIS_URL set.
  it.runIf(!!process.env.REDIS_URL)('a key revoked on node 1 is refused by node 2 within 1 s', async () => {
    const node2 = await nodes.another(ctx.db);
    try {
      const key = await ctx.apiKey(tenant, ['users.read']);
      // Node 2 has the key in its cache.
      expect((await get('/v1/users', key.auth, node2)).statusCode).toBe(200);
      expect((await get('/v1/users', key.auth, node2)).statusCode).toBe(200);
      const revokedAt = Date.now();
      const revoke = await ctx.app.inject({ method: 'DELETE', url: `/v1/api-keys/${key.id}`, headers: tenant.auth });
      expect(revoke.statusCode).toBe(204);
      let status = 200;
      while (Date.now() - revokedAt < 1000) {
        status = (await get('/v1/users', key.auth, node2)).statusCode;
        if (status === 401) break;
        await sleep(20);
      }
      expect(status).toBe(401);
      expect(Date.now() - revokedAt).toBeLessThan(1000);
    } finally {
      await node2.close();
    }
  });
});
