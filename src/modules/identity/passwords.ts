import { Algorithm, hash, verify } from '@node-rs/argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import { AppError } from '../../platform/errors.ts';

/**
 * Password rules of NIST SP 800-63B-4 §3.1.1.2: at least 15 characters (passwords may be the only
 * factor), no composition rules, no expiry, checked against a blocklist of common passwords and
 * against words of the context. Passwords are NFKC-normalised before hashing, never truncated.
 */
export const MIN_PASSWORD_LENGTH = 15;
/** Upper bound on bytes, checked before hashing so a huge input cannot cost CPU. */
export const MAX_PASSWORD_BYTES = 1024;

const COMMON = new Set<string>((dictionary.passwords as string[]).map((p) => p.toLowerCase()));

export type PasswordContext = { words: string[] };

export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Reasons are phrased for the person choosing the password. Returns undefined when it is fine. */
export function passwordProblem(password: string, context: PasswordContext = { words: [] }): string | undefined {
  const normalized = normalizePassword(password);
  if (Buffer.byteLength(normalized, 'utf8') > MAX_PASSWORD_BYTES) {
    return `must be at most ${MAX_PASSWORD_BYTES} bytes`;
  }
  // Length in code points, so that emoji and accented letters count as one character each.
  if ([...normalized].length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  const lower = normalized.toLowerCase();
  if (COMMON.has(lower)) return 'is a commonly used password';
  // A short unit repeated ("abcabcabc…", "aaaa…") adds no strength however long it gets.
  if (/^(.{1,4})\1+$/su.test(lower)) return 'is a repeated pattern';
  const words = ['palazzo', ...context.words]
    .flatMap((word) => word.toLowerCase().split(/[^\p{L}\p{N}]+/u))
    .filter((word) => word.length >= 4);
  for (const word of words) {
    if (lower.includes(word)) {
      const rest = lower.split(word).join('');
      if ([...rest].length < 10) return `is too close to "${word}", which is part of the account or product name`;
    }
  }
  return undefined;
}

export function assertAcceptablePassword(password: string, context?: PasswordContext): void {
  const problem = passwordProblem(password, context);
  if (problem) throw new AppError('weak_password', `password ${problem}`, { field: 'password' });
}

/** Context words for a tenant user: the tenant's name and slug, and the email's local part and domain. */
export function contextWords(email: string, tenant?: { name: string; slug: string }): PasswordContext {
  const [local = '', domain = ''] = email.split('@');
  return { words: [local, domain.split('.')[0] ?? '', tenant?.name ?? '', tenant?.slug ?? ''] };
}

export type Argon2Params = { memoryCost: number; timeCost: number; parallelism: number };

export function createPasswordHasher(params: Argon2Params) {
  const options = { algorithm: Algorithm.Argon2id, ...params };
  // A real hash of a random value: verifying against it costs what a real verification costs, so
  // an unknown account answers in the same time as a known one (T14).
  const dummy = hash(`dummy-${Math.random()}-${Date.now()}`, options);

  return {
    hash: (password: string) => hash(normalizePassword(password), options),
    /** Verifies; runs a verification of equal cost when there is no stored hash. */
    async verify(stored: string | null | undefined, password: string): Promise<boolean> {
      if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES * 4) return false;
      const target = stored ?? (await dummy);
      try {
        const ok = await verify(target, normalizePassword(password));
        return ok && stored != null;
      } catch {
        return false;
      }
    },
    /** True when the stored hash was made with weaker parameters than the current ones. */
    needsRehash(stored: string): boolean {
      const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(stored);
      if (!match) return true;
      const [, m, t, p] = match.map(Number) as [number, number, number, number];
      return m < params.memoryCost || t < params.timeCost || p < params.parallelism;
    },
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
