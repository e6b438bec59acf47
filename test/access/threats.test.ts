/**
 * Threat detection (F-B7): online-guessing throttle (T13), no account enumeration by content or
 * timing (T14), anomaly detection with its automatic responses lifted by an admin, and the filters
 * of the security events API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/platform/config.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, testConfig, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';

function threats(overrides: { login?: Partial<Config['threats']['login']>; anomaly?: Partial<Config['threats']['anomaly']> }) {
  const base = testConfig().threats;
  return { threats: { login: { ...base.login, ...overrides.login }, anomaly: { ...base.anomaly, ...overrides.anomaly } } };
}

/** The body of a problem without what differs per request by design. */
function comparable(body: string) {
  const { instance: _instance, requestId: _requestId, ...rest } = JSON.parse(body) as Record<string, unknown>;
  return rest;
}

describe('online guessing throttle (T13)', () => {
  let ctx: TestContext;
  let tenant: TestTenant;

  beforeAll(async () => {
    ctx = await createTestContext({ config: threats({ login: { freeFailures: 5, maxDelaySeconds: 2, ipFailures: 10_000 } }) });
    tenant = await ctx.tenant();
  });
  afterAll(async () => ctx?.close());

  const login = (email: string, password: string, remoteAddress = '198.51.100.7', xff?: string) =>
    ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      remoteAddress,
      headers: xff ? { 'x-forwarded-for': xff } : {},
      payload: { tenant: tenant.slug, email, password },
    });

  it('150 wrong passwords over 50 spoofed X-Forwarded-For values: at most a handful are verified, the rest wait', async () => {
    const victim = await ctx.user(tenant, 'member');
    const unknown = `nobody-${uniqueSlug()}@${tenant.slug}.test`;
    // The owner of the account logged in from home before the attack: a known device.
    const home = await login(victim.email, PASSWORD, '203.0.113.50');
    expect(home.statusCode).toBe(200);

    const statuses = { existing: [] as number[], unknown: [] as number[] };
    const bodies = { existing: new Set<string>(), unknown: new Set<string>() };
    for (let i = 0; i < 150; i += 1) {
      const xff = `192.0.2.${i % 50}`;
      for (const [which, email] of [
        ['existing', victim.email],
        ['unknown', unknown],
      ] as const) {
        const res = await login(email, `wrong guess ${i}`, '198.51.100.7', xff);
        statuses[which].push(res.statusCode);
        // retryAfter counts down in time; the rest of the answer must be the same.
        const { retryAfter: _retryAfter, ...rest } = comparable(res.body);
        bodies[which].add(JSON.stringify({ status: res.statusCode, ...rest }));
      }
    }
    const verified = statuses.existing.filter((s) => s === 401).length;
    expect(verified, 'password verifications of the attacked account').toBeLessThanOrEqual(10);
    expect(statuses.existing.filter((s) => s === 429).length).toBeGreaterThan(100);
    expect(statuses.existing.every((s) => s === 401 || s === 429)).toBe(true);
    // The spoofed addresses changed nothing, and an unknown account is throttled alike (the delays
    // are measured in time, so the two sequences may differ by an attempt at a window's edge).
    const unknownVerified = statuses.unknown.filter((s) => s === 401).length;
    expect(Math.abs(unknownVerified - verified), `${unknownVerified} vs ${verified}`).toBeLessThanOrEqual(2);
    expect([...bodies.unknown].sort()).toEqual([...bodies.existing].sort());
    const throttled = await login(victim.email, 'one more', '198.51.100.7');
    expectProblem(throttled, 429, 'rate_limited');
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    // The owner, from the device that logged in before, is not locked out by the attacker.
    const owner = await login(victim.email, PASSWORD, '203.0.113.50');
    expect(owner.statusCode, owner.body).toBe(200);
  });

  it('the delay is bounded: after it, the correct password works from anywhere and resets the count', async () => {
    const victim = await ctx.user(tenant, 'member');
    for (let i = 0; i < 12; i += 1) await login(victim.email, `bad ${i}`, '198.51.100.9');
    const waiting = await login(victim.email, PASSWORD, '198.51.100.10');
    expectProblem(waiting, 429, 'rate_limited');
    // maxDelaySeconds is 2 in this file.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const ok = await login(victim.email, PASSWORD, '198.51.100.10');
    expect(ok.statusCode, ok.body).toBe(200);
    // The count was reset: the next failures are verified again (401), not delayed.
    for (let i = 0; i < 5; i += 1) expect((await login(victim.email, `again ${i}`, '198.51.100.11')).statusCode).toBe(401);
  });

  it('failed logins are recorded as security events, never with the password', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/v1/security-events?type=login_failed&limit=5', headers: tenant.auth });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.length).toBeGreaterThan(0);
    expect(res.body).not.toContain('wrong guess');
  });
});

