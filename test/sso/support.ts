/**
 * Real identity providers on loopback for the SSO tests:
 * - `startOidcProvider`: oidc-provider (a certified OpenID Provider) with its own keys, PKCE
 *   required, and an interaction that logs in whichever account the test names next;
 * - `startRogueProvider`: a small provider built with jose whose ID tokens can be made wrong on
 *   purpose (bad signature, other issuer or audience, wrong nonce, expired, alg none).
 * `browserLogin` plays the browser: it calls the app's start route, follows the provider's
 * redirects with a cookie jar, and hands the provider's redirect back to the app's callback.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import Provider from 'oidc-provider';
import type { TestContext } from '../helpers/harness.ts';

export type Account = {
  sub: string;
  email: string;
  name?: string;
  email_verified?: boolean;
  groups?: string[];
  /** How the provider says it authenticated the account (RFC 8176); default: password and a one-time code. */
  amr?: string[];
  acr?: string;
};

export type TestProvider = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The account the next interaction logs in. */
  loginAs(account: Account): void;
  /** Authorization requests the provider received (to inspect PKCE parameters). */
  authorizationRequests: URLSearchParams[];
  close(): Promise<void>;
};

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function signingKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' } as JWK;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } as JWK;
  return { privateKey, publicJwk, privateJwk };
}

