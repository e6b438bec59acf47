/**
 * Configuration engine (F-C1–C3): inheritance and provenance through every level, validation with the
 * key path, versions with history, diff and rollback, ETag/If-Match concurrency, and isolation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_DEFAULTS, cohortPoint } from '../../src/modules/config/index.ts';
import { createTestContext, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx?.close();
});

type Headers = Record<string, string>;
const call = (method: 'GET' | 'PATCH' | 'POST', url: string, headers: Headers, payload?: object) =>
  ctx.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });

async function etag(url: string, headers: Headers): Promise<string> {
  const res = await call('GET', url, headers);
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers.etag).toBe(res.json().etag);
  return res.json().etag as string;
}

/** PATCH with the current ETag; returns the response. */
async function patch(url: string, headers: Headers, body: object) {
  return call('PATCH', url, { ...headers, 'if-match': await etag(url, headers) }, body);
}

async function effective(tenant: TestTenant) {
  const res = await call('GET', '/v1/config/effective', tenant.auth);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** A tenant with a profile and tier set by the operator API. */
async function placedTenant(options: { profile?: string | null; tier?: string } = {}): Promise<TestTenant> {
  const tenant = await ctx.tenant({ tier: options.tier ?? 'enterprise' });
  if (options.profile !== undefined) {
    const res = await call('PATCH', `/v1/operator/tenants/${tenant.id}`, ctx.operatorAuth, { profile: options.profile });
    expect(res.statusCode, res.body).toBe(200);
  }
  return tenant;
}

describe('inheritance and provenance (F-C1)', () => {
  it('a fresh tenant without a profile gets the built-in defaults, each key reported as default', async () => {
    const tenant = await placedTenant({ tier: 'premium' });
    const view = await effective(tenant);
    expect(view.config).toEqual(BUILTIN_DEFAULTS);
    expect(view.profile).toBeNull();
    expect(view.tier).toBe('premium');
    expect(view.keys['retrieval.chunkSize']).toEqual({ value: 1000, level: 'default' });
    expect(view.keys['security.mfa']).toEqual({ value: 'admins', level: 'default' });
    expect(view.conflicts).toEqual([]);
    // Every leaf of the document is listed with its source.
    expect(Object.keys(view.keys).length).toBeGreaterThan(25);
    expect(new Set(Object.values(view.keys).map((k) => (k as { level: string }).level))).toEqual(new Set(['default']));
  });

  it('applies global → profile → tier → tenant, and names the level of every key', async () => {
    // Tier and global are shared by the whole test file: use a tier of our own so other tests are unaffected.
    const tierName = 'basic';
    const tenant = await placedTenant({ profile: 'healthcare', tier: tierName });
    const global = await patch('/v1/operator/config/global', ctx.operatorAuth, {
      assistant: { maxTokens: 2000, citeSources: false },
      notifications: { digest: 'weekly' },
      message: 'longer answers everywhere',
    });
    expect(global.statusCode, global.body).toBe(200);
    const tier = await patch(`/v1/operator/config/tiers/${tierName}`, ctx.operatorAuth, {
      assistant: { maxTokens: 512 },
      retrieval: { candidatesPerLeg: 20 },
    });
    expect(tier.statusCode, tier.body).toBe(200);
    const own = await patch('/v1/config', tenant.auth, { retrieval: { chunkSize: 800 }, features: { beta_search: true } });
    expect(own.statusCode, own.body).toBe(200);

    try {
      const view = await effective(tenant);
      expect(view.profile).toBe('healthcare');
      expect(view.keys['retrieval.chunkSize']).toEqual({ value: 800, level: 'tenant' });
      expect(view.keys['features.beta_search']).toEqual({ value: true, level: 'tenant' });
      expect(view.keys['assistant.maxTokens']).toEqual({ value: 512, level: 'tier' }); // tier above global
      expect(view.keys['retrieval.candidatesPerLeg']).toEqual({ value: 20, level: 'tier' });
      expect(view.keys['security.mfa']).toEqual({ value: 'everyone', level: 'profile' });
      expect(view.keys['retrieval.minScore']).toEqual({ value: 0.5, level: 'profile' });
      expect(view.keys['assistant.citeSources']).toEqual({ value: false, level: 'global' });
      expect(view.keys['notifications.digest']).toEqual({ value: 'weekly', level: 'global' });
      expect(view.keys['retrieval.chunkOverlap']).toEqual({ value: 150, level: 'default' });
      expect(view.config.retrieval).toMatchObject({ chunkSize: 800, chunkOverlap: 150, topK: 4, candidatesPerLeg: 20 });
      expect(view.config.features).toEqual({ beta_search: true });
      expect(view.versions.tenant).toBe(1);
      expect(view.versions.profile).toBeGreaterThanOrEqual(1);

      // The typed accessor other modules use sees the same values.
      const typed = await ctx.palazzo.services.config.get(tenant.id);
      expect(typed.retrieval.chunkSize).toBe(800);
      expect(typed.assistant.maxTokens).toBe(512);

      // null removes the tenant override: the inherited value (profile) comes back.
      const removed = await patch('/v1/config', tenant.auth, { retrieval: { chunkSize: null }, security: { mfa: 'everyone' } });
      expect(removed.statusCode, removed.body).toBe(200);
      expect(removed.json().document).toEqual({ features: { beta_search: true }, security: { mfa: 'everyone' } });
      const after = await effective(tenant);
      expect(after.keys['retrieval.chunkSize']).toEqual({ value: 1000, level: 'default' });
      expect(after.keys['security.mfa']).toEqual({ value: 'everyone', level: 'tenant' });
    } finally {
      // Leave the shared levels as they were.
      for (const url of ['/v1/operator/config/global', `/v1/operator/config/tiers/${tierName}`]) {
        const res = await call('POST', `${url}/rollback`, { ...ctx.operatorAuth, 'if-match': '*' }, { version: 0 });
        expect(res.statusCode, res.body).toBe(200);
      }
    }
  });

  it('built-in profiles differ in the documented ways and can be changed; operators add profiles', async () => {
    const list = await call('GET', '/v1/operator/config/profiles', ctx.operatorAuth);
    expect(list.statusCode).toBe(200);
    const names = list.json().data.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['public_administration', 'ecommerce', 'customer_service', 'healthcare']));

    const pa = await effective(await placedTenant({ profile: 'public_administration' }));
    expect(pa.config.assistant).toMatchObject({ tone: 'formal', language: 'it' });
    expect(pa.config.locale).toMatchObject({ default: 'it', timezone: 'Europe/Rome' });
    expect(pa.config.security.mfa).toBe('everyone');
    const shop = await effective(await placedTenant({ profile: 'ecommerce' }));
    expect(shop.config.assistant.tone).toBe('friendly');
    expect(shop.config.retention.conversationDays).toBe(180);
    expect(shop.config.retrieval).toMatchObject({ chunkSize: 600, chunkOverlap: 80 });
    expect(shop.config.assistant.intents).toContain('order_status');
    const care = await effective(await placedTenant({ profile: 'customer_service' }));
    expect(care.config.assistant.tone).toBe('empathetic');

    const created = await call('POST', '/v1/operator/config/profiles', ctx.operatorAuth, {
      name: `insurance_${Date.now() % 100000}`,
      description: 'Insurers',
      document: { assistant: { tone: 'formal' }, retention: { conversationDays: 3650 } },
      message: 'new vertical',
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ builtin: false, version: 1 });
    const insurer = await effective(await placedTenant({ profile: created.json().name }));
    expect(insurer.keys['retention.conversationDays']).toEqual({ value: 3650, level: 'profile' });
    const again = await call('POST', '/v1/operator/config/profiles', ctx.operatorAuth, { name: created.json().name });
    expectProblem(again, 409, 'conflict');

    // A change to a profile reaches its tenants at once.
    const url = `/v1/operator/config/profiles/${created.json().name}`;
    const changed = await patch(url, ctx.operatorAuth, { assistant: { tone: 'neutral' } });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json().version).toBe(2);
    const tenantOfProfile = await placedTenant({ profile: created.json().name });
    expect((await effective(tenantOfProfile)).keys['assistant.tone']).toEqual({ value: 'neutral', level: 'profile' });

    // An unknown profile on a tenant skips the profile level; an unknown profile level answers 404.
    const stray = await effective(await placedTenant({ profile: 'no_such_profile' }));
    expect(stray.profile).toBeNull();
    expectProblem(await call('GET', '/v1/operator/config/profiles/no_such_profile', ctx.operatorAuth), 404, 'not_found');
    expectProblem(await call('GET', '/v1/operator/config/tiers/no-such-tier', ctx.operatorAuth), 404, 'not_found');
  });

  it("a change of the tenant's profile or tier by the operator applies on the next request", async () => {
    const tenant = await placedTenant({ tier: 'enterprise' });
    expect((await effective(tenant)).config.security.mfa).toBe('admins'); // cached now
    await call('PATCH', `/v1/operator/tenants/${tenant.id}`, ctx.operatorAuth, { profile: 'healthcare' });
    const view = await effective(tenant);
    expect(view.keys['security.mfa']).toEqual({ value: 'everyone', level: 'profile' });
  });
});

