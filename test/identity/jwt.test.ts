/**
 * T18: the access-token verifier (RFC 8725, RFC 9068, ASVS 9.1-9.2). A table of forged tokens, each
 * must get 401 on GET /v1/me; one control token minted the same way gets 200, so the forgeries fail
 * for the reason under test and not because the minting is wrong. Header URLs (jku, x5u) point at
 * a loopback server that must receive no request.
 */
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decrypt } from '../../src/platform/crypto.ts';
import type { TestContext, TestTenant } from '../helpers/harness.ts';
import { bearer, sharedKeyContexts } from './support.ts';

type Json = Record<string, unknown>;

const b64 = (value: Json | string) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function es256(header: Json, payload: Json, key: KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function hs256(header: Json, payload: Json, secret: string | Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const nodes = sharedKeyContexts();
let ctx: TestContext;
let tenant: TestTenant;
let other: TestTenant;
let realKid: string;
let realKey: KeyObject;
let publicJwk: JWK;
let baseClaims: Json;
const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const attackerKid = `attacker-${randomUUID()}`;
let loopback: Server;
let loopbackUrl: string;
let loopbackHits = 0;

beforeAll(async () => {
  ctx = await nodes.first();
  tenant = await ctx.tenant();
  other = await ctx.tenant();
  realKid = decodeProtectedHeader(tenant.token).kid as string;
  const { rows } = await ctx.db.withOwner((tx) =>
    tx.query<{ public_jwk: JWK; private_jwk_sealed: string }>('SELECT public_jwk, private_jwk_sealed FROM signing_keys WHERE kid = $1', [
      realKid,
    ]),
  );
  const row = rows[0];
  if (!row) throw new Error('signing key of the issued token not found');
  publicJwk = row.public_jwk;
  const privateJwk = JSON.parse(decrypt(nodes.masterKey(), row.private_jwk_sealed, `signing-key:${realKid}`)) as JWK;
  realKey = createPrivateKey({ key: privateJwk as never, format: 'jwk' });
  const issued = decodeJwt(tenant.token);
  baseClaims = { sub: issued.sub, tid: issued.tid, sid: issued.sid, iss: issued.iss, aud: issued.aud };

  const attackerJwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: attackerKid, alg: 'ES256', use: 'sig' };
  loopback = createServer((_req, res) => {
    loopbackHits += 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [attackerJwk, { ...attackerJwk, kid: realKid }] }));
  });
  await new Promise<void>((resolve) => loopback.listen(0, '127.0.0.1', resolve));
  loopbackUrl = `http://127.0.0.1:${(loopback.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (loopback ? loopback.close(() => resolve()) : resolve()));
  await ctx?.close();
});

const now = () => Math.floor(Date.now() / 1000);
const header = (extra: Json = {}): Json => ({ alg: 'ES256', typ: 'at+jwt', kid: realKid, ...extra });
const claims = (extra: Json = {}): Json => ({ ...baseClaims, iat: now(), exp: now() + 600, jti: randomUUID(), ...extra });
const without = (object: Json, key: string): Json => Object.fromEntries(Object.entries(object).filter(([k]) => k !== key));

async function me(token: string) {
  return ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
}

describe('access-token verifier', () => {
  it('accepts the control token minted with the real key and claims', async () => {
    const res = await me(es256(header(), claims(), realKey));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ kind: 'user', tenant: { id: tenant.id } });
    // and the token the server issued itself
    expect((await me(tenant.token)).statusCode).toBe(200);
  });

  const forged: Array<[string, () => string]> = [
    ['alg none, no signature', () => `${b64({ alg: 'none', typ: 'at+jwt', kid: realKid })}.${b64(claims())}.`],
    ['alg "None", no signature', () => `${b64({ alg: 'None', typ: 'at+jwt' })}.${b64(claims())}.`],
    [
      'alg none carrying a real signature',
      () => {
        const valid = es256(header(), claims(), realKey).split('.');
        return `${b64({ alg: 'none', typ: 'at+jwt', kid: realKid })}.${valid[1]}.${valid[2]}`;
      },
    ],
    ['HS256 keyed with our public JWK (algorithm confusion)', () => hs256(header({ alg: 'HS256' }), claims(), JSON.stringify(publicJwk))],
    [
      'HS256 keyed with our public key PEM (algorithm confusion)',
      () =>
        hs256(
          header({ alg: 'HS256' }),
          claims(),
          createPublicKey({ key: publicJwk as never, format: 'jwk' })
            .export({ type: 'spki', format: 'pem' })
            .toString(),
        ),
    ],
    ['HS256 keyed with the x coordinate', () => hs256(header({ alg: 'HS256' }), claims(), Buffer.from(publicJwk.x as string, 'base64url'))],
    ['ES384 header over an ES256 signature', () => es256(header({ alg: 'ES384' }), claims(), realKey)],
    ['unknown kid, real key', () => es256(header({ kid: randomUUID() }), claims(), realKey)],
    ['no kid, real key', () => es256(without(header(), 'kid'), claims(), realKey)],
    ['real kid, attacker key', () => es256(header(), claims(), attacker.privateKey)],
    [
      'jku to a loopback JWKS, attacker kid',
      () => es256(header({ kid: attackerKid, jku: `${loopbackUrl}/jwks.json` }), claims(), attacker.privateKey),
    ],
    ['jku to a loopback JWKS, real kid', () => es256(header({ jku: `${loopbackUrl}/jwks.json` }), claims(), attacker.privateKey)],
    ['x5u to a loopback URL', () => es256(header({ kid: attackerKid, x5u: `${loopbackUrl}/cert.pem` }), claims(), attacker.privateKey)],
    [
      'embedded jwk of the attacker',
      () => es256(header({ kid: attackerKid, jwk: attacker.publicKey.export({ format: 'jwk' }) }), claims(), attacker.privateKey),
    ],
    ['exp two minutes ago', () => es256(header(), claims({ iat: now() - 1000, exp: now() - 120 }), realKey)],
    ['no exp', () => es256(header(), without(claims(), 'exp'), realKey)],
    ['nbf two minutes ahead (beyond the 30 s tolerance)', () => es256(header(), claims({ nbf: now() + 120 }), realKey)],
    ['aud of another service', () => es256(header(), claims({ aud: 'someone-else' }), realKey)],
    ['aud missing', () => es256(header(), without(claims(), 'aud'), realKey)],
    ['aud operator on a tenant route', () => es256(header(), claims({ aud: 'palazzo:operator' }), realKey)],
    ['iss of another issuer', () => es256(header(), claims({ iss: 'https://evil.example' }), realKey)],
    ['iss missing', () => es256(header(), without(claims(), 'iss'), realKey)],
    ['typ JWT', () => es256(header({ typ: 'JWT' }), claims(), realKey)],
    ['typ missing', () => es256(without(header(), 'typ'), claims(), realKey)],
    ['typ of a refresh token', () => es256(header({ typ: 'rt+jwt' }), claims(), realKey)],
    [
      'tampered payload: one byte of jti changed',
      () => {
        const [h, p, s] = es256(header(), claims(), realKey).split('.') as [string, string, string];
        const json = Buffer.from(p, 'base64url').toString('utf8');
        const at = json.indexOf('"jti":"') + 8;
        const changed = `${json.slice(0, at)}${json[at] === 'a' ? 'b' : 'a'}${json.slice(at + 1)}`;
        expect(changed).not.toBe(json);
        return `${h}.${Buffer.from(changed).toString('base64url')}.${s}`;
      },
    ],
    [
      'tampered payload: tid switched to another tenant',
      () => {
        const [h, , s] = tenant.token.split('.') as [string, string, string];
        return `${h}.${b64({ ...(decodeJwt(tenant.token) as Json), tid: other.id })}.${s}`;
      },
    ],
    [
      'tampered signature: one bit flipped',
      () => {
        const [h, p, s] = es256(header(), claims(), realKey).split('.') as [string, string, string];
        const bytes = Buffer.from(s, 'base64url');
        bytes[10] = (bytes[10] as number) ^ 0x01;
        return `${h}.${p}.${bytes.toString('base64url')}`;
      },
    ],
    ['signature stripped', () => `${es256(header(), claims(), realKey).split('.').slice(0, 2).join('.')}.`],
    ['correctly signed, but tid of another tenant for this session', () => es256(header(), claims({ tid: other.id }), realKey)],
    ['correctly signed, but sub of another user for this session', () => es256(header(), claims({ sub: randomUUID() }), realKey)],
    ['the operator token', () => ctx.operatorToken],
    ['the refresh token presented as an access token', () => tenant.refreshToken],
  ];

  it.each(forged)('refuses: %s', async (_label, make) => {
    const res = await me(make());
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('invalid_token');
  });

  it('refuses a tenant token on an operator route, and accepts the operator token there', async () => {
    const tenantOnOperator = await ctx.app.inject({ method: 'GET', url: '/v1/operator/tenants', headers: tenant.auth });
    expect(tenantOnOperator.statusCode).toBe(401);
    const minted = await ctx.app.inject({
      method: 'GET',
      url: '/v1/operator/tenants',
      headers: bearer(es256(header(), claims(), realKey)),
    });
    expect(minted.statusCode).toBe(401);
    const control = await ctx.app.inject({ method: 'GET', url: '/v1/operator/tenants', headers: ctx.operatorAuth });
    expect(control.statusCode).toBe(200);
  });

  it('never fetched a key from a header URL', async () => {
    expect(loopbackHits).toBe(0);
    // The loopback server was reachable all along: a zero is not an unreachable port.
    const res = await fetch(`${loopbackUrl}/jwks.json`);
    expect(res.status).toBe(200);
    expect(loopbackHits).toBe(1);
  });

  it('publishes only public key material in the JWKS', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    const keys = res.json().keys as JWK[];
    expect(keys.map((k) => k.kid)).toContain(realKid);
    for (const key of keys) {
      expect(key).not.toHaveProperty('d');
      expect(key.kty).toBe('EC');
    }
  });
});
