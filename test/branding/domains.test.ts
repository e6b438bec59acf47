import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeHostname } from '../../src/modules/domains/index.ts';
import { createTestContext, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';
import { makePng, multipart } from './support.ts';

const BASE = 'sites.palazzo.test';

let ctx: TestContext;
let a: TestTenant;
let b: TestTenant;
beforeAll(async () => {
  ctx = await createTestContext({ config: { baseDomain: BASE } });
  a = await ctx.tenant();
  b = await ctx.tenant();
});
afterAll(async () => {
  await ctx?.close();
});

/** A hostname no other test (or test file sharing the PostgreSQL database) uses. */
const hostname = () => `${uniqueSlug('www')}.acme-example.com`;

async function addDomain(t: TestTenant, host: string) {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/domains', headers: t.auth, payload: { hostname: host } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; hostname: string; status: string; verification: { type: string; name: string; value: string } };
}

const verify = (t: TestTenant, id: string) => ctx.app.inject({ method: 'POST', url: `/v1/domains/${id}/verify`, headers: t.auth });
const publicBranding = (host: string, url = '/v1/public/branding') => ctx.app.inject({ method: 'GET', url, headers: { host } });

describe('custom domains', () => {
  it('answers a TXT record to publish; a wrong or missing record leaves it pending with a clear reason', async () => {
    const host = hostname();
    const domain = await addDomain(a, `  ${host.toUpperCase()}. `);
    expect(domain).toMatchObject({ hostname: host, status: 'pending' });
    expect(domain.verification).toMatchObject({ type: 'TXT', name: `_palazzo-verification.${host}` });
    expect(domain.verification.value).toMatch(/^palazzo-verification=[A-Za-z0-9_-]{32}$/);

    const missing = await verify(a, domain.id);
    expect(missing.statusCode, missing.body).toBe(200);
    expect(missing.json()).toMatchObject({ status: 'pending', verifiedAt: null });
    expect(missing.json().lastCheckReason).toMatch(/no TXT record found at _palazzo-verification\./);

    ctx.dns.set(domain.verification.name, [['v=spf1 -all'], ['palazzo-verification=not-the-token']]);
    const wrong = await verify(a, domain.id);
    expect(wrong.json()).toMatchObject({ status: 'pending' });
    expect(wrong.json().lastCheckReason).toMatch(/different verification value; it must be exactly palazzo-verification=/);
    expect(wrong.json().lastCheckedAt).not.toBeNull();

    ctx.dns.set(domain.verification.name, Object.assign(new Error('queryTxt ESERVFAIL'), { code: 'ESERVFAIL' }) as Error);
    const failing = await verify(a, domain.id);
    expect(failing.json()).toMatchObject({ status: 'pending' });
    expect(failing.json().lastCheckReason).toMatch(/DNS lookup .* failed \(ESERVFAIL\)/);
    // Still not a site.
    expectProblem(await publicBranding(host), 404, 'not_found');

    // The value may be split into several character strings (long TXT records are).
    const value = domain.verification.value;
    ctx.dns.set(domain.verification.name, [['v=spf1 -all'], [value.slice(0, 20), value.slice(20)]]);
    const ok = await verify(a, domain.id);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ status: 'verified', lastCheckReason: null });
    expect(ok.json().verifiedAt).not.toBeNull();
    const listed = await ctx.app.inject({ method: 'GET', url: '/v1/domains', headers: a.auth });
    expect(listed.json().data.map((d: { id: string; status: string }) => [d.id, d.status])).toEqual([[domain.id, 'verified']]);
  });

  it('lets one tenant only verify a hostname: another cannot add it, nor verify it if it added it before', async () => {
    const host = hostname();
    const byA = await addDomain(a, host);
    const byB = await addDomain(b, host); // both may try while nobody has proved it
    ctx.dns.set(byA.verification.name, [[byA.verification.value]]);
    expect((await verify(a, byA.id)).json().status).toBe('verified');

    // B publishes its own token too: still refused, the hostname is A's.
    ctx.dns.set(byB.verification.name, [[byA.verification.value], [byB.verification.value]]);
    const stolen = await verify(b, byB.id);
    expectProblem(stolen, 409, 'conflict');
    expect(stolen.json().detail).toMatch(/already verified by another tenant/);
    const bView = await ctx.app.inject({ method: 'GET', url: `/v1/domains/${byB.id}`, headers: b.auth });
    expect(bView.json().status).toBe('pending');
    const again = await ctx.app.inject({ method: 'POST', url: '/v1/domains', headers: b.auth, payload: { hostname: host } });
    expectProblem(again, 409, 'conflict');
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ tenant_id: string }>('SELECT tenant_id FROM verified_domains WHERE hostname = $1', [host]),
    );
    expect(rows).toEqual([{ tenant_id: a.id }]);

    // Once A removes it, the hostname is free and B can prove it.
    expect((await ctx.app.inject({ method: 'DELETE', url: `/v1/domains/${byA.id}`, headers: a.auth })).statusCode).toBe(204);
    const taken = await verify(b, byB.id);
    expect(taken.statusCode, taken.body).toBe(200);
    expect(taken.json().status).toBe('verified');
  });

  it('refuses hostnames that are not public DNS names, duplicates, and names under the base domain', async () => {
    for (const bad of [
      'localhost',
      'http://acme.com',
      'acme.com:8080',
      '10.0.0.1',
      '[::1]',
      'acme..com',
      '-acme.com',
      'acme.com/path',
      'a b.com',
      'acme.123',
    ]) {
      const res = await ctx.app.inject({ method: 'POST', url: '/v1/domains', headers: a.auth, payload: { hostname: bad } });
      expectProblem(res, 400, 'validation_failed');
    }
    const own = await ctx.app.inject({ method: 'POST', url: '/v1/domains', headers: a.auth, payload: { hostname: `${a.slug}.${BASE}` } });
    expectProblem(own, 400, 'validation_failed');
    const host = hostname();
    await addDomain(a, host);
    expectProblem(
      await ctx.app.inject({ method: 'POST', url: '/v1/domains', headers: a.auth, payload: { hostname: host } }),
      409,
      'conflict',
    );
    expect(normalizeHostname('Bücher.Example.')).toBe('xn--bcher-kva.example');
  });

  it("answers another tenant's domain id exactly like a missing one", async () => {
    const domain = await addDomain(a, hostname());
    for (const [method, url] of [
      ['GET', `/v1/domains/${domain.id}`],
      ['POST', `/v1/domains/${domain.id}/verify`],
      ['DELETE', `/v1/domains/${domain.id}`],
    ] as const) {
      const foreign = await ctx.app.inject({ method, url, headers: b.auth });
      const missing = await ctx.app.inject({
        method,
        url: url.replace(domain.id, '01890000-0000-7000-8000-000000000000'),
        headers: b.auth,
      });
      expectProblem(foreign, 404, 'not_found');
      expect(foreign.body).toBe(missing.body);
    }
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/domains', headers: b.auth })).body).not.toContain(domain.id);
  });
});