describe('no account enumeration (T14)', () => {
  let ctx: TestContext;
  let tenant: TestTenant;

  beforeAll(async () => {
    ctx = await createTestContext({ config: threats({ login: { freeFailures: 100, ipFailures: 100_000 } }) });
    tenant = await ctx.tenant();
  });
  afterAll(async () => ctx?.close());

  it('an existing and an unknown account get the same status, body and timing', async () => {
    const existing = tenant.ownerEmail;
    const unknown = `ghost-${uniqueSlug()}@${tenant.slug}.test`;
    const samples: Record<'existing' | 'unknown', number[]> = { existing: [], unknown: [] };
    const bodies = new Set<string>();
    const N = 60;
    for (let i = 0; i < N; i += 1) {
      for (const [which, email] of (i % 2 === 0
        ? [
            ['existing', existing],
            ['unknown', unknown],
          ]
        : [
            ['unknown', unknown],
            ['existing', existing],
          ]) as Array<['existing' | 'unknown', string]>) {
        const started = performance.now();
        const res = await ctx.app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { tenant: tenant.slug, email, password: `not the password ${i}` },
        });
        samples[which].push(performance.now() - started);
        bodies.add(JSON.stringify({ status: res.statusCode, ...comparable(res.body) }));
      }
    }
    expect(bodies.size, [...bodies].join('\n')).toBe(1);
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    // Paired differences (the two calls of one round run back to back) cancel the drift of a
    // machine shared with other work; their median must stay below 10% of the median or 5 ms.
    const paired = median(samples.existing.map((t, i) => t - (samples.unknown[i] as number)));
    const typical = median([...samples.existing, ...samples.unknown]);
    expect(Math.abs(paired), `median paired difference ${paired.toFixed(1)} ms, median ${typical.toFixed(1)} ms`).toBeLessThan(
      Math.max(5, 0.1 * typical),
    );
  });
});

describe('anomaly detection and automatic response', () => {
  let ctx: TestContext;
  let tenant: TestTenant;

  beforeAll(async () => {
    ctx = await createTestContext({ config: threats({ anomaly: { floor: 6, multiplier: 5, windowSeconds: 600, lockMinutes: 30 } }) });
    tenant = await ctx.tenant();
  });
  afterAll(async () => ctx?.close());

  const events = async (query: string) => {
    const res = await ctx.app.inject({ method: 'GET', url: `/v1/security-events?${query}`, headers: tenant.auth });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data as Array<{
      type: string;
      severity: string;
      actor: { type: string; id: string } | null;
      details: Record<string, unknown>;
    }>;
  };

  it('a user refused again and again is locked (sessions end, login answers like a wrong password) until an admin unlocks', async () => {
    const member = await ctx.user(tenant, 'member');
    for (let i = 0; i < 5; i += 1) {
      expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/api-keys', headers: member.auth }), 403, 'forbidden');
    }
    await ctx.palazzo.services.threats.settle();
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: member.auth })).statusCode, 'below the floor').toBe(200);
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/api-keys', headers: member.auth }), 403, 'forbidden');
    await ctx.palazzo.services.threats.settle();

    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: member.auth }), 401, 'invalid_token');
    const locked = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: member.email, password: PASSWORD },
    });
    const wrong = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: member.email, password: 'wrong password here' },
    });
    expectProblem(locked, 401, 'invalid_credentials');
    expect(comparable(locked.body)).toEqual(comparable(wrong.body));

    const lockEvents = await events('type=account_locked');
    expect(lockEvents.some((e) => e.details.userId === member.id && e.severity === 'high')).toBe(true);
    const anomaly = await events(`type=anomaly_detected&actorId=${member.id}`);
    expect(anomaly[0]?.details).toMatchObject({ signal: 'forbidden', response: 'account_locked', threshold: 6 });

    const unlock = await ctx.app.inject({ method: 'POST', url: `/v1/users/${member.id}/unlock`, headers: tenant.auth });
    expect(unlock.statusCode, unlock.body).toBe(200);
    expect(unlock.json()).toMatchObject({ id: member.id, lockedUntil: null });
    const again = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: member.email, password: PASSWORD },
    });
    expect(again.statusCode, again.body).toBe(200);
    expect((await events('type=account_unlocked'))[0]?.details.userId).toBe(member.id);
  });

  it('an API key that keeps probing is suspended at once on every request path, and reinstated by an admin', async () => {
    const key = await ctx.apiKey(tenant, ['tenant.read']);
    for (let i = 0; i < 6; i += 1) await ctx.app.inject({ method: 'GET', url: '/v1/users', headers: key.auth });
    await ctx.palazzo.services.threats.settle();
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: key.auth }), 401, 'invalid_token');
    const suspended = await events('type=api_key_suspended');
    expect(suspended.some((e) => e.details.apiKeyId === key.id)).toBe(true);

    const back = await ctx.app.inject({ method: 'POST', url: `/v1/api-keys/${key.id}/reinstate`, headers: tenant.auth });
    expect(back.statusCode, back.body).toBe(200);
    expect(back.json()).toMatchObject({ id: key.id, suspendedAt: null });
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: key.auth })).statusCode).toBe(200);
  });

  it('cross-tenant probes (X-Tenant-ID of another tenant) trip sooner: a quarter of the floor', async () => {
    const other = await ctx.tenant();
    const key = await ctx.apiKey(tenant, ['tenant.read']);
    for (let i = 0; i < 2; i += 1) {
      expectProblem(
        await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: { ...key.auth, 'x-tenant-id': other.id } }),
        403,
        'tenant_mismatch',
      );
    }
    await ctx.palazzo.services.threats.settle();
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: key.auth }), 401, 'invalid_token');
    const anomaly = await events(`type=anomaly_detected&actorId=${key.id}`);
    expect(anomaly[0]?.details).toMatchObject({ signal: 'tenant_mismatch', response: 'api_key_suspended', threshold: 2 });
  });

  it('failed logins across the tenant raise an anomaly event but never lock the targeted account (T13)', async () => {
    const t = await ctx.tenant();
    const target = await ctx.user(t, 'member');
    for (let i = 0; i < 6; i += 1) {
      await ctx.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        remoteAddress: `198.51.100.${100 + i}`,
        payload: { tenant: t.slug, email: `guess-${i}@${t.slug}.test`, password: 'wrong password guess' },
      });
    }
    await ctx.palazzo.services.threats.settle();
    const res = await ctx.app.inject({ method: 'GET', url: '/v1/security-events?type=anomaly_detected', headers: t.auth });
    expect(res.json().data[0]?.details).toMatchObject({ signal: 'login_failed', response: 'none' });
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: target.auth })).statusCode).toBe(200);
  });

  it('unlock and reinstate answer 404 for unknown or malformed ids', async () => {
    expectProblem(await ctx.app.inject({ method: 'POST', url: '/v1/users/not-an-id/unlock', headers: tenant.auth }), 404, 'not_found');
    expectProblem(
      await ctx.app.inject({ method: 'POST', url: '/v1/api-keys/0190b5d2-0000-7000-8000-000000000000/reinstate', headers: tenant.auth }),
      404,
      'not_found',
    );
  });
});