export async function startOidcProvider(options: { redirectUri: string }): Promise<TestProvider> {
  const accounts = new Map<string, Account>();
  let next: Account | undefined;
  const authorizationRequests: URLSearchParams[] = [];
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = `palazzo-${randomUUID()}`;
  const clientSecret = `secret-${randomUUID()}`;
  const key = await signingKey(`idp-${port}`);

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: [key.privateJwk] },
    cookies: { keys: [randomUUID()] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false }, claimsParameter: { enabled: true } },
    // Scope claims in the ID token itself (the relying party reads them there).
    conformIdTokenClaims: false,
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx: unknown, sub: string) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: account.email,
            email_verified: account.email_verified ?? true,
            name: account.name ?? account.email,
            groups: account.groups ?? [],
          };
        },
      };
    },
  } as never);
  // Silence the provider's own error logging of refused requests (they are what the tests send).
  provider.on('server_error', () => {});

  const callback = provider.callback();
  server.on('request', async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/auth' && req.method === 'GET') authorizationRequests.push(url.searchParams);
    if (!url.pathname.startsWith('/interaction/')) {
      callback(req, res);
      return;
    }
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        if (!next) throw new Error('the test named no account to log in');
        accounts.set(next.sub, next);
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: next.sub, amr: next.amr ?? ['pwd', 'otp'], ...(next.acr ? { acr: next.acr } : {}) } },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      // Consent: grant what the client asked for (a first-party client).
      const grant = new provider.Grant({ accountId: details.session?.accountId as string, clientId: details.params.client_id as string });
      grant.addOIDCScope(String(details.params.scope));
      const promptDetails = details.prompt.details as { missingOIDCClaims?: string[] };
      if (promptDetails.missingOIDCClaims) grant.addOIDCClaims(promptDetails.missingOIDCClaims);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    } catch (error) {
      res.statusCode = 500;
      res.end(String(error));
    }
  });

  return {
    issuer,
    clientId,
    clientSecret,
    authorizationRequests,
    loginAs(account) {
      next = account;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type RogueMode = 'good' | 'bad_signature' | 'wrong_issuer' | 'wrong_audience' | 'wrong_nonce' | 'expired' | 'alg_none';

export type RogueProvider = TestProvider & {
  mode: RogueMode;
  /** The issuer its discovery document claims (defaults to its own URL). */
  claimedIssuer: string | undefined;
};

/**
 * A provider whose ID tokens are wrong on demand. With mode `good` it is a working provider (the
 * positive control that makes every refusal meaningful).
 */
export async function startRogueProvider(): Promise<RogueProvider> {
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const key = await signingKey(`rogue-${port}`);
  const otherKey = await signingKey(`rogue-${port}`); // same kid, other key: a forged signature
  const codes = new Map<string, { nonce: string; account: Account }>();
  const authorizationRequests: URLSearchParams[] = [];
  let next: Account | undefined;
  const rogue: RogueProvider = {
    issuer,
    clientId: `rogue-client-${port}`,
    clientSecret: 'rogue-secret',
    mode: 'good',
    claimedIssuer: undefined,
    authorizationRequests,
    loginAs(account) {
      next = account;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };

  async function idToken(entry: { nonce: string; account: Account }): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      email: entry.account.email,
      email_verified: true,
      name: entry.account.name ?? entry.account.email,
      groups: entry.account.groups ?? [],
      nonce: rogue.mode === 'wrong_nonce' ? 'not-the-nonce' : entry.nonce,
    };
    const iss = rogue.mode === 'wrong_issuer' ? 'http://127.0.0.1:1' : issuer;
    const aud = rogue.mode === 'wrong_audience' ? 'someone-else' : rogue.clientId;
    const exp = rogue.mode === 'expired' ? now - 3600 : now + 300;
    if (rogue.mode === 'alg_none') {
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, iss, aud, sub: entry.account.sub, iat: now, exp })}.`;
    }
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key.publicJwk.kid as string })
      .setIssuer(iss)
      .setAudience(aud)
      .setSubject(entry.account.sub)
      .setIssuedAt(rogue.mode === 'expired' ? now - 7200 : now)
      .setExpirationTime(exp)
      .sign(rogue.mode === 'bad_signature' ? otherKey.privateKey : key.privateKey);
  }

  server.on('request', async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    const json = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      json(200, {
        issuer: rogue.claimedIssuer ?? issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_post'],
      });
      return;
    }
    if (url.pathname === '/jwks') return json(200, { keys: [key.publicJwk] });
    if (url.pathname === '/auth') {
      authorizationRequests.push(url.searchParams);
      if (!next) return json(400, { error: 'no account' });
      const code = randomUUID();
      codes.set(code, { nonce: url.searchParams.get('nonce') ?? '', account: next });
      const back = new URL(url.searchParams.get('redirect_uri') as string);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.href });
      res.end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const entry = codes.get(form.get('code') ?? '');
      if (!entry || form.get('client_id') !== rogue.clientId) return json(400, { error: 'invalid_grant' });
      codes.delete(form.get('code') as string);
      return json(200, { access_token: randomUUID(), token_type: 'Bearer', expires_in: 300, id_token: await idToken(entry) });
    }
    json(404, { error: 'not found' });
  });
  return rogue;
}

/** A cookie jar for one origin, enough for the provider's session and interaction cookies. */
function cookieJar() {
  const cookies = new Map<string, string>();
  return {
    store(response: Response) {
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = (pair as string).indexOf('=');
        cookies.set((pair as string).slice(0, eq).trim(), (pair as string).slice(eq + 1));
      }
    },
    header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
  };
}

export type ProviderRedirect = { callbackPath: string; callbackUrl: URL };

/**
 * Starts a login at the app and follows the provider until it redirects back to the callback;
 * returns that redirect without calling the app (so a test may tamper with it first).
 */
export async function loginAtProvider(
  ctx: TestContext,
  slug: string,
  options: { returnUrl?: string } = {},
): Promise<ProviderRedirect & { authorizationUrl: URL }> {
  const query = options.returnUrl ? `?returnUrl=${encodeURIComponent(options.returnUrl)}` : '';
  const start = await ctx.app.inject({ method: 'GET', url: `/v1/auth/sso/${slug}/start${query}` });
  if (start.statusCode !== 302) throw new Error(`start answered ${start.statusCode}: ${start.body}`);
  const authorizationUrl = new URL(start.headers.location as string);
  const jar = cookieJar();
  const callbackPrefix = ctx.palazzo.services.sso.redirectUri;
  let location = authorizationUrl.href;
  for (let hop = 0; hop < 10; hop++) {
    if (location.startsWith(callbackPrefix)) {
      const callbackUrl = new URL(location);
      return { authorizationUrl, callbackUrl, callbackPath: `${callbackUrl.pathname}${callbackUrl.search}` };
    }
    const response = await fetch(location, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.store(response);
    const next = response.headers.get('location');
    if (!next) throw new Error(`the provider answered ${response.status} without a redirect: ${await response.text()}`);
    location = new URL(next, location).href;
  }
  throw new Error('too many redirects');
}

/** The whole flow: provider login, then the app's callback. */
export async function browserLogin(ctx: TestContext, slug: string, options: { returnUrl?: string } = {}) {
  const redirect = await loginAtProvider(ctx, slug, options);
  const callback = await ctx.app.inject({ method: 'GET', url: redirect.callbackPath });
  return { ...redirect, callback };
}