describe('public branding by Host', () => {
  it('answers for a verified custom domain and for <slug>.<base domain>, 404 for anything else', async () => {
    const put = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/branding',
      headers: a.auth,
      payload: { name: 'Acme Public', colors: { primary: '#0B5394', background: '#FFFFFF', text: '#111111' }, fontFamily: 'Inter' },
    });
    expect(put.statusCode, put.body).toBe(200);
    const { payload, headers } = multipart(makePng(), { filename: 'logo.png', contentType: 'image/png' });
    expect(
      (await ctx.app.inject({ method: 'PUT', url: '/v1/branding/logo', headers: { ...a.auth, ...headers }, payload })).statusCode,
    ).toBe(200);
    const host = hostname();
    const domain = await addDomain(a, host);
    ctx.dns.set(domain.verification.name, [[domain.verification.value]]);
    expect((await verify(a, domain.id)).json().status).toBe('verified');

    for (const h of [host, `${host.toUpperCase()}:8443`, `${a.slug}.${BASE}`]) {
      const res = await publicBranding(h);
      expect(res.statusCode, `${h}: ${res.body}`).toBe(200);
      expect(res.json()).toMatchObject({
        name: 'Acme Public',
        colors: { primary: '#0B5394' },
        fontStack: '"Inter", system-ui, sans-serif',
      });
      expect(res.json().logoUrl).toMatch(/^\/v1\/public\/branding\/logo\?v=/);
      expect(res.body).not.toContain(a.id);
      const logo = await publicBranding(h, '/v1/public/branding/logo');
      expect(logo.statusCode).toBe(200);
      expect(logo.headers['content-type']).toBe('image/png');
    }
    // B has no logo: its subdomain answers, its logo does not.
    expect((await publicBranding(`${b.slug}.${BASE}`)).json().logoUrl).toBeNull();
    expectProblem(await publicBranding(`${b.slug}.${BASE}`, '/v1/public/branding/logo'), 404, 'not_found');

    for (const h of ['unknown.example.com', `nope-${a.slug}.${BASE}`, `x.${a.slug}.${BASE}`, BASE, 'localhost', '127.0.0.1']) {
      expectProblem(await publicBranding(h), 404, 'not_found');
    }
    // A pending (unverified) domain is no site, even for its tenant.
    const pending = hostname();
    await addDomain(a, pending);
    expectProblem(await publicBranding(pending), 404, 'not_found');

    // Removing the domain ends the site at once (the per-node cache is dropped).
    expect((await ctx.app.inject({ method: 'DELETE', url: `/v1/domains/${domain.id}`, headers: a.auth })).statusCode).toBe(204);
    expectProblem(await publicBranding(host), 404, 'not_found');

    // A suspended tenant has no public site.
    const suspend = await ctx.app.inject({
      method: 'POST',
      url: `/v1/operator/tenants/${a.id}/suspend`,
      headers: ctx.operatorAuth,
      payload: { reason: 'test' },
    });
    expect(suspend.statusCode, suspend.body).toBe(200);
    expectProblem(await publicBranding(`${a.slug}.${BASE}`), 404, 'not_found');
  });

  it('has no subdomain sites without a base domain', async () => {
    const plain = await createTestContext({ db: ctx.db });
    try {
      const res = await plain.app.inject({ method: 'GET', url: '/v1/public/branding', headers: { host: `${b.slug}.${BASE}` } });
      expectProblem(res, 404, 'not_found');
    } finally {
      await plain.close();
    }
  });
});