describe('security events API: filters and pagination', () => {
  let ctx: TestContext;
  let tenant: TestTenant;

  beforeAll(async () => {
    ctx = await createTestContext();
    tenant = await ctx.tenant();
  });
  afterAll(async () => ctx?.close());

  const list = (query: string) => ctx.app.inject({ method: 'GET', url: `/v1/security-events?${query}`, headers: tenant.auth });

  it('filters by type, severity, actor and time range, and pages newest first', async () => {
    const member = await ctx.user(tenant, 'member');
    const other = await ctx.tenant();
    const before = new Date().toISOString();
    for (let i = 0; i < 3; i += 1) {
      await ctx.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { tenant: tenant.slug, email: member.email, password: `wrong ${i} attempt` },
      });
    }
    await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { ...tenant.auth, 'x-tenant-id': other.id } });
    const after = new Date(Date.now() + 1000).toISOString();

    const failed = (await list('type=login_failed')).json().data;
    expect(failed).toHaveLength(3);
    expect(failed.every((e: { type: string }) => e.type === 'login_failed')).toBe(true);
    const high = (await list('severity=high')).json().data;
    expect(high.map((e: { type: string }) => e.type)).toEqual(['tenant_mismatch']);
    // From `before`: the member's own login (a login_risk event of adaptive MFA) came earlier.
    const byActor = (await list(`actorType=user&actorId=${member.id}&from=${encodeURIComponent(before)}`)).json().data;
    expect(byActor).toHaveLength(3);
    expect((await list(`actorId=${member.id}&severity=high`)).json().data).toEqual([]);
    expect((await list(`from=${encodeURIComponent(after)}`)).json().data).toEqual([]);
    expect((await list(`from=${encodeURIComponent(before)}&to=${encodeURIComponent(after)}`)).json().data).toHaveLength(4);
    // Before `before` there are only the logins' own risk records (adaptive MFA), none of these.
    expect((await list(`type=login_failed&to=${encodeURIComponent(before)}`)).json().data).toEqual([]);
    expect((await list('actorId=not-a-uuid')).json().data).toEqual([]);

    const since = `from=${encodeURIComponent(before)}`;
    const page1 = (await list(`${since}&limit=2`)).json();
    expect(page1.data).toHaveLength(2);
    const page2 = (await list(`${since}&limit=2&cursor=${page1.nextCursor}`)).json();
    expect(page2.data).toHaveLength(2);
    expect(page2.nextCursor).toBeNull();
    const ids = [...page1.data, ...page2.data].map((e: { id: string }) => e.id);
    expect(ids).toEqual([...ids].sort().reverse());
  });

  it('refuses bad filters with 400 naming them, never a 500', async () => {
    expectProblem(await list('severity=apocalyptic'), 400, 'validation_failed');
    expectProblem(await list('from=yesterday'), 400, 'validation_failed');
    expectProblem(await list('actorType=robot'), 400, 'validation_failed');
    const reversed = await list(`from=${encodeURIComponent(new Date().toISOString())}&to=${encodeURIComponent(new Date(0).toISOString())}`);
    expectProblem(reversed, 400, 'validation_failed');
    expect(reversed.json().errors[0].path).toBe('querystring/from');
  });
});
