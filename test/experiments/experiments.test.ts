import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignVariant } from '../../src/modules/experiments/index.ts';
import { createTestContext, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';

let ctx: TestContext;
let tenant: TestTenant;
beforeAll(async () => {
  ctx = await createTestContext();
  tenant = await ctx.tenant();
});
afterAll(async () => {
  await ctx?.close();
});

let keyCounter = 0;
const THREE_WAY = [
  { key: 'control', weight: 50 },
  { key: 'green', weight: 30 },
  { key: 'blue', weight: 20 },
];

async function create(t: TestTenant, variants = THREE_WAY, extra: object = {}) {
  keyCounter += 1;
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/experiments',
    headers: t.auth,
    payload: { key: `checkout-button-${keyCounter}`, description: 'Colour of the checkout button', variants, ...extra },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; key: string; status: string; control: string };
}

async function start(t: TestTenant, id: string) {
  const res = await ctx.app.inject({ method: 'PATCH', url: `/v1/experiments/${id}`, headers: t.auth, payload: { status: 'running' } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const assign = (t: { auth: { authorization: string } }, id: string, subjectId?: string) =>
  ctx.app.inject({ method: 'POST', url: `/v1/experiments/${id}/assignments`, headers: t.auth, payload: subjectId ? { subjectId } : {} });
const event = (t: { auth: { authorization: string } }, id: string, payload: object) =>
  ctx.app.inject({ method: 'POST', url: `/v1/experiments/${id}/events`, headers: t.auth, payload });

describe('experiments CRUD and lifecycle', () => {
  it('creates a draft, lists it, starts it, refuses variant changes once running, stops it for good', async () => {
    const exp = await create(tenant);
    expect(exp).toMatchObject({ status: 'draft', control: 'control' });
    const listed = await ctx.app.inject({ method: 'GET', url: '/v1/experiments?status=draft', headers: tenant.auth });
    expect(listed.json().data.map((e: { id: string }) => e.id)).toContain(exp.id);

    const edited = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/experiments/${exp.id}`,
      headers: tenant.auth,
      payload: {
        variants: [
          { key: 'control', weight: 40 },
          { key: 'green', weight: 60 },
        ],
        control: 'control',
      },
    });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json().variants).toHaveLength(2);
    const running = await start(tenant, exp.id);
    expect(running.startedAt).not.toBeNull();

    const late = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/experiments/${exp.id}`,
      headers: tenant.auth,
      payload: {
        variants: [
          { key: 'control', weight: 50 },
          { key: 'green', weight: 50 },
        ],
      },
    });
    expectProblem(late, 409, 'conflict');
    const stopped = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/experiments/${exp.id}`,
      headers: tenant.auth,
      payload: { status: 'stopped' },
    });
    expect(stopped.json()).toMatchObject({ status: 'stopped' });
    const restart = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/experiments/${exp.id}`,
      headers: tenant.auth,
      payload: { status: 'running' },
    });
    expectProblem(restart, 409, 'conflict');
    expectProblem(await assign(tenant, exp.id), 409, 'conflict');
    expectProblem(await event(tenant, exp.id, { type: 'exposure' }), 409, 'conflict');

    expect((await ctx.app.inject({ method: 'DELETE', url: `/v1/experiments/${exp.id}`, headers: tenant.auth })).statusCode).toBe(204);
    expectProblem(await ctx.app.inject({ method: 'GET', url: `/v1/experiments/${exp.id}`, headers: tenant.auth }), 404, 'not_found');
  });

  it('refuses weights that do not sum to 100, repeated keys, an unknown control and a duplicate experiment key', async () => {
    const bad = [
      {
        variants: [
          { key: 'a', weight: 50 },
          { key: 'b', weight: 40 },
        ],
      },
      {
        variants: [
          { key: 'a', weight: 50 },
          { key: 'a', weight: 50 },
        ],
      },
      {
        variants: [
          { key: 'a', weight: 50 },
          { key: 'b', weight: 50 },
        ],
        control: 'c',
      },
      { variants: [{ key: 'a', weight: 100 }] },
      {
        variants: [
          { key: 'a', weight: 101 },
          { key: 'b', weight: -1 },
        ],
      },
      {
        variants: [
          { key: 'A B', weight: 50 },
          { key: 'b', weight: 50 },
        ],
      },
    ];
    for (const body of bad) {
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/v1/experiments',
        headers: tenant.auth,
        payload: { key: 'bad-one', ...body },
      });
      expectProblem(res, 400, 'validation_failed');
    }
    const exp = await create(tenant);
    const dup = await ctx.app.inject({
      method: 'POST',
      url: '/v1/experiments',
      headers: tenant.auth,
      payload: { key: exp.key, variants: THREE_WAY },
    });
    expectProblem(dup, 409, 'conflict');
    // Another tenant may use the same key.
    const other = await ctx.tenant();
    const same = await ctx.app.inject({
      method: 'POST',
      url: '/v1/experiments',
      headers: other.auth,
      payload: { key: exp.key, variants: THREE_WAY },
    });
    expect(same.statusCode, same.body).toBe(201);
  });
});

