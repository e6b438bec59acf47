/**
 * T39: parser limits and prototype pollution. Oversized bodies (with Content-Length and chunked, on
 * a real socket), wrong media types, JSON nested 100,000 levels, poisoned keys in bodies and queries,
 * duplicate keys and malformed JSON: every answer is a 4xx problem+json with a `code` and no stack
 * trace, the process stays responsive, and no prototype is polluted.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_PERMISSIONS } from '../../src/modules/access/permissions.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem, expectProblemShape } from './support.ts';

type Reply = { statusCode: number; headers: http.IncomingHttpHeaders; body: string; sentBytes: number };

let ctx: TestContext;
let tenant: TestTenant;
let admin: { id: string; auth: { authorization: string } };
let port: number;
let limit: number;

/** Own property names of the built-in prototypes, to prove nothing was added to them. */
function prototypeSnapshot() {
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype, Number.prototype].map((p) =>
    Reflect.ownKeys(p).map(String).sort(),
  );
}
const before = prototypeSnapshot();

/**
 * A request on a real socket. With `chunked`, the body goes out in pieces without a Content-Length;
 * writing stops as soon as the server has answered (that is how we see it did not wait for the rest).
 */
function send(options: {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  totalBytes: number;
  chunked: boolean;
  chunkBytes?: number;
}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let sentBytes = 0;
    let answered = false;
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (!options.chunked) headers['content-length'] = String(options.totalBytes);
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'POST', path: options.path, headers });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), sentBytes }),
      );
      res.on('error', reject);
    });
    // The server may close the socket after answering while we are still writing.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const chunk = Buffer.alloc(options.chunkBytes ?? 64 * 1024, 'a');
    const pump = () => {
      while (!answered && sentBytes < options.totalBytes && !req.destroyed) {
        const n = Math.min(chunk.length, options.totalBytes - sentBytes);
        sentBytes += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered && !req.destroyed) req.end();
    };
    pump();
  });
}

const inject = (options: { method?: 'POST' | 'PATCH' | 'GET'; url: string; body?: string | Buffer; type?: string; auth?: boolean }) =>
  ctx.app.inject({
    method: options.method ?? 'POST',
    url: options.url,
    headers: { ...(options.auth === false ? {} : tenant.auth), 'content-type': options.type ?? 'application/json' },
    ...(options.body !== undefined ? { payload: options.body } : {}),
  });

beforeAll(async () => {
  ctx = await createTestContext();
  tenant = await ctx.tenant();
  admin = await ctx.user(tenant, 'admin');
  limit = ctx.app.initialConfig.bodyLimit as number;
  await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  port = (ctx.app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await ctx?.close();
});

describe('body size limit (T39)', () => {
  it('keeps the 1 MiB default', () => {
    expect(limit).toBe(1024 * 1024);
  });

  it('answers bodyLimit+1 bytes with Content-Length: 413 payload_too_large (inject and socket)', async () => {
    for (const auth of [true, false]) {
      const res = await inject({ url: auth ? '/v1/users' : '/v1/auth/login', body: 'a'.repeat(limit + 1), auth });
      expectProblem(res, 413, 'payload_too_large');
    }
    const exact = await inject({ url: '/v1/auth/login', body: `"${'a'.repeat(limit - 2)}"`, auth: false });
    expect(exact.statusCode, 'a body of exactly the limit is parsed, then refused by the schema').toBe(400);

    for (const path of ['/v1/auth/login', '/v1/users']) {
      const res = await send({ path, headers: tenant.auth, totalBytes: limit + 1, chunked: false });
      expect(res.statusCode).toBe(413);
      expectProblemShape(res);
      expect(JSON.parse(res.body).code).toBe('payload_too_large');
    }
  });

  it('answers a chunked body past the limit with 413 before the client has sent it all', async () => {
    const res = await send({ path: '/v1/auth/login', totalBytes: limit + 1, chunked: true, chunkBytes: 1024 });
    expect(res.statusCode).toBe(413);
    expectProblemShape(res);
    expect(JSON.parse(res.body).code).toBe('payload_too_large');
    // A body 64 times the limit: the server answers when the limit is crossed, not at the end.
    const huge = await send({ path: '/v1/users', headers: tenant.auth, totalBytes: 64 * limit, chunked: true });
    expect(huge.statusCode).toBe(413);
    expect(JSON.parse(huge.body).code).toBe('payload_too_large');
    expect(huge.sentBytes).toBeLessThan(16 * limit);
  });

  it('still serves on the same port afterwards', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
  });
});