describe('validation (F-C2)', () => {
  const refusals: Array<[string, object, string, RegExp]> = [
    ['a wrong type', { retrieval: { chunkSize: 'big' } }, 'body/retrieval/chunkSize', /integer/],
    ['a value out of range', { retrieval: { topK: 0 } }, 'body/retrieval/topK', />= 1/],
    ['a value not in the enum', { security: { mfa: 'sometimes' } }, 'body/security/mfa', /allowed values/],
    ['an unknown key', { retrieval: { chunkSise: 800 } }, 'body/retrieval/chunkSise', /not an allowed field/],
    ['an unknown section', { colours: { primary: 'red' } }, 'body/colours', /not an allowed field/],
    ['a bad feature flag name', { features: { 'Bad Name': true } }, 'body/features', /pattern|property name/],
    ['a non-boolean feature flag', { features: { beta: 'yes' } }, 'body/features/beta', /boolean/],
    [
      'overlap not smaller than size',
      { retrieval: { chunkOverlap: 1000 } },
      'body/retrieval/chunkOverlap',
      /smaller than retrieval.chunkSize \(1000\)/,
    ],
    [
      'size not above overlap',
      { retrieval: { chunkSize: 150 } },
      'body/retrieval/chunkSize',
      /greater than retrieval.chunkOverlap \(150\)/,
    ],
    [
      'both set, inconsistent',
      { retrieval: { chunkSize: 500, chunkOverlap: 600 } },
      'body/retrieval/chunkOverlap',
      /smaller than retrieval.chunkSize \(500\)/,
    ],
    [
      'idle above absolute',
      { security: { sessionIdleMinutes: 600, sessionAbsoluteMinutes: 300 } },
      'body/security/sessionIdleMinutes',
      /must not exceed/,
    ],
    ['topK above the candidates', { retrieval: { topK: 60 } }, 'body/retrieval/topK', /candidatesPerLeg \(50\)/],
    ['zero weights', { retrieval: { weights: { vector: 0, keyword: 0 } } }, 'body/retrieval/weights/vector', /both be 0/],
    ['a default locale not supported', { locale: { default: 'fr' } }, 'body/locale/default', /locale.supported/],
    ['an unknown time zone', { locale: { timezone: 'Mars/Olympus' } }, 'body/locale/timezone', /IANA/],
  ];

  it.each(refusals)('refuses %s with 400 naming the key, and applies nothing', async (_label, body, path, message) => {
    const tenant = await placedTenant();
    const before = await effective(tenant);
    const res = await patch('/v1/config', tenant.auth, body);
    expectProblem(res, 400, 'validation_failed');
    const errors = res.json().errors as Array<{ path: string; message: string }>;
    expect(errors[0]?.path, res.body).toBe(path);
    expect(errors[0]?.message, res.body).toMatch(message);
    expect(await effective(tenant)).toEqual(before);
    expect((await call('GET', '/v1/config/versions', tenant.auth)).json().data).toEqual([]);
  });

  it('a valid change of several keys in one patch is applied whole', async () => {
    const tenant = await placedTenant();
    const res = await patch('/v1/config', tenant.auth, {
      retrieval: { chunkSize: 2000, chunkOverlap: 1200, weights: { vector: 0, keyword: 1 } },
      locale: { default: 'fr', supported: ['fr', 'en'], timezone: 'Europe/Paris' },
      notifications: { quietHours: { enabled: true, start: '21:00', end: '08:00' } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const view = await effective(tenant);
    expect(view.config.retrieval).toMatchObject({ chunkSize: 2000, chunkOverlap: 1200, weights: { vector: 0, keyword: 1 } });
    expect(view.config.locale).toEqual({ default: 'fr', supported: ['fr', 'en'], timezone: 'Europe/Paris' });
  });

  it('refuses an operator change that breaks a cross-key rule in some profile and tier', async () => {
    // ecommerce sets topK 10: 8 candidates per leg fit the default topK (8) but not that profile.
    const before = (await call('GET', '/v1/operator/config/global', ctx.operatorAuth)).json();
    const res = await patch('/v1/operator/config/global', ctx.operatorAuth, { retrieval: { candidatesPerLeg: 8 } });
    expectProblem(res, 400, 'validation_failed');
    expect(res.json().errors).toEqual([
      { path: 'body/retrieval/candidatesPerLeg', message: expect.stringMatching(/at least retrieval.topK \(10\).*profile ecommerce/) },
    ]);
    expect((await call('GET', '/v1/operator/config/global', ctx.operatorAuth)).json()).toEqual(before);
  });

  it('sets aside a tenant override that a later operator change makes inconsistent, and says so', async () => {
    const tierName = 'premium';
    const tenant = await placedTenant({ tier: tierName });
    expect((await patch('/v1/config', tenant.auth, { retrieval: { chunkOverlap: 500 } })).statusCode).toBe(200);
    const tier = await patch(`/v1/operator/config/tiers/${tierName}`, ctx.operatorAuth, { retrieval: { chunkSize: 400 } });
    expect(tier.statusCode, tier.body).toBe(200);
    try {
      const view = await effective(tenant);
      expect(view.keys['retrieval.chunkOverlap']).toEqual({ value: 150, level: 'default' });
      expect(view.keys['retrieval.chunkSize']).toEqual({ value: 400, level: 'tier' });
      expect(view.conflicts).toEqual([
        expect.objectContaining({ path: 'retrieval.chunkOverlap', level: 'tenant', rule: 'chunk_overlap_below_size' }),
      ]);
      // The tenant may fix it; repeating the broken value is refused.
      expectProblem(await patch('/v1/config', tenant.auth, { retrieval: { chunkOverlap: 450 } }), 400, 'validation_failed');
      expect((await patch('/v1/config', tenant.auth, { retrieval: { chunkOverlap: 100 } })).statusCode).toBe(200);
      expect((await effective(tenant)).conflicts).toEqual([]);
    } finally {
      await call('POST', `/v1/operator/config/tiers/${tierName}/rollback`, { ...ctx.operatorAuth, 'if-match': '*' }, { version: 0 });
    }
  });
});

describe('versions, diff and rollback (F-C3)', () => {
  it('records every change with author, time, message and diff; pages the history; diffs and rolls back', async () => {
    const tenant = await placedTenant();
    const me = (await call('GET', '/v1/me', tenant.auth)).json().user.id;
    const v1 = await patch('/v1/config', tenant.auth, { retrieval: { chunkSize: 800 }, message: 'smaller chunks' });
    expect(v1.json()).toMatchObject({ version: 1, etag: '"v1"', document: { retrieval: { chunkSize: 800 } } });
    await patch('/v1/config', tenant.auth, { retrieval: { topK: 12 }, assistant: { tone: 'friendly' } });
    const v3 = await patch('/v1/config', tenant.auth, { retrieval: { chunkSize: null }, assistant: { tone: 'formal' } });
    expect(v3.json().version).toBe(3);

    const one = await call('GET', '/v1/config/versions/1', tenant.auth);
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({
      version: 1,
      message: 'smaller chunks',
      author: { type: 'user', id: me },
      restoredFrom: null,
      document: { retrieval: { chunkSize: 800 } },
      diff: [{ path: 'retrieval.chunkSize', op: 'added', after: 800 }],
    });
    expect(Date.parse(one.json().createdAt)).toBeGreaterThan(Date.now() - 60_000);
    const three = (await call('GET', '/v1/config/versions/3', tenant.auth)).json();
    expect(three.diff).toEqual([
      { path: 'assistant.tone', op: 'changed', before: 'friendly', after: 'formal' },
      { path: 'retrieval.chunkSize', op: 'removed', before: 800 },
    ]);

    const page1 = (await call('GET', '/v1/config/versions?limit=2', tenant.auth)).json();
    expect(page1.data.map((v: { version: number }) => v.version)).toEqual([3, 2]);
    const page2 = (await call('GET', `/v1/config/versions?limit=2&cursor=${page1.nextCursor}`, tenant.auth)).json();
    expect(page2.data.map((v: { version: number }) => v.version)).toEqual([1]);
    expect(page2.nextCursor).toBeNull();
    expectProblem(await call('GET', '/v1/config/versions?cursor=bm9wZQ', tenant.auth), 400, 'invalid_cursor');

    const d = (await call('GET', '/v1/config/diff?from=1&to=3', tenant.auth)).json();
    expect(d).toEqual({
      from: 1,
      to: 3,
      changes: [
        { path: 'assistant.tone', op: 'added', after: 'formal' },
        { path: 'retrieval.chunkSize', op: 'removed', before: 800 },
        { path: 'retrieval.topK', op: 'added', after: 12 },
      ],
    });
    expect((await call('GET', '/v1/config/diff?from=0&to=1', tenant.auth)).json().changes).toHaveLength(1);
    expectProblem(await call('GET', '/v1/config/diff?from=1&to=9', tenant.auth), 404, 'not_found');
    expectProblem(await call('GET', '/v1/config/versions/9', tenant.auth), 404, 'not_found');
    expectProblem(await call('GET', '/v1/config/versions/abc', tenant.auth), 404, 'not_found');

    const rollback = await call('POST', '/v1/config/rollback', { ...tenant.auth, 'if-match': '"v3"' }, { version: 1 });
    expect(rollback.statusCode, rollback.body).toBe(200);
    expect(rollback.json()).toMatchObject({ version: 4, document: { retrieval: { chunkSize: 800 } } });
    const four = (await call('GET', '/v1/config/versions/4', tenant.auth)).json();
    expect(four).toMatchObject({ restoredFrom: 1, message: 'rollback to version 1' });
    expect((await effective(tenant)).keys['retrieval.chunkSize']).toEqual({ value: 800, level: 'tenant' });
    expect((await effective(tenant)).keys['assistant.tone']).toEqual({ value: 'neutral', level: 'default' });
  });

  it('operators have the same history for the global, profile and tier levels', async () => {
    const url = '/v1/operator/config/profiles/customer_service';
    const before = (await call('GET', url, ctx.operatorAuth)).json();
    const changed = await patch(url, ctx.operatorAuth, { notifications: { digest: 'off' }, message: 'quiet centres' });
    expect(changed.statusCode, changed.body).toBe(200);
    const versions = (await call('GET', `${url}/versions`, ctx.operatorAuth)).json().data;
    expect(versions[0]).toMatchObject({ version: before.version + 1, message: 'quiet centres', author: { type: 'operator' } });
    const d = (await call('GET', `${url}/diff?from=${before.version}&to=${before.version + 1}`, ctx.operatorAuth)).json();
    expect(d.changes).toEqual([{ path: 'notifications.digest', op: 'added', after: 'off' }]);
    const back = await call(
      'POST',
      `${url}/rollback`,
      { ...ctx.operatorAuth, 'if-match': changed.json().etag },
      { version: before.version },
    );
    expect(back.statusCode, back.body).toBe(200);
    expect(back.json().document).toEqual(before.document);
    expect((await call('GET', `${url}/versions/${before.version + 2}`, ctx.operatorAuth)).json().restoredFrom).toBe(before.version);
  });
});

describe('concurrency with ETag / If-Match (F-C3)', () => {
  it('refuses a stale If-Match with 412 and a missing one with 428; * overwrites', async () => {
    const tenant = await placedTenant();
    const read = await call('GET', '/v1/config', tenant.auth);
    expect(read.json()).toMatchObject({ version: 0, etag: '"v0"', document: {}, updatedAt: null });
    const first = await call('PATCH', '/v1/config', { ...tenant.auth, 'if-match': '"v0"' }, { retrieval: { topK: 5 } });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers.etag).toBe('"v1"');
    // A second writer that also read v0 is refused; nothing is applied.
    const second = await call('PATCH', '/v1/config', { ...tenant.auth, 'if-match': '"v0"' }, { retrieval: { topK: 6 } });
    expectProblem(second, 412, 'precondition_failed');
    expect(second.json()).toMatchObject({ currentVersion: 1, etag: '"v1"' });
    const missing = await call('PATCH', '/v1/config', tenant.auth, { retrieval: { topK: 6 } });
    expectProblem(missing, 428, 'precondition_required');
    expectProblem(await call('POST', '/v1/config/rollback', tenant.auth, { version: 0 }), 428, 'precondition_required');
    expectProblem(
      await call('POST', '/v1/config/rollback', { ...tenant.auth, 'if-match': '"v0"' }, { version: 0 }),
      412,
      'precondition_failed',
    );
    expect((await effective(tenant)).config.retrieval.topK).toBe(5);
    const star = await call('PATCH', '/v1/config', { ...tenant.auth, 'if-match': '*' }, { retrieval: { topK: 7 } });
    expect(star.statusCode).toBe(200);
    const list = await call('PATCH', '/v1/config', { ...tenant.auth, 'if-match': '"v1", "v2"' }, { retrieval: { topK: 9 } });
    expect(list.statusCode).toBe(200);
    expect(list.json().version).toBe(3);
  });

  it('of two concurrent writers with the same ETag exactly one wins', async () => {
    const tenant = await placedTenant();
    const writes = await Promise.all(
      [3, 4, 5, 6].map((topK) => call('PATCH', '/v1/config', { ...tenant.auth, 'if-match': '"v0"' }, { retrieval: { topK } })),
    );
    expect(writes.map((w) => w.statusCode).sort()).toEqual([200, 412, 412, 412]);
    expect((await call('GET', '/v1/config/versions', tenant.auth)).json().data).toHaveLength(1);
  });

  it('a no-op patch creates no version; application/merge-patch+json is accepted', async () => {
    const tenant = await placedTenant();
    const res = await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/config',
      headers: { ...tenant.auth, 'if-match': '*', 'content-type': 'application/merge-patch+json' },
      payload: JSON.stringify({ assistant: { tone: 'friendly' } }),
    });
    expect(res.statusCode, res.body).toBe(200);
    const same = await call('PATCH', '/v1/config', { ...tenant.auth, 'if-match': '*' }, { assistant: { tone: 'friendly' } });
    expect(same.json().version).toBe(1);
  });
});

