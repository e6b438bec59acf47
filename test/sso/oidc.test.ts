/**
 * F-B6 / T17: OpenID Connect single sign-on against real providers on loopback. The happy path,
 * just-in-time users keyed on (issuer, subject), claim-to-role mapping, allowed email domains,
 * the one-time code of a return URL, enforcement of SSO over passwords, and every tampered response
 * refused and recorded as a security event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, PASSWORD, type TestContext, type TestTenant, uniqueSlug } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';
import { authenticationOf } from '../../src/modules/sso/index.ts';
import {
  browserLogin,
  loginAtProvider,
  type RogueMode,
  type RogueProvider,
  startOidcProvider,
  startRogueProvider,
  type TestProvider,
} from './support.ts';

let ctx: TestContext;
let idp: TestProvider;
let idp2: TestProvider;
let rogue: RogueProvider;

beforeAll(async () => {
  ctx = await createTestContext({ config: { ssoAllowHttp: true } });
  const redirectUri = ctx.palazzo.services.sso.redirectUri;
  idp = await startOidcProvider({ redirectUri });
  idp2 = await startOidcProvider({ redirectUri });
  rogue = await startRogueProvider();
});

afterAll(async () => {
  await idp?.close();
  await idp2?.close();
  await rogue?.close();
  await ctx?.close();
});

type Settings = Record<string, unknown>;

async function configure(tenant: TestTenant, provider: TestProvider, settings: Settings = {}) {
  const res = await ctx.app.inject({
    method: 'PUT',
    url: '/v1/sso/oidc',
    headers: tenant.auth,
    payload: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, ...settings },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function events(tenant: TestTenant, type: string) {
  const res = await ctx.app.inject({ method: 'GET', url: `/v1/security-events?type=${type}&limit=200`, headers: tenant.auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as { type: string; severity: string; details: Record<string, unknown>; actor: unknown }[];
}

async function me(accessToken: string) {
  const res = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${accessToken}` } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function userCount(tenant: TestTenant) {
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE tenant_id = $1', [tenant.id]),
  );
  return rows[0]?.n ?? 0;
}

describe('SSO configuration', () => {
  it('stores the client secret encrypted, never returns it, and checks roles, tier and URLs', async () => {
    const tenant = await ctx.tenant();
    const view = await configure(tenant, idp, {
      allowedDomains: ['example.org'],
      roleMappings: [{ claim: 'groups', value: 'admins', role: 'admin' }],
      defaultRole: 'viewer',
    });
    expect(view).toMatchObject({
      issuer: idp.issuer,
      clientId: idp.clientId,
      hasClientSecret: true,
      defaultRole: 'viewer',
      enforced: false,
      ssoAllowed: true,
      redirectUri: ctx.palazzo.services.sso.redirectUri,
    });
    expect(JSON.stringify(view)).not.toContain(idp.clientSecret);
    const stored = await ctx.db.withOwner((tx) =>
      tx.query<{ row: string }>('SELECT row_to_json(c)::text AS row FROM sso_connections c WHERE tenant_id = $1', [tenant.id]),
    );
    expect(stored.rows[0]?.row).toBeDefined();
    expect(stored.rows[0]?.row).not.toContain(idp.clientSecret);
    expect(stored.rows[0]?.row).toMatch(/"client_secret_sealed":"v1\./);

    // Omitting the secret keeps it; GET shows the same.
    const kept = await configure(tenant, idp, { clientSecret: undefined, defaultRole: 'member' });
    expect(kept.hasClientSecret).toBe(true);
    const get = await ctx.app.inject({ method: 'GET', url: '/v1/sso/oidc', headers: tenant.auth });
    expect(get.json()).toMatchObject({ hasClientSecret: true, defaultRole: 'member' });

    const bad = async (payload: Settings, path: string) => {
      const res = await ctx.app.inject({
        method: 'PUT',
        url: '/v1/sso/oidc',
        headers: tenant.auth,
        payload: { issuer: idp.issuer, clientId: 'x', ...payload },
      });
      expectProblem(res, 400, 'validation_failed');
      expect(JSON.stringify(res.json().errors ?? []), res.body).toContain(path);
    };
    await bad({ defaultRole: 'owner' }, 'defaultRole');
    await bad({ roleMappings: [{ claim: 'groups', value: 'x', role: 'owner' }] }, 'roleMappings/0/role');
    await bad({ roleMappings: [{ claim: 'groups', value: 'x', role: 'no-such-role' }] }, 'roleMappings/0/role');
    await bad({ scopes: ['email'] }, 'scopes');
    await bad({ returnUrls: ['javascript:alert(1)'] }, 'returnUrls');
    const after = await ctx.app.inject({ method: 'GET', url: '/v1/sso/oidc', headers: tenant.auth });
    expect(after.json().defaultRole, 'refused writes changed nothing').toBe('member');

    const del = await ctx.app.inject({ method: 'DELETE', url: '/v1/sso/oidc', headers: tenant.auth });
    expect(del.statusCode).toBe(204);
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/sso/oidc', headers: tenant.auth }), 404, 'not_found');
    expectProblem(await ctx.app.inject({ method: 'DELETE', url: '/v1/sso/oidc', headers: tenant.auth }), 404, 'not_found');
  });

  it('refuses https-less issuers unless allowed, and tiers without SSO', async () => {
    const basic = await ctx.tenant({ tier: 'basic' });
    const res = await ctx.app.inject({
      method: 'PUT',
      url: '/v1/sso/oidc',
      headers: basic.auth,
      payload: { issuer: idp.issuer, clientId: idp.clientId },
    });
    expectProblem(res, 403, 'sso_not_available');
  });

  it('answers an unknown tenant and a tenant without SSO alike at the login start', async () => {
    const plain = await ctx.tenant();
    const a = await ctx.app.inject({ method: 'GET', url: `/v1/auth/sso/${plain.slug}/start` });
    const b = await ctx.app.inject({ method: 'GET', url: `/v1/auth/sso/${uniqueSlug('nobody')}/start` });
    expectProblem(a, 404, 'not_found');
    expect(b.statusCode).toBe(404);
    expect(b.body).toBe(a.body);
  });
});

describe('SSO login with a real provider', () => {
  let tenant: TestTenant;
  let domain: string;

  beforeAll(async () => {
    tenant = await ctx.tenant();
    domain = `${tenant.slug}.example`;
    await configure(tenant, idp, {
      scopes: ['openid', 'email', 'profile', 'groups'],
      allowedDomains: [domain],
      roleMappings: [
        { claim: 'groups', value: 'admins', role: 'admin' },
        { claim: 'groups', value: 'managers', role: 'manager' },
      ],
      defaultRole: 'viewer',
      returnUrls: ['https://console.example/sso/done'],
    });
  });

  it('runs the code flow with PKCE S256, creates the user just in time with the mapped role, and returns the token pair', async () => {
    const before = await userCount(tenant);
    idp.loginAs({ sub: 'alice-1', email: `Alice@${domain}`, name: 'Alice', groups: ['staff', 'admins'] });
    const { authorizationUrl, callback } = await browserLogin(ctx, tenant.slug);
    const params = authorizationUrl.searchParams;
    expect(params.get('response_type')).toBe('code');
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('state')).toMatch(/^pzs_/);
    expect(params.get('nonce')?.length).toBeGreaterThanOrEqual(32);
    expect(params.get('redirect_uri')).toBe(ctx.palazzo.services.sso.redirectUri);
    // State and nonce are kept server side: the verifier is sealed, the state only hashed.
    const stored = await ctx.db.withOwner((tx) =>
      tx.query<{ row: string }>('SELECT row_to_json(s)::text AS row FROM sso_login_states s WHERE tenant_id = $1', [tenant.id]),
    );
    expect(stored.rows.map((r) => r.row).join()).not.toContain(params.get('state') as string);

    expect(callback.statusCode, callback.body).toBe(200);
    const pair = callback.json();
    expect(pair).toMatchObject({ tokenType: 'Bearer' });
    expect(pair.refreshToken).toMatch(/^pzr_/);
    const who = await me(pair.accessToken);
    expect(who.user).toMatchObject({ email: `alice@${domain}`, name: 'Alice', role: 'admin' });
    expect(await userCount(tenant)).toBe(before + 1);
    const identity = await ctx.db.withOwner((tx) =>
      tx.query('SELECT issuer, subject, user_id FROM sso_identities WHERE tenant_id = $1 AND subject = $2', [tenant.id, 'alice-1']),
    );
    expect(identity.rows).toEqual([{ issuer: idp.issuer, subject: 'alice-1', user_id: who.user.id }]);
    // The refresh token of an SSO session works like any other.
    const refreshed = await ctx.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: pair.refreshToken } });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const ok = await events(tenant, 'sso_login');
    expect(ok.some((e) => e.details.subject === 'alice-1' && e.details.created === true)).toBe(true);
    // The JIT user has no password: password login is refused like a wrong password.
    const pw = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: `alice@${domain}`, password: PASSWORD },
    });
    expectProblem(pw, 401, 'invalid_credentials');
  });

  it('links the next login by issuer and subject (not by email) and re-applies the role mapping', async () => {
    idp.loginAs({ sub: 'bob-1', email: `bob@${domain}`, groups: ['managers'] });
    const first = await browserLogin(ctx, tenant.slug);
    expect(first.callback.statusCode, first.callback.body).toBe(200);
    const bob = await me(first.callback.json().accessToken);
    expect(bob.user.role).toBe('manager');
    const count = await userCount(tenant);

    // Same subject, new email and no group: the same user, now with the default role.
    idp.loginAs({ sub: 'bob-1', email: `robert@${domain}`, groups: [] });
    const second = await browserLogin(ctx, tenant.slug);
    expect(second.callback.statusCode, second.callback.body).toBe(200);
    const again = await me(second.callback.json().accessToken);
    expect(again.user.id).toBe(bob.user.id);
    expect(again.user.role).toBe('viewer');
    expect(await userCount(tenant)).toBe(count);

    // Another subject asserting an email that belongs to a linked user: refused, recorded.
    idp.loginAs({ sub: 'mallory-1', email: `bob@${domain}`, groups: ['admins'] });
    const takeover = await browserLogin(ctx, tenant.slug);
    expectProblem(takeover.callback, 401, 'sso_failed');
    expect(await userCount(tenant)).toBe(count);
    const refused = await events(tenant, 'sso_login_failed');
    expect(refused.some((e) => e.details.reason === 'account_conflict')).toBe(true);
  });

  it('refuses an email outside the allowed domains, creates nobody, and records it', async () => {
    const count = await userCount(tenant);
    idp.loginAs({ sub: 'eve-1', email: 'eve@evil.example', groups: ['admins'] });
    const { callback } = await browserLogin(ctx, tenant.slug);
    expectProblem(callback, 403, 'sso_email_not_allowed');
    expect(await userCount(tenant)).toBe(count);
    const refused = await events(tenant, 'sso_login_failed');
    expect(refused.some((e) => e.details.reason === 'email_domain_not_allowed' && e.details.domain === 'evil.example')).toBe(true);
  });

  it('refuses an email the provider says is not verified', async () => {
    idp.loginAs({ sub: 'unverified-1', email: `unverified@${domain}`, email_verified: false });
    const { callback } = await browserLogin(ctx, tenant.slug);
    expectProblem(callback, 401, 'sso_failed');
  });

  it('with a return URL: redirects with a one-time code that is exchanged once for the token pair', async () => {
    idp.loginAs({ sub: 'carol-1', email: `carol@${domain}` });
    const { callback } = await browserLogin(ctx, tenant.slug, { returnUrl: 'https://console.example/sso/done' });
    expect(callback.statusCode, callback.body).toBe(302);
    const back = new URL(callback.headers.location as string);
    expect(`${back.origin}${back.pathname}`).toBe('https://console.example/sso/done');
    const code = back.searchParams.get('code') as string;
    expect(code).toMatch(/^pzc_/);
    const exchange = await ctx.app.inject({ method: 'POST', url: '/v1/auth/sso/exchange', payload: { code } });
    expect(exchange.statusCode, exchange.body).toBe(200);
    expect((await me(exchange.json().accessToken)).user.email).toBe(`carol@${domain}`);
    const replay = await ctx.app.inject({ method: 'POST', url: '/v1/auth/sso/exchange', payload: { code } });
    expectProblem(replay, 401, 'invalid_grant');
    const forged = await ctx.app.inject({ method: 'POST', url: '/v1/auth/sso/exchange', payload: { code: `${code.slice(0, -4)}AAAA` } });
    expectProblem(forged, 401, 'invalid_grant');
    // A return URL that was not configured is refused before anything is stored (no open redirect).
    const open = await ctx.app.inject({
      method: 'GET',
      url: `/v1/auth/sso/${tenant.slug}/start?returnUrl=${encodeURIComponent('https://evil.example/steal')}`,
    });
    expectProblem(open, 400, 'validation_failed');
  });

  it('T17: a replayed response, a wrong state and a wrong nonce are refused and recorded', async () => {
    idp.loginAs({ sub: 'dave-1', email: `dave@${domain}` });
    const good = await loginAtProvider(ctx, tenant.slug);
    const first = await ctx.app.inject({ method: 'GET', url: good.callbackPath });
    expect(first.statusCode, first.body).toBe(200);
    // The same response again: the state was used.
    const replay = await ctx.app.inject({ method: 'GET', url: good.callbackPath });
    expectProblem(replay, 401, 'sso_failed');

    // A state this server never issued (right shape, right tenant).
    const fresh = await loginAtProvider(ctx, tenant.slug);
    const forgedState = `pzs_${tenant.id.replaceAll('-', '')}_${'A'.repeat(43)}`;
    const tampered = new URL(fresh.callbackUrl);
    tampered.searchParams.set('state', forgedState);
    const wrongState = await ctx.app.inject({ method: 'GET', url: `${tampered.pathname}${tampered.search}` });
    expectProblem(wrongState, 401, 'sso_failed');
    // Garbage state: refused without touching any tenant.
    const garbage = await ctx.app.inject({ method: 'GET', url: '/v1/auth/sso/callback?code=x&state=nonsense' });
    expectProblem(garbage, 401, 'sso_failed');

    // The nonce kept by the server differs from the one in the ID token.
    const third = await loginAtProvider(ctx, tenant.slug);
    await ctx.db.withOwner((tx) =>
      tx.query(`UPDATE sso_login_states SET nonce = 'tampered' WHERE tenant_id = $1 AND used_at IS NULL`, [tenant.id]),
    );
    const wrongNonce = await ctx.app.inject({ method: 'GET', url: third.callbackPath });
    expectProblem(wrongNonce, 401, 'sso_failed');

    const refused = await events(tenant, 'sso_login_failed');
    expect(refused.filter((e) => e.details.reason === 'unknown_state').length).toBeGreaterThanOrEqual(2);
    const nonce = refused.find((e) => e.details.reason === 'response_rejected' && String(e.details.message).includes('nonce'));
    expect(nonce, JSON.stringify(refused)).toBeDefined();
    expect(nonce?.severity).toBe('high');
  });

  it('T17: a role the MFA policy covers needs the provider to assert a second factor (amr)', async () => {
    const policy = async (mfa: string) => {
      const res = await ctx.app.inject({
        method: 'PATCH',
        url: '/v1/config',
        headers: { ...tenant.auth, 'if-match': '*' },
        payload: { security: { mfa } },
      });
      expect(res.statusCode, res.body).toBe(200);
    };
    const count = await userCount(tenant);
    // Under the default policy (admins), an admin mapping with a password alone at the provider:
    // refused, nobody created, recorded with what the provider asserted.
    idp.loginAs({ sub: 'carol-1', email: `carol@${domain}`, groups: ['admins'], amr: ['pwd'] });
    const single = await browserLogin(ctx, tenant.slug);
    // The authorization request asked the provider how the user authenticated.
    expect(JSON.parse(single.authorizationUrl.searchParams.get('claims') ?? '{}')).toEqual({ id_token: { amr: null, acr: null } });
    expectProblem(single.callback, 403, 'sso_mfa_required');
    expect(await userCount(tenant)).toBe(count);
    const refused = await events(tenant, 'sso_login_failed');
    expect(
      refused.some((e) => e.details.reason === 'mfa_not_asserted' && e.details.role === 'admin' && String(e.details.amr) === 'pwd'),
    ).toBe(true);
    // The same person with a one-time code at the provider signs in as admin; the event says how.
    idp.loginAs({ sub: 'carol-1', email: `carol@${domain}`, groups: ['admins'], amr: ['pwd', 'otp'] });
    const strong = await browserLogin(ctx, tenant.slug);
    expect(strong.callback.statusCode, strong.callback.body).toBe(200);
    expect((await me(strong.callback.json().accessToken)).user.role).toBe('admin');
    const ok = await events(tenant, 'sso_login');
    expect(ok.some((e) => e.details.subject === 'carol-1' && e.details.multiFactor === true)).toBe(true);
    // A role outside the policy signs in with a password alone.
    idp.loginAs({ sub: 'dave-1', email: `dave@${domain}`, groups: [], amr: ['pwd'] });
    const viewer = await browserLogin(ctx, tenant.slug);
    expect(viewer.callback.statusCode, viewer.callback.body).toBe(200);
    // Policy "everyone": now the viewer needs it too; policy "off": the admin does not.
    await policy('everyone');
    const everyone = await browserLogin(ctx, tenant.slug);
    expectProblem(everyone.callback, 403, 'sso_mfa_required');
    await policy('off');
    idp.loginAs({ sub: 'carol-1', email: `carol@${domain}`, groups: ['admins'], amr: ['pwd'] });
    const off = await browserLogin(ctx, tenant.slug);
    expect(off.callback.statusCode, off.callback.body).toBe(200);
    await policy('admins');
  });

  it('reads a second factor from amr (RFC 8176) or a multi-factor acr', () => {
    expect(authenticationOf({ amr: ['pwd'] }).multiFactor).toBe(false);
    expect(authenticationOf({ amr: ['pwd', 'otp'] }).multiFactor).toBe(true);
    expect(authenticationOf({ amr: ['mfa'] }).multiFactor).toBe(true);
    expect(authenticationOf({ amr: ['hwk'] }).multiFactor).toBe(true);
    expect(authenticationOf({}).multiFactor).toBe(false);
    expect(authenticationOf({ amr: 'otp' }).multiFactor).toBe(false);
    expect(authenticationOf({ acr: 'http://schemas.openid.net/pape/policies/2007/06/multi-factor' }).multiFactor).toBe(true);
    expect(authenticationOf({ acr: 'urn:example:loa:1' }).multiFactor).toBe(false);
  });

  it('T17: a code issued by another provider (configured for another tenant) is refused', async () => {
    const other = await ctx.tenant();
    await configure(other, idp2, { allowedDomains: [domain] });
    // The browser logs in at idp2 for the other tenant, but hands idp2's code to this tenant's state.
    idp2.loginAs({ sub: 'frank-1', email: `frank@${domain}` });
    const foreign = await loginAtProvider(ctx, other.slug);
    idp.loginAs({ sub: 'frank-1', email: `frank@${domain}` });
    const mine = await loginAtProvider(ctx, tenant.slug);
    const mixed = new URL(mine.callbackUrl);
    mixed.searchParams.set('code', foreign.callbackUrl.searchParams.get('code') as string);
    const res = await ctx.app.inject({ method: 'GET', url: `${mixed.pathname}${mixed.search}` });
    expectProblem(res, 401, 'sso_failed');
    expect(
      await ctx.db.withOwner((tx) => tx.query('SELECT 1 FROM sso_identities WHERE subject = $1', ['frank-1'])).then((r) => r.rows),
    ).toEqual([]);
    // Positive control: the other tenant's own flow works, and makes its user in that tenant only.
    const own = await ctx.app.inject({ method: 'GET', url: foreign.callbackPath });
    expect(own.statusCode, own.body).toBe(200);
    expect((await me(own.json().accessToken)).tenant.id).toBe(other.id);
  });
});

describe('SSO enforcement', () => {
  it('refuses password login with sso_required once enforced; owners keep a recorded break-glass login', async () => {
    const tenant = await ctx.tenant();
    const member = await ctx.user(tenant, 'admin');
    await configure(tenant, idp, { enforced: true });
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: member.email, password: PASSWORD },
    });
    expectProblem(res, 403, 'sso_required');
    expect(res.json().loginUrl).toContain(`/v1/auth/sso/${tenant.slug}/start`);
    // A wrong password still answers invalid_credentials: enforcement reveals nothing before the password.
    const wrong = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: member.email, password: 'not the right passphrase at all' },
    });
    expectProblem(wrong, 401, 'invalid_credentials');
    const owner = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: tenant.ownerEmail, password: PASSWORD },
    });
    expect(owner.statusCode, owner.body).toBe(200);
    expect((await events(tenant, 'sso_break_glass_login')).length).toBe(1);
    // Not enforced any more: password login works again.
    await configure(tenant, idp, { enforced: false });
    const back = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: member.email, password: PASSWORD },
    });
    expect(back.statusCode, back.body).toBe(200);
  });

  it('applies the seat limit to just-in-time users', async () => {
    const tenant = await ctx.tenant({ tier: 'custom', customLimits: { seats: 1, ssoAllowed: true } });
    await configure(tenant, idp);
    idp.loginAs({ sub: 'seat-1', email: 'seat@seats.example' });
    const { callback } = await browserLogin(ctx, tenant.slug);
    expectProblem(callback, 429, 'quota_exceeded');
    expect(await userCount(tenant)).toBe(1);
  });
});

describe('T17 against a provider that lies', () => {
  let tenant: TestTenant;

  beforeAll(async () => {
    tenant = await ctx.tenant();
    await configure(tenant, rogue);
  });

  it('positive control: the same provider with honest tokens logs in', async () => {
    rogue.mode = 'good';
    rogue.loginAs({ sub: 'honest-1', email: 'honest@rogue.example' });
    const { callback } = await browserLogin(ctx, tenant.slug);
    expect(callback.statusCode, callback.body).toBe(200);
  });

  const cases: [RogueMode, RegExp][] = [
    ['bad_signature', /signature/i],
    ['wrong_issuer', /iss/],
    ['wrong_audience', /aud/],
    ['wrong_nonce', /nonce/],
    ['expired', /exp|timestamp/],
    ['alg_none', /alg|JWS|signature/i],
  ];
  for (const [mode, why] of cases) {
    it(`refuses an ID token with ${mode} and records it`, async () => {
      rogue.mode = mode;
      rogue.loginAs({ sub: `victim-${mode}`, email: `${mode}@rogue.example` });
      const { callback } = await browserLogin(ctx, tenant.slug);
      expectProblem(callback, 401, 'sso_failed');
      const { rows } = await ctx.db.withOwner((tx) => tx.query('SELECT 1 FROM sso_identities WHERE subject = $1', [`victim-${mode}`]));
      expect(rows).toEqual([]);
      const refused = await events(tenant, 'sso_login_failed');
      const event = refused.find((e) => e.details.reason === 'response_rejected' && why.test(String(e.details.message)));
      expect(event, JSON.stringify(refused.map((e) => e.details))).toBeDefined();
      rogue.mode = 'good';
    });
  }

  it('refuses a provider whose discovery document names another issuer', async () => {
    const other = await ctx.tenant();
    await configure(other, rogue);
    rogue.claimedIssuer = 'http://127.0.0.1:9/elsewhere';
    try {
      const res = await ctx.app.inject({ method: 'GET', url: `/v1/auth/sso/${other.slug}/start` });
      expectProblem(res, 503, 'service_unavailable');
      expect(res.headers.location).toBeUndefined();
    } finally {
      rogue.claimedIssuer = undefined;
    }
  });
});