describe('media types and malformed JSON (T39)', () => {
  it('answers a wrong Content-Type with 415', async () => {
    for (const type of [
      'text/plain',
      'text/plain; charset=utf-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/jsonx',
    ]) {
      const res = await inject({ url: '/v1/auth/login', body: 'tenant=a&email=b&password=c', type, auth: false });
      expectProblem(res, 415, 'unsupported_media_type');
    }
    const authed = await inject({ url: '/v1/users', body: '{"a":1}', type: 'text/plain' });
    expectProblem(authed, 415, 'unsupported_media_type');
    // Routes without a body schema too: a text body is refused, not ignored (logout would otherwise succeed).
    const logout = await inject({ url: '/v1/auth/logout', body: 'hello', type: 'text/plain' });
    expectProblem(logout, 415, 'unsupported_media_type');
    const still = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth });
    expect(still.statusCode).toBe(200);
  });

  it('answers malformed JSON with 400 malformed_json', async () => {
    for (const body of ['{', '{"tenant":', '{"a":1}x', "{'a':1}", '{"a":1,}', 'nul', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])]) {
      const res = await inject({ url: '/v1/auth/login', body, auth: false });
      expectProblem(res, 400, 'malformed_json');
    }
    const empty = await inject({ url: '/v1/auth/login', body: '', auth: false });
    expectProblem(empty, 400);
  });
});

