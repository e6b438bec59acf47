import { randomToken, sha256 } from './crypto.ts';
import { isUuid } from './ids.ts';

/**
 * Opaque credentials (API keys, refresh tokens) carry their tenant in clear and 256 random bits:
 * `<prefix>_<tenant id without dashes>_<secret>`. The tenant part lets the server open the right
 * tenant transaction without any cross-tenant lookup; only the SHA-256 of the whole value is stored.
 * (A fast hash is right here: the secret has 256 bits of entropy, ASVS 6.5.2.)
 */
export function mintSecret(prefix: string, tenantId: string): { value: string; hash: string } {
  const value = `${prefix}_${tenantId.replaceAll('-', '')}_${randomToken(32)}`;
  return { value, hash: sha256(value) };
}

const SHAPE = /^([a-z]{2,8})_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export function parseSecret(prefix: string, value: string): { tenantId: string; hash: string } | undefined {
  const match = SHAPE.exec(value);
  if (!match || match[1] !== prefix) return undefined;
  const hex = match[2] as string;
  const tenantId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  if (!isUuid(tenantId)) return undefined;
  return { tenantId, hash: sha256(value) };
}