describe('permissions and isolation', () => {
  it('config.read for managers, config.write for admins; members and viewers get 403', async () => {
    const tenant = await placedTenant();
    const manager = await ctx.user(tenant, 'manager');
    const member = await ctx.user(tenant, 'member');
    const admin = await ctx.user(tenant, 'admin');
    expect((await call('GET', '/v1/config/effective', manager.auth)).statusCode).toBe(200);
    expectProblem(await call('PATCH', '/v1/config', { ...manager.auth, 'if-match': '*' }, { retrieval: { topK: 3 } }), 403, 'forbidden');
    expectProblem(await call('GET', '/v1/config', member.auth), 403, 'forbidden');
    expect((await call('PATCH', '/v1/config', { ...admin.auth, 'if-match': '*' }, { retrieval: { topK: 3 } })).statusCode).toBe(200);
    expectProblem(await call('GET', '/v1/operator/config/global', tenant.auth), 401, 'invalid_token');
  });

  it("one tenant's change never reaches another, and its versions are invisible to the other", async () => {
    const a = await placedTenant({ profile: 'ecommerce' });
    const b = await placedTenant({ profile: 'ecommerce' });
    await effective(b); // cached before A's change
    expect((await patch('/v1/config', a.auth, { retrieval: { topK: 20 }, message: 'secret of A' })).statusCode).toBe(200);
    expect((await effective(a)).config.retrieval.topK).toBe(20);
    expect((await effective(b)).config.retrieval.topK).toBe(10);
    expectProblem(await call('GET', '/v1/config/versions/1', b.auth), 404, 'not_found');
    expect((await call('GET', '/v1/config/versions', b.auth)).json().data).toEqual([]);
    expect((await call('GET', '/v1/config', b.auth)).body).not.toContain('secret of A');
    // The rows are where RLS puts them.
    const rows = await ctx.db.withTenant(b.id, (tx) => tx.query('SELECT * FROM tenant_config_versions'));
    expect(rows.rows).toEqual([]);
  });
});