describe('deeply nested JSON (T39)', () => {
  const depth = 100_000;
  const deepArray = '['.repeat(depth) + ']'.repeat(depth);
  const deepObject = (leaf: string) => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);

  it('answers 100,000 levels of nesting with a 4xx, quickly, and stays responsive', async () => {
    expect(deepObject('1').length).toBeLessThan(limit);
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    const bodies: Array<[string, string, boolean]> = [
      ['/v1/auth/login', deepArray, false],
      ['/v1/users', deepArray, true],
      ['/v1/users', deepObject('1'), true],
      ['/v1/users', `{"email":"x@y.test","name":${deepObject('1')},"role":"member","password":"${PASSWORD}"}`, true],
      ['/v1/api-keys', `{"name":"k","scopes":${deepArray}}`, true],
      // "constructor" makes the JSON parser walk the whole tree looking for poisoned keys.
      ['/v1/users', deepObject('{"constructor":{"x":1}}'), true],
      ['/v1/auth/login', `{"tenant":"a","email":"b@c.d","password":"x","extra":${deepArray}}`, false],
    ];
    for (const [url, body, auth] of bodies) {
      const started = performance.now();
      const res = await inject({ url, body, auth });
      expect(res.statusCode, `${url}: ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      expectProblemShape(res);
      expect(performance.now() - started, `${url} took too long`).toBeLessThan(5000);
    }
    // Operator route with a free-form field (metadata is `Record<string, unknown>`): nothing bounds its depth in the schema.
    const operatorBody = JSON.stringify({
      slug: uniqueSlug(),
      name: 'Deep',
      tier: 'basic',
      owner: { email: `o@${uniqueSlug()}.test`, name: 'O', password: PASSWORD },
    }).replace(/}$/, `,"metadata":{"deep":${deepObject('1')}}}`);
    const tenantsBefore = await ctx.db.withOwner((tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants'));
    const operator = await ctx.app.inject({
      method: 'POST',
      url: '/v1/operator/tenants',
      headers: { ...ctx.operatorAuth, 'content-type': 'application/json' },
      payload: operatorBody,
    });
    expect(operator.statusCode, operator.body.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(operator.statusCode, operator.body.slice(0, 300)).toBeLessThan(500);
    expectProblemShape(operator);
    const tenantsAfter = await ctx.db.withOwner((tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants'));
    expect(tenantsAfter.rows[0]?.n).toBe(tenantsBefore.rows[0]?.n);
    histogram.disable();
    // Parsing 600 KB of nesting may take a few ms; the loop must never stall for seconds.
    expect(histogram.max / 1e6, 'event-loop stall in ms').toBeLessThan(2000);

    const health = await ctx.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth });
    expect(me.statusCode).toBe(200);
    const ready = await ctx.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode, 'the database survived').toBe(200);
  });
});

describe('prototype poisoning and duplicate keys (T39)', () => {
  it('refuses __proto__ and constructor.prototype keys in bodies with 400', async () => {
    const poisoned = [
      '{"__proto__":{"polluted":1}}',
      '{"constructor":{"prototype":{"polluted":1}}}',
      '{"\\u005f_proto__":{"polluted":1}}',
      '{"tenant":"a","email":"b@c.d","password":"x","nested":{"__proto__":{"polluted":1}}}',
      '{"tenant":"a","email":"b@c.d","password":"x","list":[{"constructor":{"prototype":{"polluted":1}}}]}',
    ];
    for (const body of poisoned) {
      for (const [url, auth] of [
        ['/v1/auth/login', false],
        ['/v1/users', true],
        ['/v1/api-keys', true],
      ] as const) {
        const res = await inject({ url, body, auth });
        expectProblem(res, 400);
      }
      const patch = await inject({ method: 'PATCH', url: `/v1/users/${admin.id}`, body });
      expectProblem(patch, 400);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('is not polluted by bracketed query keys', async () => {
    const query = '?__proto__[polluted]=1&a[constructor][prototype][p]=1&__proto__.polluted=1&constructor[prototype][polluted]=1';
    const urls = ['/healthz', '/v1/users', '/v1/api-keys', '/v1/security-events', '/v1/me'];
    for (const url of urls) {
      const res = await ctx.app.inject({ method: 'GET', url: url + query, headers: tenant.auth });
      expect(res.statusCode, `${url}: ${res.body}`).toBeLessThan(500);
      if (res.statusCode >= 400) expectProblemShape(res);
    }
    const plainProto = await ctx.app.inject({ method: 'GET', url: '/v1/users?__proto__=x&constructor=y', headers: tenant.auth });
    expect(plainProto.statusCode).toBeLessThan(500);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).p).toBeUndefined();
  });

  it('applies privilege checks to the value a duplicate JSON key resolves to (the last one)', async () => {
    const email = `dup-${uniqueSlug()}@${tenant.slug}.test`;
    // The admin may create a viewer but not an owner; the last "role" is the one checked and stored.
    const sneaky = `{"email":"${email}","name":"Dup","role":"viewer","password":"${PASSWORD}","role":"owner"}`;
    const refused = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: { ...admin.auth, 'content-type': 'application/json' },
      payload: sneaky,
    });
    expectProblem(refused, 403, 'forbidden');
    const harmless = `{"email":"${email}","name":"Dup","role":"owner","password":"${PASSWORD}","role":"viewer"}`;
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: { ...admin.auth, 'content-type': 'application/json' },
      payload: harmless,
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().role).toBe('viewer');
    const stored = await ctx.db.withOwner((tx) => tx.query<{ role_key: string }>('SELECT role_key FROM users WHERE email = $1', [email]));
    expect(stored.rows).toEqual([{ role_key: 'viewer' }]);
    // An API key's scopes: the duplicate cannot smuggle a scope past the subset check either.
    const narrow = await ctx.apiKey(tenant, ['api_keys.write']);
    const key = await ctx.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { ...narrow.auth, 'content-type': 'application/json' },
      payload: '{"name":"dup","scopes":["api_keys.write"],"scopes":["users.write"]}',
    });
    expectProblem(key, 403, 'scope_exceeds_permissions');
    const wide = await ctx.apiKey(tenant, ALL_PERMISSIONS);
    expect(wide.id).toBeTruthy();
  });

  it('leaves every built-in prototype as it was after the whole batch', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.prototype).not.toHaveProperty('p');
    expect(prototypeSnapshot()).toEqual(before);
  });
});