describe('assignment', () => {
  it('is stable across calls and across server nodes, defaults to the calling user, and matches the pure function', async () => {
    const exp = await create(tenant);
    await start(tenant, exp.id);
    const me = (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth })).json().user.id as string;
    const first = await assign(tenant, exp.id);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ experimentId: exp.id, subjectId: me, variant: assignVariant(exp.id, me, THREE_WAY) });
    for (let i = 0; i < 5; i += 1) expect((await assign(tenant, exp.id)).json().variant).toBe(first.json().variant);

    // A second node on the same database answers the same for every subject.
    const node2 = await createTestContext({ db: ctx.db });
    try {
      for (let i = 0; i < 30; i += 1) {
        const subject = `customer-${i}`;
        const one = (await assign(tenant, exp.id, subject)).json().variant;
        const two = (
          await node2.app.inject({
            method: 'POST',
            url: `/v1/experiments/${exp.id}/assignments`,
            headers: tenant.auth,
            payload: { subjectId: subject },
          })
        ).json().variant;
        expect(two).toBe(one);
      }
    } finally {
      await node2.close();
    }
  });

  it('allocates roughly by weight over many subjects through the API', async () => {
    const exp = await create(tenant, [
      { key: 'control', weight: 70 },
      { key: 'treatment', weight: 30 },
    ]);
    await start(tenant, exp.id);
    const key = await ctx.apiKey(tenant, ['experiments.read']);
    let treatment = 0;
    const n = 400;
    for (let i = 0; i < n; i += 1) if ((await assign(key, exp.id, `visitor-${i}`)).json().variant === 'treatment') treatment += 1;
    // sd at n = 400, p = 0.3 is 2.3 points; 8 points is 3.5 sd.
    expect(Math.abs(treatment / n - 0.3)).toBeLessThan(0.08);
  });

  it('needs a subjectId when the caller is an API key', async () => {
    const exp = await create(tenant);
    await start(tenant, exp.id);
    const key = await ctx.apiKey(tenant, ['experiments.read', 'experiments.write']);
    expectProblem(await assign(key, exp.id), 400, 'validation_failed');
    expectProblem(await event(key, exp.id, { type: 'exposure' }), 400, 'validation_failed');
  });
});

