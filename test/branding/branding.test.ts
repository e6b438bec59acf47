import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contrastRatio, detectImageType, validatePng } from '../../src/modules/branding/index.ts';
import { createTestContext, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';
import { HOSTILE_SVG, makePng, multipart, SIMPLE_SVG } from './support.ts';

let ctx: TestContext;
let tenant: TestTenant;
beforeAll(async () => {
  ctx = await createTestContext();
  tenant = await ctx.tenant();
});
afterAll(async () => {
  await ctx?.close();
});

const GOOD = { colors: { primary: '#1F4E79', background: '#FFFFFF', text: '#1A1A1A' }, fontFamily: 'Inter' };

function upload(t: { auth: { authorization: string } }, file: Buffer, options: Parameters<typeof multipart>[1] = {}) {
  const { payload, headers } = multipart(file, options);
  return ctx.app.inject({ method: 'PUT', url: '/v1/branding/logo', headers: { ...t.auth, ...headers }, payload });
}

describe('contrast (WCAG 2.2)', () => {
  it('computes the reference ratios', () => {
    expect(contrastRatio('#000000', '#FFFFFF')).toBeCloseTo(21, 6);
    expect(contrastRatio('#FFFFFF', '#FFFFFF')).toBeCloseTo(1, 6);
    // #777777 on white is the classic just-below-AA grey: 4.48:1.
    expect(contrastRatio('#777777', '#FFFFFF')).toBeCloseTo(4.478, 3);
    expect(contrastRatio('#767676', '#FFFFFF')).toBeCloseTo(4.542, 3);
  });
});

describe('branding settings', () => {
  it('starts with the tenant name and defaults, then stores colours (normalised) and font', async () => {
    const initial = await ctx.app.inject({ method: 'GET', url: '/v1/branding', headers: tenant.auth });
    expect(initial.statusCode, initial.body).toBe(200);
    expect(initial.json()).toMatchObject({ name: `Tenant ${tenant.slug}`, logo: null, fontFamily: null, warnings: [] });

    const put = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/branding',
      headers: tenant.auth,
      payload: {
        name: 'Acme Italia',
        colors: { primary: '#1f4e79', background: '#fff', text: '#1a1a1a', secondary: '#abc' },
        fontFamily: 'Source Sans 3',
      },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({
      name: 'Acme Italia',
      colors: { primary: '#1F4E79', background: '#FFFFFF', text: '#1A1A1A', onPrimary: '#FFFFFF', secondary: '#AABBCC' },
      fontFamily: 'Source Sans 3',
      fontStack: '"Source Sans 3", system-ui, sans-serif',
      warnings: [],
    });
    // The name is the tenant's name.
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/tenant', headers: tenant.auth });
    expect(me.json().name).toBe('Acme Italia');
    const again = await ctx.app.inject({ method: 'GET', url: '/v1/branding', headers: tenant.auth });
    expect(again.json().colors.secondary).toBe('#AABBCC');
  });

  it('accepts low contrast with a warning naming the pair, the ratio and the AA minimum', async () => {
    const res = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/branding',
      headers: tenant.auth,
      payload: { colors: { primary: '#FFFF00', background: '#FFFFFF', text: '#777777', onPrimary: '#FFFFFF' }, fontFamily: null },
    });
    expect(res.statusCode, res.body).toBe(200);
    const warnings = res.json().warnings as Array<{
      foreground: string;
      background: string;
      ratio: number;
      minimum: number;
      message: string;
    }>;
    expect(warnings.map((w) => `${w.foreground}/${w.background}`).sort()).toEqual([
      'onPrimary/primary',
      'primary/background',
      'text/background',
    ]);
    const text = warnings.find((w) => w.foreground === 'text');
    expect(text).toMatchObject({ ratio: 4.47, minimum: 4.5, code: 'low_contrast' });
    expect(text?.message).toContain('4.47:1');
    // Stored as asked: a warning is not a refusal.
    const stored = await ctx.app.inject({ method: 'GET', url: '/v1/branding', headers: tenant.auth });
    expect(stored.json().colors.text).toBe('#777777');
    expect(stored.json().warnings).toHaveLength(3);
    // In Italian, with Italian number format.
    const it = await ctx.app.inject({
      method: 'GET',
      url: '/v1/branding',
      headers: { ...tenant.auth, 'accept-language': 'it-IT,it;q=0.9' },
    });
    expect(it.json().warnings.find((w: { foreground: string }) => w.foreground === 'text').message).toContain('4,47:1');
    await ctx.app.inject({ method: 'PUT', url: '/v1/branding', headers: tenant.auth, payload: GOOD });
  });

  it('refuses colours that are not hex and font names that could escape CSS', async () => {
    for (const colors of [
      { ...GOOD.colors, primary: 'red' },
      { ...GOOD.colors, text: '#12345' },
      { ...GOOD.colors, background: 'url(x)' },
    ]) {
      const res = await ctx.app.inject({ method: 'PUT', url: '/v1/branding', headers: tenant.auth, payload: { ...GOOD, colors } });
      expectProblem(res, 400, 'validation_failed');
    }
    for (const fontFamily of ['Inter"; background: url(x)', 'Comic</style>', 'A;B', "'Inter'", '  ', 'a'.repeat(65), 'Two  spaces']) {
      const res = await ctx.app.inject({ method: 'PUT', url: '/v1/branding', headers: tenant.auth, payload: { ...GOOD, fontFamily } });
      expectProblem(res, 400, 'validation_failed');
    }
    const generic = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/branding',
      headers: tenant.auth,
      payload: { ...GOOD, fontFamily: 'serif' },
    });
    expect(generic.json().fontStack).toBe('serif');
  });

  it('needs branding.write to change and tenant.read to read', async () => {
    const member = await ctx.user(tenant, 'member');
    expectProblem(await ctx.app.inject({ method: 'PUT', url: '/v1/branding', headers: member.auth, payload: GOOD }), 403, 'forbidden');
    expectProblem(await upload(member, makePng()), 403, 'forbidden');
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/branding', headers: member.auth })).statusCode).toBe(200);
  });
});

