import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { decrypt, encrypt } from '../../platform/crypto.ts';

/** RFC 6238 defaults that every authenticator app understands. */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Steps accepted either side of now: T−1, T, T+1 (clock drift of a phone). */
export const TOTP_WINDOW = 1;
/** RFC 4226 §4 asks for at least 128 bits; 160 (the HMAC-SHA1 block) is the common choice. */
export const TOTP_SECRET_BYTES = 20;

export function newTotpSecret(): string {
  // A copy, so the buffer holds exactly these bytes (a Buffer may be a view on a larger pool).
  return new Secret({ buffer: new Uint8Array(randomBytes(TOTP_SECRET_BYTES)).buffer }).base32;
}

/** The seed is bound to its tenant and user: a sealed seed copied to another row does not open. */
const aadOf = (tenantId: string, userId: string) => `totp:${tenantId}:${userId}`;

export function sealTotpSecret(masterKey: Buffer, tenantId: string, userId: string, base32: string): string {
  return encrypt(masterKey, base32, aadOf(tenantId, userId));
}

export function openTotpSecret(masterKey: Buffer, tenantId: string, userId: string, sealed: string): string {
  return decrypt(masterKey, sealed, aadOf(tenantId, userId));
}

function totpOf(base32: string, issuer = 'Palazzo', label = 'account'): TOTP {
  return new TOTP({
    issuer,
    label,
    secret: Secret.fromBase32(base32),
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  });
}

/** The `otpauth://` URI an authenticator app reads from a QR code. */
export function otpauthUri(base32: string, issuer: string, label: string): string {
  return totpOf(base32, issuer, label).toString();
}

export function isTotpShape(code: string): boolean {
  return new RegExp(`^\\d{${TOTP_DIGITS}}$`).test(code);
}

/**
 * The time step a code belongs to, within the window around `now` (server time only: a client never
 * supplies the time), or null. The caller accepts the step only if it is after the last one used.
 */
export function matchTotpStep(base32: string, code: string, now: number): number | null {
  if (!isTotpShape(code)) return null;
  const delta = totpOf(base32).validate({ token: code, timestamp: now, window: TOTP_WINDOW });
  if (delta === null) return null;
  return TOTP.counter({ period: TOTP_PERIOD_SECONDS, timestamp: now }) + delta;
}