/**
 * Rollouts change what every tenant of the database may see, so they live in this file, whose tests
 * run one after another (on PostgreSQL, test files share one database and run in parallel).
 */
describe('gradual rollout of a global change (F-C4)', () => {
  const rollouts = '/v1/operator/config/global/rollouts';

  async function tenants(n: number): Promise<TestTenant[]> {
    const made: TestTenant[] = [];
    for (let i = 0; i < n; i += 1) made.push(await placedTenant());
    return made;
  }

  it('gives the change to a deterministic share of tenants, widens without taking it from anyone, and completes', async () => {
    const group = await tenants(16);
    const created = await call('POST', rollouts, ctx.operatorAuth, {
      patch: { assistant: { temperature: 0.9 } },
      percentage: 50,
      errorThreshold: 0.1,
      message: 'warmer answers',
    });
    expect(created.statusCode, created.body).toBe(201);
    const rollout = created.json();
    expect(rollout).toMatchObject({ status: 'active', percentage: 50, minRequests: 20, author: { type: 'operator' } });
    const inCohort = (t: TestTenant) => cohortPoint(rollout.id, t.id) < 50;
    try {
      const cohort = group.filter(inCohort);
      expect(cohort.length, 'some tenants in the cohort').toBeGreaterThan(0);
      expect(cohort.length, 'some tenants outside it').toBeLessThan(group.length);
      for (const tenant of group) {
        const view = await effective(tenant);
        if (inCohort(tenant)) {
          expect(view.keys['assistant.temperature']).toEqual({ value: 0.9, level: 'rollout', rolloutId: rollout.id });
          expect(view.rollouts).toContain(rollout.id);
        } else {
          expect(view.keys['assistant.temperature']).toEqual({ value: 0.3, level: 'default' });
          expect(view.rollouts).not.toContain(rollout.id);
        }
        // Same answer on every read (deterministic, no state per tenant).
        expect((await effective(tenant)).keys['assistant.temperature']).toEqual(view.keys['assistant.temperature']);
      }

      const narrower = await call('PATCH', `${rollouts}/${rollout.id}`, ctx.operatorAuth, { percentage: 40 });
      expectProblem(narrower, 400, 'validation_failed');
      const wider = await call('PATCH', `${rollouts}/${rollout.id}`, ctx.operatorAuth, { percentage: 100 });
      expect(wider.statusCode, wider.body).toBe(200);
      for (const tenant of group) expect((await effective(tenant)).config.assistant.temperature).toBe(0.9);

      const listed = (await call('GET', `${rollouts}?active=true`, ctx.operatorAuth)).json().data;
      expect(listed.map((r: { id: string }) => r.id)).toContain(rollout.id);

      const before = (await call('GET', '/v1/operator/config/global', ctx.operatorAuth)).json();
      const completed = await call('POST', `${rollouts}/${rollout.id}/complete`, ctx.operatorAuth);
      expect(completed.statusCode, completed.body).toBe(200);
      expect(completed.json()).toMatchObject({ status: 'completed', completedVersion: before.version + 1 });
      const global = (await call('GET', '/v1/operator/config/global', ctx.operatorAuth)).json();
      expect(global.document.assistant.temperature).toBe(0.9);
      for (const tenant of group.slice(0, 3)) {
        expect((await effective(tenant)).keys['assistant.temperature']).toEqual({ value: 0.9, level: 'global' });
      }
      expectProblem(await call('POST', `${rollouts}/${rollout.id}/rollback`, ctx.operatorAuth, {}), 409, 'conflict');
      const restored = await call(
        'POST',
        '/v1/operator/config/global/rollback',
        { ...ctx.operatorAuth, 'if-match': global.etag },
        { version: before.version },
      );
      expect(restored.statusCode, restored.body).toBe(200);
    } finally {
      await call('POST', `${rollouts}/${rollout.id}/rollback`, ctx.operatorAuth, {});
    }
  });

  it('refuses an invalid rollout patch with the key path', async () => {
    const res = await call('POST', rollouts, ctx.operatorAuth, {
      patch: { retrieval: { chunkOverlap: 5000 } },
      percentage: 10,
      errorThreshold: 0.1,
    });
    expectProblem(res, 400, 'validation_failed');
    expect(res.json().errors[0].path).toBe('body/patch/retrieval/chunkOverlap');
    const rule = await call('POST', rollouts, ctx.operatorAuth, {
      patch: { retrieval: { chunkOverlap: 1500 } },
      percentage: 10,
      errorThreshold: 0.1,
    });
    expectProblem(rule, 400, 'validation_failed');
    expect(rule.json().errors[0]).toMatchObject({
      path: 'body/patch/retrieval/chunkOverlap',
      message: expect.stringMatching(/smaller than/),
    });
    expectProblem(await call('GET', `${rollouts}/not-an-id`, ctx.operatorAuth), 404, 'not_found');
  });

  it('rolls back by itself when the cohort’s error rate rises above the threshold compared with the rest', async () => {
    const group = await tenants(16);
    const created = await call('POST', rollouts, ctx.operatorAuth, {
      patch: { retrieval: { topK: 9 } },
      percentage: 50,
      errorThreshold: 0.2,
      minRequests: 10,
      message: 'one more chunk',
    });
    expect(created.statusCode, created.body).toBe(201);
    const rollout = created.json();
    const cohort = group.filter((t) => cohortPoint(rollout.id, t.id) < 50);
    const rest = group.filter((t) => cohortPoint(rollout.id, t.id) >= 50);
    expect(cohort.length).toBeGreaterThan(0);
    expect(rest.length).toBeGreaterThan(0);
    const config = ctx.palazzo.services.config;
    const outcomes = ctx.palazzo.services.requestErrors;
    try {
      expect(await config.evaluateRollouts()).toEqual([]); // starts this node's comparison window

      // Real requests are counted by the onResponse hook.
      const counted = outcomes.snapshot().get(cohort[0]?.id as string)?.requests ?? 0;
      await effective(cohort[0] as TestTenant);
      expect(outcomes.snapshot().get(cohort[0]?.id as string)?.requests).toBe(counted + 1);

      // Injected outcomes: the cohort at 10% errors, the rest at 0%: under the 20-point threshold.
      const record = (ts: TestTenant[], requests: number, errors: number) => {
        for (const t of ts) for (let i = 0; i < requests; i += 1) outcomes.record(t.id, i < errors ? 503 : 200);
      };
      record(cohort, 10, 1);
      record(rest, 10, 0);
      expect(await config.evaluateRollouts()).toEqual([]);
      expect((await effective(cohort[0] as TestTenant)).config.retrieval.topK).toBe(9);

      // The cohort gets worse: 5 more errors out of 10 each → well above the rest + 20 points.
      record(cohort, 10, 5);
      record(rest, 10, 1);
      // This node's timer may have judged first; either way the rollout is rolled back exactly once.
      await config.evaluateRollouts();

      const after = (await call('GET', `${rollouts}/${rollout.id}`, ctx.operatorAuth)).json();
      expect(after.status).toBe('rolled_back');
      expect(after.endedAt).not.toBeNull();
      expect(after.rollback).toMatchObject({ automatic: true, threshold: 0.2, by: { type: 'system', id: null } });
      expect(after.rollback.cohort.rate).toBeGreaterThan(after.rollback.rest.rate + 0.2);
      for (const tenant of cohort) {
        const view = await effective(tenant);
        expect(view.keys['retrieval.topK']).toEqual({ value: 8, level: 'default' });
        expect(view.rollouts).toEqual([]);
      }
      expect(await config.evaluateRollouts()).toEqual([]);
    } finally {
      await call('POST', `${rollouts}/${rollout.id}/rollback`, ctx.operatorAuth, {});
    }
  });

  it('is judged only on enough cohort requests', async () => {
    const group = await tenants(8);
    const created = await call('POST', rollouts, ctx.operatorAuth, {
      patch: { retrieval: { topK: 7 } },
      percentage: 100,
      errorThreshold: 0.05,
      minRequests: 50,
    });
    const rollout = created.json();
    try {
      const config = ctx.palazzo.services.config;
      await config.evaluateRollouts();
      for (const t of group) for (let i = 0; i < 5; i += 1) ctx.palazzo.services.requestErrors.record(t.id, 500);
      expect(await config.evaluateRollouts()).toEqual([]); // 40 requests < 50
      expect((await call('GET', `${rollouts}/${rollout.id}`, ctx.operatorAuth)).json().status).toBe('active');
      for (const t of group.slice(0, 2)) for (let i = 0; i < 5; i += 1) ctx.palazzo.services.requestErrors.record(t.id, 500);
      await config.evaluateRollouts();
      expect((await call('GET', `${rollouts}/${rollout.id}`, ctx.operatorAuth)).json()).toMatchObject({
        status: 'rolled_back',
        rollback: { automatic: true },
      });
    } finally {
      await call('POST', `${rollouts}/${rollout.id}/rollback`, ctx.operatorAuth, {});
    }
  });
});
