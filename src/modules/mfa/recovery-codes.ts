import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const RECOVERY_CODE_COUNT = 10;
/** Crockford's base32 alphabet: no I, L, O or U to misread. 16 symbols × 5 bits = 80 bits per code. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const LENGTH = 16;

/** A new recovery code, shown once: `XXXX-XXXX-XXXX-XXXX`. */
export function newRecoveryCode(): string {
  const bytes = randomBytes(LENGTH);
  // 256 is a multiple of 32: taking the low five bits of a byte is uniform.
  const symbols = [...bytes].map((byte) => ALPHABET[byte & 31]).join('');
  return (symbols.match(/.{4}/g) as string[]).join('-');
}

/** Accepts the code as typed: any case, with or without dashes and spaces. */
export function normalizeRecoveryCode(input: string): string | null {
  const plain = input.toUpperCase().replace(/[\s-]/g, '');
  if (plain.length !== LENGTH) return null;
  for (const char of plain) if (!ALPHABET.includes(char)) return null;
  return plain;
}

function digest(salt: string, normalized: string): Buffer {
  return createHash('sha256').update(`${salt}:${normalized}`).digest();
}

/** `<salt>$<sha256>`: salted, so equal codes of two users do not hash alike. */
export function hashRecoveryCode(code: string): string {
  const normalized = normalizeRecoveryCode(code);
  if (!normalized) throw new Error('not a recovery code');
  const salt = randomBytes(16).toString('base64url');
  return `${salt}$${digest(salt, normalized).toString('base64url')}`;
}

export function recoveryCodeMatches(stored: string, normalized: string): boolean {
  const [salt, hash] = stored.split('$');
  if (!salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = digest(salt, normalized);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
