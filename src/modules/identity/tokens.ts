import { errors, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { Database } from '../../platform/db/database.ts';
import { decrypt, encrypt } from '../../platform/crypto.ts';
import { uuidv7 } from '../../platform/ids.ts';

export const TENANT_AUDIENCE = 'palazzo:tenant';
export const OPERATOR_AUDIENCE = 'palazzo:operator';
const ALG = 'ES256';
/** RFC 9068 access-token type: a refresh or ID token cannot be replayed as an access token. */
const TYP = 'at+jwt';

type SigningKey = { kid: string; privateKey: CryptoKey; publicJwk: JWK };

export type AccessClaims = JWTPayload & { tid?: string; sid?: string };

/**
 * Signing keys live in the control plane, their private halves sealed under the master key, so
 * every node signs and verifies with the same keys. Verification uses only these local keys:
 * `jku`, `x5u` and embedded `jwk` headers are never followed.
 */
export async function createTokenService(options: { db: Database; masterKey: Buffer; issuer: string }) {
  const { db, masterKey, issuer } = options;
  const verifyKeys = new Map<string, CryptoKey>();
  let current: SigningKey | undefined;
  let publicJwks: JWK[] = [];

  async function load() {
    const { rows } = await db.withControlPlane((tx) =>
      tx.query<{ kid: string; public_jwk: JWK; private_jwk_sealed: string }>(
        'SELECT kid, public_jwk, private_jwk_sealed FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC',
      ),
    );
    if (rows.length === 0) {
      const kid = uuidv7();
      const { publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true });
      const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
      const sealed = encrypt(masterKey, JSON.stringify(await exportJWK(privateKey)), `signing-key:${kid}`);
      await db.withControlPlane((tx) =>
        tx.query(`INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk_sealed) VALUES ($1, $2, $3, $4)`, [
          kid,
          ALG,
          JSON.stringify(publicJwk),
          sealed,
        ]),
      );
      return load();
    }
    verifyKeys.clear();
    for (const row of rows) {
      verifyKeys.set(row.kid, (await importJWK(row.public_jwk, ALG)) as CryptoKey);
    }
    const newest = rows[0] as (typeof rows)[number];
    const privateJwk = JSON.parse(decrypt(masterKey, newest.private_jwk_sealed, `signing-key:${newest.kid}`)) as JWK;
    current = { kid: newest.kid, privateKey: (await importJWK(privateJwk, ALG)) as CryptoKey, publicJwk: newest.public_jwk };
    publicJwks = rows.map((row) => row.public_jwk);
  }

  await load();

  return {
    reload: load,
    jwks: () => ({ keys: publicJwks }),
    async sign(claims: AccessClaims, audience: string, ttlSeconds: number): Promise<string> {
      if (!current) throw new Error('no signing key');
      return new SignJWT({ ...claims })
        .setProtectedHeader({ alg: ALG, kid: current.kid, typ: TYP })
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setJti(uuidv7())
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(current.privateKey);
    },
    /** Returns the claims, or undefined for any token that is not a valid access token for `audience`. */
    async verify(token: string, audience: string): Promise<AccessClaims | undefined> {
      try {
        const { payload } = await jwtVerify(
          token,
          (header) => {
            const key = header.kid ? verifyKeys.get(header.kid) : undefined;
            if (!key) throw new errors.JWKSNoMatchingKey();
            return key;
          },
          { issuer, audience, algorithms: [ALG], typ: TYP, clockTolerance: 30, requiredClaims: ['sub', 'exp', 'iat'] },
        );
        return payload as AccessClaims;
      } catch {
        return undefined;
      }
    },
  };
}

export type TokenService = Awaited<ReturnType<typeof createTokenService>>;