describe('logo upload', () => {
  it('stores a PNG validated chunk by chunk and serves it back byte for byte', async () => {
    const png = makePng(16, 8);
    const res = await upload(tenant, png, { filename: 'logo.png', contentType: 'image/png' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      logo: { contentType: 'image/png', size: png.length },
      dimensions: { width: 16, height: 8 },
      sanitized: false,
    });
    const get = await ctx.app.inject({ method: 'GET', url: '/v1/branding/logo', headers: tenant.auth });
    expect(get.statusCode).toBe(200);
    expect(get.headers['content-type']).toBe('image/png');
    expect(get.rawPayload.equals(png)).toBe(true);
    const settings = await ctx.app.inject({ method: 'GET', url: '/v1/branding', headers: tenant.auth });
    expect(settings.json().logo.url).toMatch(/^\/v1\/branding\/logo\?v=[0-9a-f]{16}$/);
  });

  it('sanitises an SVG: no script, event handler, javascript: URL, foreignObject or external reference is stored', async () => {
    const res = await upload(tenant, Buffer.from(HOSTILE_SVG), { filename: 'logo.svg', contentType: 'image/svg+xml' });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.sanitized).toBe(true);
    expect(body.removed).toEqual(expect.arrayContaining(['<script>', '<foreignobject>', 'onload on <svg>']));
    const get = await ctx.app.inject({ method: 'GET', url: '/v1/branding/logo', headers: tenant.auth });
    expect(get.headers['content-type']).toBe('image/svg+xml');
    expect(get.headers['content-security-policy']).toContain('sandbox');
    const stored = get.body;
    expect(stored).toMatch(/^<svg[\s>]/);
    for (const forbidden of [/<script/i, /\son\w+=/i, /javascript:/i, /foreignObject/i, /evil\.example/, /<style/i, /<iframe/i, /alert/]) {
      expect(stored).not.toMatch(forbidden);
    }
    // What is harmless stays: shapes, local gradient references, text.
    expect(stored).toContain('url(#grad)');
    expect(stored).toContain('Acme &amp; Co');
    expect(stored).toContain('<linearGradient id="grad"');
    // The stored bytes are what the database holds (not only what the route shows).
    const { rows } = await ctx.db.withTenant(tenant.id, (tx) => tx.query<{ logo: Uint8Array }>('SELECT logo FROM tenant_branding'));
    expect(Buffer.from(rows[0]?.logo as Uint8Array).toString('utf8')).toBe(stored);
  });

  it('keeps a clean SVG as it is (modulo serialisation) and reports nothing removed', async () => {
    const res = await upload(tenant, Buffer.from(SIMPLE_SVG), { filename: 'clean.svg' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ sanitized: false, removed: [] });
  });

  it('refuses an SVG with a DTD (entity expansion) and an SVG whose root is not <svg>', async () => {
    const xxe =
      '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>';
    expectProblem(await upload(tenant, Buffer.from(xxe)), 415, 'unsupported_media_type');
    expectProblem(
      await upload(tenant, Buffer.from('<html><body><svg></svg></body></html>'), { filename: 'x.svg' }),
      415,
      'unsupported_media_type',
    );
  });

  it('judges the type by content: a PNG disguised as SVG and HTML disguised as PNG are refused (415)', async () => {
    const before = await ctx.app.inject({ method: 'GET', url: '/v1/branding/logo', headers: tenant.auth });
    const pngAsSvg = await upload(tenant, makePng(), { filename: 'logo.svg', contentType: 'image/svg+xml' });
    expectProblem(pngAsSvg, 415, 'unsupported_media_type');
    expect(pngAsSvg.json().detail).toMatch(/declared as image\/svg\+xml but its content is image\/png/);
    const htmlAsPng = await upload(tenant, Buffer.from('<!doctype html><html><script>alert(1)</script></html>'), {
      filename: 'logo.png',
      contentType: 'image/png',
    });
    expectProblem(htmlAsPng, 415, 'unsupported_media_type');
    // A PNG signature glued to HTML is not a PNG either.
    const polyglot = Buffer.concat([makePng().subarray(0, 8), Buffer.from('<html><script>alert(1)</script></html>')]);
    expectProblem(await upload(tenant, polyglot, { filename: 'logo.png', contentType: 'image/png' }), 415, 'unsupported_media_type');
    // A PNG with a corrupted chunk.
    const corrupt = makePng();
    corrupt[40] = (corrupt[40] as number) ^ 0xff;
    expectProblem(await upload(tenant, corrupt, { filename: 'logo.png' }), 415, 'unsupported_media_type');
    // Nothing changed.
    const after = await ctx.app.inject({ method: 'GET', url: '/v1/branding/logo', headers: tenant.auth });
    expect(after.body).toBe(before.body);
  });

  it('refuses a logo over 256 KiB with 413, a body that is not multipart with 415, a missing file with 400', async () => {
    const big = makePng(4, 4, 256 * 1024);
    expect(() => validatePng(big)).not.toThrow();
    expectProblem(await upload(tenant, big, { filename: 'big.png' }), 413, 'payload_too_large');
    const json = await ctx.app.inject({ method: 'PUT', url: '/v1/branding/logo', headers: tenant.auth, payload: { file: 'x' } });
    expectProblem(json, 415, 'unsupported_media_type');
    const wrongField = await upload(tenant, makePng(), { field: 'image' });
    expectProblem(wrongField, 400, 'validation_failed');
    // Multipart stays confined to the logo route.
    const { payload, headers } = multipart(makePng());
    const elsewhere = await ctx.app.inject({ method: 'PUT', url: '/v1/branding', headers: { ...tenant.auth, ...headers }, payload });
    expectProblem(elsewhere, 415, 'unsupported_media_type');
  });

  it('detects types from bytes only', () => {
    expect(detectImageType(makePng())).toBe('image/png');
    expect(detectImageType(Buffer.from(`\uFEFF<?xml version="1.0"?>\n<!-- logo -->\n${SIMPLE_SVG}`))).toBe('image/svg+xml');
    expect(detectImageType(Buffer.from('<html><svg></svg></html>'))).toBeUndefined();
    expect(detectImageType(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBeUndefined();
  });

  it("keeps tenants' logos apart and deletes a logo", async () => {
    const other = await ctx.tenant();
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/branding/logo', headers: other.auth }), 404, 'not_found');
    const otherBranding = await ctx.app.inject({ method: 'GET', url: '/v1/branding', headers: other.auth });
    expect(otherBranding.json()).toMatchObject({ name: `Tenant ${other.slug}`, logo: null });
    // Deleting is idempotent and only ever touches the caller's own branding.
    expect((await ctx.app.inject({ method: 'DELETE', url: '/v1/branding/logo', headers: other.auth })).statusCode).toBe(204);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/branding/logo', headers: tenant.auth })).statusCode).toBe(200);
    expect((await ctx.app.inject({ method: 'DELETE', url: '/v1/branding/logo', headers: tenant.auth })).statusCode).toBe(204);
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/branding/logo', headers: tenant.auth })).statusCode).toBe(404);
  });
});