describe('events and results', () => {
  it('records each event once per subject and type; a conversion implies the exposure; a wrong variant is refused', async () => {
    const exp = await create(tenant);
    await start(tenant, exp.id);
    const assigned = assignVariant(exp.id, 'alice', THREE_WAY);
    const first = await event(tenant, exp.id, { type: 'exposure', subjectId: 'alice' });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ recorded: true, variant: assigned, type: 'exposure' });
    const repeat = await event(tenant, exp.id, { type: 'exposure', subjectId: 'alice', variant: assigned });
    expect(repeat.json()).toMatchObject({ recorded: false, variant: assigned });
    const other = THREE_WAY.map((v) => v.key).find((k) => k !== assigned) as string;
    const wrong = await event(tenant, exp.id, { type: 'conversion', subjectId: 'alice', variant: other });
    expectProblem(wrong, 409, 'conflict');
    expect(wrong.json().assignedVariant).toBe(assigned);
    expectProblem(await event(tenant, exp.id, { type: 'conversion', subjectId: 'alice', variant: 'purple' }), 400, 'validation_failed');
    expectProblem(await event(tenant, exp.id, { type: 'click', subjectId: 'alice' }), 400, 'validation_failed');

    // bob converts without a recorded exposure: both are counted.
    expect((await event(tenant, exp.id, { type: 'conversion', subjectId: 'bob' })).json().recorded).toBe(true);
    expect((await event(tenant, exp.id, { type: 'conversion', subjectId: 'bob' })).json().recorded).toBe(false);
    expect((await event(tenant, exp.id, { type: 'conversion', subjectId: 'alice' })).json().recorded).toBe(true);

    const results = (await ctx.app.inject({ method: 'GET', url: `/v1/experiments/${exp.id}/results`, headers: tenant.auth })).json();
    const totals = results.variants.reduce(
      (sum: { e: number; c: number }, v: { exposures: number; conversions: number }) => ({
        e: sum.e + v.exposures,
        c: sum.c + v.conversions,
      }),
      { e: 0, c: 0 },
    );
    expect(totals).toEqual({ e: 2, c: 2 });
    const { rows } = await ctx.db.withTenant(tenant.id, (tx) =>
      tx.query<{ n: number }>('SELECT count(*)::int AS n FROM experiment_events WHERE experiment_id = $1', [exp.id]),
    );
    expect(rows[0]?.n).toBe(4);
  });

  it('reports the hand-computed case: control 200/1000 vs treatment 250/1000', async () => {
    const exp = await create(tenant, [
      { key: 'control', weight: 50 },
      { key: 'treatment', weight: 50 },
    ]);
    await start(tenant, exp.id);
    // Events written straight into the tenant's table so that the counts are exactly the textbook ones.
    await ctx.db.withTenant(tenant.id, async (tx) => {
      for (const [variant, conversions] of [
        ['control', 200],
        ['treatment', 250],
      ] as const) {
        await tx.query(
          `INSERT INTO experiment_events (tenant_id, experiment_id, subject_id, type, variant)
           SELECT $1::uuid, $2::uuid, $3::text || g, 'exposure', $3::text FROM generate_series(1, 1000) g
           UNION ALL SELECT $1::uuid, $2::uuid, $3::text || g, 'conversion', $3::text FROM generate_series(1, $4::int) g`,
          [tenant.id, exp.id, variant, conversions],
        );
      }
    });
    const res = await ctx.app.inject({ method: 'GET', url: `/v1/experiments/${exp.id}/results`, headers: tenant.auth });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ control: 'control', confidenceLevel: 0.95, status: 'running' });
    const [control, treatment] = body.variants;
    expect(control).toMatchObject({
      key: 'control',
      isControl: true,
      exposures: 1000,
      conversions: 200,
      conversionRate: 0.2,
      comparison: null,
    });
    expect(control.confidenceInterval.low).toBeCloseTo(0.17638, 5);
    expect(control.confidenceInterval.high).toBeCloseTo(0.22592, 5);
    expect(treatment).toMatchObject({ key: 'treatment', exposures: 1000, conversions: 250, conversionRate: 0.25 });
    expect(treatment.confidenceInterval.low).toBeCloseTo(0.22415, 5);
    expect(treatment.confidenceInterval.high).toBeCloseTo(0.27776, 5);
    expect(treatment.comparison.against).toBe('control');
    expect(treatment.comparison.difference).toBeCloseTo(0.05, 10);
    expect(treatment.comparison.relativeLift).toBeCloseTo(0.25, 10);
    expect(treatment.comparison.z).toBeCloseTo(2.6774, 4);
    expect(treatment.comparison.pValue).toBeCloseTo(0.0074196, 6);
    expect(treatment.comparison.significant).toBe(true);
    expect(body.summary).toContain('treatment: 25% conversion (95% CI 22.4%–27.8%); p = 0.0074, significant at 95%');
    const italian = await ctx.app.inject({
      method: 'GET',
      url: `/v1/experiments/${exp.id}/results`,
      headers: { ...tenant.auth, 'accept-language': 'it' },
    });
    expect(italian.json().summary).toContain('treatment: conversione 25% (IC 95% 22,4%–27,8%); p = 0,0074, significativo al 95%');
    expect(italian.json().summary).toMatch(/^In corso dal /);
  });

  it('reports nulls, not zeros or NaN, for variants without data', async () => {
    const exp = await create(tenant);
    const body = (await ctx.app.inject({ method: 'GET', url: `/v1/experiments/${exp.id}/results`, headers: tenant.auth })).json();
    for (const v of body.variants) {
      expect(v).toMatchObject({ exposures: 0, conversions: 0, conversionRate: null, confidenceInterval: null });
      if (!v.isControl) expect(v.comparison).toMatchObject({ pValue: null, z: null, significant: false });
    }
    expect(body.summary).toBe('Not started. No exposures yet.');
  });
});

describe('isolation and permissions', () => {
  it("answers another tenant's experiment exactly like a missing one, on every route", async () => {
    const other = await ctx.tenant();
    const exp = await create(tenant);
    await start(tenant, exp.id);
    const missing = '01890000-0000-7000-8000-000000000001';
    const calls: Array<[string, string, object | undefined]> = [
      ['GET', '', undefined],
      ['PATCH', '', { description: 'hijacked' }],
      ['POST', '/assignments', { subjectId: 'x' }],
      ['POST', '/events', { type: 'exposure', subjectId: 'x' }],
      ['GET', '/results', undefined],
      ['DELETE', '', undefined],
    ];
    for (const [method, suffix, payload] of calls) {
      const foreign = await ctx.app.inject({
        method: method as 'GET',
        url: `/v1/experiments/${exp.id}${suffix}`,
        headers: other.auth,
        payload,
      });
      const absent = await ctx.app.inject({
        method: method as 'GET',
        url: `/v1/experiments/${missing}${suffix}`,
        headers: other.auth,
        payload,
      });
      expectProblem(foreign, 404, 'not_found');
      expect(foreign.body, `${method} ${suffix}`).toBe(absent.body);
    }
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/experiments', headers: other.auth })).body).not.toContain(exp.id);
    expect((await ctx.app.inject({ method: 'GET', url: `/v1/experiments/${exp.id}`, headers: tenant.auth })).json().description).toBe(
      'Colour of the checkout button',
    );
  });

  it('lets a manager read and get assignments but not write; a member neither', async () => {
    const exp = await create(tenant);
    await start(tenant, exp.id);
    const manager = await ctx.user(tenant, 'manager');
    const member = await ctx.user(tenant, 'member');
    expect((await ctx.app.inject({ method: 'GET', url: `/v1/experiments/${exp.id}/results`, headers: manager.auth })).statusCode).toBe(200);
    expect((await assign(manager, exp.id)).statusCode).toBe(200);
    expectProblem(await event(manager, exp.id, { type: 'exposure' }), 403, 'forbidden');
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/experiments', headers: member.auth }), 403, 'forbidden');
  });
});
